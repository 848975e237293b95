package store

import (
	"context"
	"fmt"
)

// CreateReplacementOrder is CreateOrder for an order that replaces the
// certificate with serial (RFC 9773 §5, o.Replaces holding the client's
// CertID): in the same transaction it claims the certificate for o by
// setting its replaced_by to o.ID, only while replaced_by is still
// prevClaim ("" for unclaimed; otherwise the ID of an earlier replacing
// order the caller found invalid). It is a compare-and-swap, so of two
// concurrent replacements at most one succeeds. ErrStale when the
// certificate is missing or claimed by another order; nothing is stored
// then. The spends are made last, as in CreateOrder.
func (s *Store) CreateReplacementOrder(ctx context.Context, o *Order, newAuthzs []*Authorization, serial, prevClaim string, spends ...*RateSpend) error {
	return s.tx(ctx, func(tx txConn) error {
		if err := s.insertNewAuthzs(ctx, tx, o.AccountID, newAuthzs); err != nil {
			return err
		}
		if err := s.insertOrder(ctx, tx, o); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE certificates SET replaced_by = ?, replaced_at = 0 WHERE serial = ? AND COALESCE(replaced_by, '') = ?`,
			o.ID, serial, prevClaim)
		if err := checkOne(res, err, "claim replaced certificate"); err != nil {
			return fmt.Errorf("certificate %s: %w", serial, err)
		}
		return s.spendRates(ctx, tx, spends)
	})
}
