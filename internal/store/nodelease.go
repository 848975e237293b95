package store

import (
	"context"
	"fmt"
	"time"
)

// RenewNodeLease records that node (a serve process's random ID) is alive
// until until: the lease of the orders it moves to processing
// (StartIssuanceBy, SetOrderProcessing). A node renews it well before it
// runs out; once it has, AbandonedOrders names the node's processing
// orders to every node's sweep.
func (s *Store) RenewNodeLease(ctx context.Context, node string, until time.Time) error {
	if node == "" {
		return fmt.Errorf("renew node lease: empty node ID")
	}
	_, err := s.lazyExec(ctx, `INSERT INTO node_leases (node, lease_until) VALUES (?, ?)
		ON CONFLICT (node) DO UPDATE SET lease_until = excluded.lease_until`, node, ts(until))
	if err != nil {
		return fmt.Errorf("renew node lease: %w", err)
	}
	return nil
}

// PruneNodeLeases deletes the leases that ran out before before (nodes
// long gone) and returns how many. An order of a node without a lease row
// counts as abandoned, as one whose lease ran out.
func (s *Store) PruneNodeLeases(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.lazyExec(ctx, `DELETE FROM node_leases WHERE lease_until < ?`, ts(before))
	if err != nil {
		return 0, fmt.Errorf("prune node leases: %w", err)
	}
	return res.RowsAffected()
}

// AbandonedOrders returns the IDs of the processing orders whose node
// (recorded by StartIssuanceBy or SetOrderProcessing) holds no lease at
// now: the node died (or stopped) while it issued them. Orders without a
// node (empty: moved to processing by a version before node leases, or
// by a process without one) are not among them (see ProcessingOrders),
// nor those of node self (the caller, alive whatever its lease row says).
// The processing orders are read by the partial index orders_processing.
func (s *Store) AbandonedOrders(ctx context.Context, self string, now time.Time) ([]string, error) {
	return s.ids(ctx, abandonedOrdersSQL, ts(now), self, ts(now))
}

// abandonedOrdersSQL: updated_at < ? (now) bounds the range of the
// partial index orders_processing, as processingOrdersSQL does.
const abandonedOrdersSQL = `SELECT id FROM orders WHERE status = 'processing' AND updated_at < ? AND processing_node <> '' AND processing_node <> ?
	AND NOT EXISTS (SELECT 1 FROM node_leases n WHERE n.node = orders.processing_node AND n.lease_until >= ?)` // orders_processing

// SetOrderProcessing moves order id from stored status from to
// processing, clearing its error and recording node (the process that
// issues it; "" for none) as AbandonedOrders reads it. ErrStale when its
// status is not from.
func (s *Store) SetOrderProcessing(ctx context.Context, id, from, node string, now time.Time) error {
	res, err := s.pointExec(ctx, `UPDATE orders SET status = 'processing', error = NULL, updated_at = ?, processing_node = ? WHERE id = ? AND status = ?`,
		ts(now), node, id, from)
	return checkOne(res, err, "set order processing")
}
