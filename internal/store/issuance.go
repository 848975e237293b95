package store

import (
	"context"
	"fmt"
	"time"
)

// StartIssuance makes the two writes that must precede signing a
// certificate for order orderID in one transaction: the order moves from
// pending to processing (RFC 8555 §7.4; the conditional UPDATE lets one of
// several concurrent finalizes through) and serial (lower-case hex) is
// reserved, so that it can never be used again even if the process dies
// right after signing. ErrStale when the order is not pending; ErrConflict
// when the serial was reserved before. The spends (nil ones skipped) are
// made first, in the same transaction (ErrRateLimited when one is
// refused). On any error nothing is written.
func (s *Store) StartIssuance(ctx context.Context, orderID, serial string, now time.Time, spends ...*RateSpend) error {
	return s.pointTx(ctx, func(tx txConn) error {
		if err := s.spendRates(ctx, tx, spends); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE orders SET status = 'processing', error = NULL, updated_at = ? WHERE id = ? AND status = 'pending'`,
			ts(now), orderID)
		if err := checkOne(res, err, "start issuance"); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO serials (serial, reserved_at) VALUES (?, ?)`, serial, ts(now))
		if isUniqueViolation(err) {
			return fmt.Errorf("serial %s: %w", serial, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("reserve serial: %w", err)
		}
		return nil
	})
}
