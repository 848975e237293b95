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
// default window (see ra.RenewalWindow). end must be after start. events
// are appended to the audit log in the same transaction; an event's
// Replaced hook receives the *StoredRenewalWindow the change replaces,
// read in that transaction with the row locked. ErrNotFound when no
// certificate has that serial.
func (s *Store) SetRenewalWindow(ctx context.Context, serial string, start, end time.Time, events ...*AuditAppend) error {
	if !end.After(start) {
		return fmt.Errorf("set renewal window of %s: end %v is not after start %v", serial, end, start)
	}
	return s.tx(ctx, func(tx txConn) error {
		if err := readReplaced(ctx, s, tx, events, scanRenewalWindow, `SELECT ari_window_start, ari_window_end FROM certificates WHERE serial = ?`, serial); err != nil {
			return fmt.Errorf("certificate %s: %w", serial, err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE certificates SET ari_window_start = ?, ari_window_end = ? WHERE serial = ?`, ts(start), ts(end), serial)
		if err := checkOne(res, err, "set renewal window"); err != nil {
			if errors.Is(err, ErrStale) {
				return fmt.Errorf("certificate %s: %w", serial, ErrNotFound)
			}
			return err
		}
		return appendAll(ctx, tx, events)
	})
}

// StoredRenewalWindow is the renewal window SetRenewalWindow stored on a
// certificate; Start and End are zero when none is stored (renewalInfo
// serves the profile's default window).
type StoredRenewalWindow struct {
	Start, End time.Time // UTC
}

func scanRenewalWindow(row interface{ Scan(...any) error }) (*StoredRenewalWindow, error) {
	var a, b int64
	err := row.Scan(&a, &b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("renewal window: %w", err)
	}
	if b == 0 {
		return &StoredRenewalWindow{}, nil
	}
	return &StoredRenewalWindow{Start: fromTS(a), End: fromTS(b)}, nil
}

// RenewalWindow returns the suggested renewal window stored for the
// certificate with serial by SetRenewalWindow; both times are zero when
// none was set. ErrNotFound when no certificate has that serial.
func (s *Store) RenewalWindow(ctx context.Context, serial string) (start, end time.Time, err error) {
	w, err := scanRenewalWindow(s.r.QueryRowContext(ctx, `SELECT ari_window_start, ari_window_end FROM certificates WHERE serial = ?`, serial))
	if errors.Is(err, ErrNotFound) {
		return time.Time{}, time.Time{}, fmt.Errorf("certificate %s: %w", serial, ErrNotFound)
	}
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	return w.Start, w.End, nil
}
