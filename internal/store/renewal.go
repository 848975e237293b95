package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SetRenewalWindow stores [start, end] as the suggested renewal window
// (RFC 9773 §4.2) of the certificate with serial (lower-case hex),
// replacing any earlier one; renewalInfo then serves it instead of the
// default window (see ra.RenewalWindow). end must be after start.
// ErrNotFound when no certificate has that serial.
func (s *Store) SetRenewalWindow(ctx context.Context, serial string, start, end time.Time) error {
	if !end.After(start) {
		return fmt.Errorf("set renewal window of %s: end %v is not after start %v", serial, end, start)
	}
	res, err := s.exec(ctx, `UPDATE certificates SET ari_window_start = ?, ari_window_end = ? WHERE serial = ?`, ts(start), ts(end), serial)
	if err := checkOne(res, err, "set renewal window"); err != nil {
		if errors.Is(err, ErrStale) {
			return fmt.Errorf("certificate %s: %w", serial, ErrNotFound)
		}
		return err
	}
	return nil
}

// RenewalWindow returns the suggested renewal window stored for the
// certificate with serial by SetRenewalWindow; both times are zero when
// none was set. ErrNotFound when no certificate has that serial.
func (s *Store) RenewalWindow(ctx context.Context, serial string) (start, end time.Time, err error) {
	var a, b int64
	err = s.r.QueryRowContext(ctx, `SELECT ari_window_start, ari_window_end FROM certificates WHERE serial = ?`, serial).Scan(&a, &b)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, time.Time{}, fmt.Errorf("certificate %s: %w", serial, ErrNotFound)
	}
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("renewal window: %w", err)
	}
	if b == 0 {
		return time.Time{}, time.Time{}, nil
	}
	return fromTS(a), fromTS(b), nil
}
