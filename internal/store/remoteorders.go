package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RemoteOrder is the order at an upstream CA (issuer.Remote) that issues
// a local order's certificate, recorded before the upstream is asked to
// issue it (RFC 8555 §7.4 finalize), so that a certificate the upstream
// issued while certgate died is found again (RecordRemoteOrder).
type RemoteOrder struct {
	OrderID         string    // the local order
	Issuer          string    // the issuer's configured name
	UpstreamOrder   string    // the upstream order's URL (RFC 8555 §7.1.3)
	UpstreamAccount string    // the upstream account's URL (the JWS kid, §6.2)
	CSR             []byte    // the client's CSR, DER
	CreatedAt       time.Time // when it was recorded, UTC
	// Claims counts the recoveries started (ClaimRemoteOrder).
	Claims int64
}

// RecordRemoteOrder records ro durably against its local order, which must
// be processing (ErrStale otherwise: it was failed meanwhile, and the
// upstream must not be asked to issue). A record of the same order is
// replaced (an approved order issued again).
func (s *Store) RecordRemoteOrder(ctx context.Context, ro *RemoteOrder) error {
	res, err := s.exec(ctx, `INSERT INTO remote_orders (order_id, issuer, upstream_order, upstream_account, csr, created_at, claims)
		SELECT ?, ?, ?, ?, ?, ?, 0 WHERE EXISTS (SELECT 1 FROM orders WHERE id = ? AND status = 'processing')
		ON CONFLICT (order_id) DO UPDATE SET issuer = excluded.issuer, upstream_order = excluded.upstream_order,
			upstream_account = excluded.upstream_account, csr = excluded.csr, created_at = excluded.created_at, claims = 0`,
		ro.OrderID, ro.Issuer, ro.UpstreamOrder, ro.UpstreamAccount, ro.CSR, ts(ro.CreatedAt), ro.OrderID)
	return checkOne(res, err, "record remote order")
}

// GetRemoteOrder returns the upstream order recorded for local order
// orderID; ErrNotFound when there is none (not issued by an upstream, or
// recorded by a version before this one).
func (s *Store) GetRemoteOrder(ctx context.Context, orderID string) (*RemoteOrder, error) {
	ro := &RemoteOrder{OrderID: orderID}
	var created int64
	err := s.hot(ctx, func(q querier) error {
		return q.QueryRowContext(ctx, `SELECT issuer, upstream_order, upstream_account, csr, created_at, claims FROM remote_orders WHERE order_id = ?`,
			orderID).Scan(&ro.Issuer, &ro.UpstreamOrder, &ro.UpstreamAccount, &ro.CSR, &created, &ro.Claims)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("remote order of %s: %w", orderID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("remote order of %s: %w", orderID, err)
	}
	ro.CreatedAt = fromTS(created)
	return ro, nil
}

// ClaimRemoteOrder makes node (this process; "" for none) the one that
// recovers the upstream order of local order ro.OrderID, when the order
// is still processing and still stuck (last updated before stuckBefore,
// as ProcessingOrders reads it; zero for none) or abandoned at now (its
// node, not node, holds no lease, as AbandonedOrders reads it): it counts
// a claim when the count is still ro.Claims (as GetRemoteOrder read it)
// and moves the order to node with updated_at now, so that neither
// condition holds again while node lives (for StuckAfter). ErrStale when
// another process claimed it first or the order is no longer processing,
// stuck or abandoned: across a cluster, one node recovers an order at a
// time, even when another's sweep read it as stuck before the claim.
func (s *Store) ClaimRemoteOrder(ctx context.Context, ro *RemoteOrder, node string, stuckBefore, now time.Time) error {
	return s.tx(ctx, func(tx txConn) error {
		res, err := tx.ExecContext(ctx, `UPDATE remote_orders SET claims = claims + 1 WHERE order_id = ? AND claims = ?`, ro.OrderID, ro.Claims)
		if err := checkOne(res, err, "claim remote order"); err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx, `UPDATE orders SET processing_node = ?, updated_at = ? WHERE id = ? AND status = 'processing'
			AND (updated_at < ? OR (processing_node <> '' AND processing_node <> ?
				AND NOT EXISTS (SELECT 1 FROM node_leases n WHERE n.node = orders.processing_node AND n.lease_until >= ?)))`,
			node, ts(now), ro.OrderID, ts(stuckBefore), node, ts(now))
		return checkOne(res, err, "claim remote order")
	})
}
