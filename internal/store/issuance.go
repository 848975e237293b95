package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// StartIssuance makes the two writes that must precede signing a
// certificate for order orderID in one transaction: the order moves from
// pending to processing (RFC 8555 §7.4; the conditional UPDATE lets one of
// several concurrent finalizes through) and serial (lower-case hex) is
// reserved, so that it can never be used again even if the process dies
// right after signing. ErrStale when the order is not pending; ErrConflict
// when the serial was reserved before. The spends (nil ones skipped) are
// made last, in the same transaction (ErrRateLimited when one is refused;
// see spendRates). On any error nothing is written.
func (s *Store) StartIssuance(ctx context.Context, orderID, serial string, now time.Time, spends ...*RateSpend) error {
	return s.StartIssuanceKey(ctx, orderID, serial, nil, now, spends...)
}

// StartIssuanceKey is StartIssuance that first, in the same transaction,
// refuses a certificate key that is blocked, and starts nothing for an
// order whose account is no longer valid (ErrAccountNotValid: deactivated
// by another node, whose account cache the deactivating node cannot
// clear, or by the CLI; RFC 8555 §7.3.6). It first refuses a key that is
// blocked: keyHash (KeyHash of the CSR's
// public key; nil checks nothing) names a BlockedKey, then it returns a
// *KeyBlockedError and changes nothing. The check costs the finalize no
// read of its own (on SQLite no turn of the writer goroutine).
func (s *Store) StartIssuanceKey(ctx context.Context, orderID, serial string, keyHash []byte, now time.Time, spends ...*RateSpend) error {
	return s.StartIssuanceBy(ctx, orderID, serial, "", keyHash, now, spends...)
}

// StartIssuanceBy is StartIssuanceKey that records node (the process that
// signs the certificate; "" for none) with the order, as AbandonedOrders
// reads it: once node's lease (RenewNodeLease) runs out, every node's
// sweep fails the order if it is still processing.
func (s *Store) StartIssuanceBy(ctx context.Context, orderID, serial, node string, keyHash []byte, now time.Time, spends ...*RateSpend) error {
	return s.pointTx(ctx, func(tx txConn) error {
		if keyHash != nil {
			b, err := blockedKeyIn(ctx, tx, keyHash)
			switch {
			case err == nil:
				return &KeyBlockedError{Key: b}
			case !errors.Is(err, ErrNotFound):
				return err
			}
		}
		if err := startProcessing(ctx, tx, orderID, serial, node, now); err != nil {
			return err
		}
		return s.spendRates(ctx, tx, spends)
	})
}

// startProcessing moves order orderID from pending to processing, while
// its account is valid, recording node, and reserves serial, within tx
// (StartIssuanceBy).
// On PostgreSQL both in one statement (one round trip). The order's status
// is tested by its primary key only (see the comment after authzPendingAt in authz.go).
func startProcessing(ctx context.Context, tx txConn, orderID, serial, node string, now time.Time) error {
	const order = `UPDATE orders SET status = 'processing', error = NULL, updated_at = ?, processing_node = ? WHERE id = ? AND (status = 'pending') IS TRUE
			AND EXISTS (SELECT 1 FROM accounts WHERE accounts.id = orders.account_id AND accounts.status = 'valid')`
	const reserve = `INSERT INTO serials (serial, reserved_at) VALUES (?, ?)`
	serialErr := func(err error) error {
		if isUniqueViolation(err) {
			return fmt.Errorf("serial %s: %w", serial, ErrConflict)
		}
		return fmt.Errorf("reserve serial: %w", err)
	}
	var res sql.Result
	var err error
	if tx.postgres() {
		// The command's row count is the main statement's: the order's.
		res, err = tx.ExecContext(ctx, `WITH s AS (`+reserve+`) `+order, serial, ts(now), ts(now), node, orderID)
		if err != nil && isUniqueViolation(err) {
			return serialErr(err)
		}
	} else {
		res, err = tx.ExecContext(ctx, order, ts(now), node, orderID)
	}
	if err := checkOne(res, err, "start issuance"); err != nil {
		if errors.Is(err, ErrStale) {
			return orderAccountNotValid(ctx, tx, orderID, err)
		}
		return err
	}
	if tx.postgres() {
		return nil
	}
	if _, err := tx.ExecContext(ctx, reserve, serial, ts(now)); err != nil {
		return serialErr(err)
	}
	return nil
}

// orderAccountNotValid tells why the conditional UPDATE of order orderID
// of StartIssuanceKey or RequestApprovalSpend changed nothing: ErrAccountNotValid when its account is
// not valid (the deactivation also made a pending order invalid:
// cancelPending), else stale (the order is missing or not pending). Read
// only on that failure path.
func orderAccountNotValid(ctx context.Context, tx txConn, orderID string, stale error) error {
	var account string
	err := tx.QueryRowContext(ctx, `SELECT a.status FROM orders o JOIN accounts a ON a.id = o.account_id WHERE o.id = ?`, orderID).Scan(&account)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return stale
	case err != nil:
		return fmt.Errorf("account of order %s: %w", orderID, err)
	case account != acme.StatusValid:
		return fmt.Errorf("account of order %s is %s: %w", orderID, account, ErrAccountNotValid)
	}
	return stale
}

// KeyBlockedError is StartIssuanceKey's refusal of a blocked key, or
// FinishOrder's report that the key of the certificate it stored was
// blocked after StartIssuanceKey checked it.
type KeyBlockedError struct {
	Key *BlockedKey // the blocked key
	// Serial is the certificate FinishOrder stored revoked for
	// keyCompromise; "" from StartIssuanceKey.
	Serial string
	// Problem is the badPublicKey problem FinishOrder stored as the
	// order's error; nil from StartIssuanceKey.
	Problem *acme.Problem
}

// Error names the serial of the certificate whose keyCompromise
// revocation blocked the key.
func (e *KeyBlockedError) Error() string {
	return fmt.Sprintf("key blocked by the revocation of certificate %s", e.Key.Serial)
}
