package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// Queries for readiness and metrics (docs/operations.md, "Metrics and
// health"); each is cheap at any database size.

// Ping checks that the database answers a trivial query (SELECT 1) on the
// read pool within ctx. It fails once the store is closed.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// Pools returns the store's database/sql connection pools by role, for
// their statistics (sql.DB.Stats): "writer" and "reader" on SQLite,
// "pool" on PostgreSQL. Callers must not query or close them.
func (s *Store) Pools() map[string]*sql.DB {
	if s.r == s.w {
		return map[string]*sql.DB{"pool": s.w.db}
	}
	return map[string]*sql.DB{"writer": s.w.db, "reader": s.r.db}
}

// CountPendingApprovals returns how many approvals wait for a decision:
// a range count on the approvals_status index.
func (s *Store) CountPendingApprovals(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM approvals WHERE status = ?`, ApprovalPending).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending approvals: %w", err)
	}
	return n, nil
}

// CountCertificatesByExpiry counts the unrevoked certificates of the
// inventory (issued, imported and discovered) by notAfter: for ascending
// bounds b[0] < b[1] < ... < b[n] it returns n counts, the i-th of the
// certificates with b[i] <= notAfter < b[i+1]. One range scan of the
// certificates_status_not_after index from b[0] to b[n] (it covers the
// query: no certificate row is read), so the cost grows with the
// certificates in that window, not with the table.
func (s *Store) CountCertificatesByExpiry(ctx context.Context, bounds []time.Time) ([]int64, error) {
	if len(bounds) < 2 {
		return nil, fmt.Errorf("count certificates by expiry: need at least two bounds")
	}
	n := len(bounds) - 1
	// Column i counts notAfter < b[i+1]; the scan starts at b[0].
	var q strings.Builder
	q.WriteString("SELECT ")
	args := make([]any, 0, n+3)
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("COALESCE(SUM(CASE WHEN not_after < ? THEN 1 ELSE 0 END), 0)")
		args = append(args, ts(bounds[i+1]))
	}
	q.WriteString(" FROM certificates WHERE status = ? AND not_after >= ? AND not_after < ?")
	args = append(args, acme.StatusValid, ts(bounds[0]), ts(bounds[n]))
	cum := make([]int64, n)
	dest := make([]any, n)
	for i := range cum {
		dest[i] = &cum[i]
	}
	if err := s.r.QueryRowContext(ctx, q.String(), args...).Scan(dest...); err != nil {
		return nil, fmt.Errorf("count certificates by expiry: %w", err)
	}
	out := make([]int64, n)
	for i := range cum {
		out[i] = cum[i]
		if i > 0 {
			out[i] -= cum[i-1]
		}
	}
	return out, nil
}
