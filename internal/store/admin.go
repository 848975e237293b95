package store

import (
	"context"
	"fmt"
	"time"
)

// DeactivateAccount moves account id from valid to deactivated (RFC 8555
// §7.3.6, done by an administrator), cancels its pending operations (its
// pending authorizations deactivated, its pending and ready orders invalid,
// as UpdateAccount does: cancelPending) and appends ev (may be nil) in the
// same transaction. ErrStale when the account is not valid. ev's Replaced hook
// gets the *Account as it was before (ErrNotFound when there is none).
func (s *Store) DeactivateAccount(ctx context.Context, id string, ev *AuditAppend) error {
	return s.tx(ctx, func(tx txConn) error {
		if err := s.lockAccount(ctx, tx, id); err != nil {
			return err
		}
		if err := readReplaced(ctx, s, tx, []*AuditAppend{ev}, scanAccount, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id); err != nil {
			return fmt.Errorf("account %s: %w", id, err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET status = 'deactivated' WHERE id = ? AND status = 'valid'`, id)
		if err := checkOne(res, err, "deactivate account"); err != nil {
			return err
		}
		if err := cancelPending(ctx, tx, id, time.Now()); err != nil {
			return err
		}
		return appendAudit(ctx, tx, ev)
	})
}

// ListOrders returns up to limit orders of accountID created after the
// cursor position (afterCreated, afterID), oldest first (keyset
// pagination); a zero cursor starts at the oldest.
func (s *Store) ListOrders(ctx context.Context, accountID string, afterCreated time.Time, afterID string, limit int) ([]*Order, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+orderCols+` FROM orders
		WHERE account_id = ? AND (created_at > ? OR (created_at = ? AND id > ?)) ORDER BY created_at, id LIMIT ?`,
		accountID, ts(afterCreated), ts(afterCreated), afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	defer rows.Close()
	var out []*Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}
