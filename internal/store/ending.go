package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// EachCertificateEndingAfter calls fn with the DER and notAfter of each
// certificate stored under one of issuers (an issuer name such as
// "local", or the issuer DN under which an imported certificate is
// stored) whose notAfter is after after, in serial order, revoked ones
// included; it stops at fn's first error and returns it. `certgate ca
// prune-retired` reads with it which certificates a retired intermediate
// signed that are unexpired or still listed on its CRL. No issuers reads
// none.
func (s *Store) EachCertificateEndingAfter(ctx context.Context, issuers []string, after time.Time, fn func(der []byte, notAfter time.Time) error) error {
	if len(issuers) == 0 {
		return nil
	}
	args := []any{ts(after)}
	for _, is := range issuers {
		args = append(args, is)
	}
	q := `SELECT der, not_after FROM certificates WHERE not_after > ? AND issuer IN (?` + strings.Repeat(", ?", len(issuers)-1) + `) ORDER BY serial`
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("certificates ending after %s: %w", after.Format(time.RFC3339), err)
	}
	defer rows.Close()
	for rows.Next() {
		var der []byte
		var na int64
		if err := rows.Scan(&der, &na); err != nil {
			return fmt.Errorf("certificates ending after %s: %w", after.Format(time.RFC3339), err)
		}
		if err := fn(der, fromTS(na)); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("certificates ending after %s: %w", after.Format(time.RFC3339), err)
	}
	return nil
}
