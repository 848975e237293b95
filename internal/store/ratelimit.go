package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// RateLimitOverride replaces a rate limit's rate for one subject
// (internal/ratelimit): Limit is the limit's name ("new-orders-per-account"),
// Subject what it is counted for ("account:ID", "ip:ADDR", "domain:NAME",
// "eab:KEYID"); Count events per Period, Count 0 meaning unlimited.
type RateLimitOverride struct {
	Limit     string
	Subject   string
	Count     int
	Period    time.Duration
	Comment   string
	CreatedAt time.Time
}

// UpdateRateBuckets reads the GCRA theoretical arrival times of keys
// (zero for a key without a row), passes them to decide in the order of
// keys, and when decide returns ok stores the times it returns (same
// order) in the same transaction. The rows are locked while decide runs
// (SELECT ... FOR UPDATE on PostgreSQL; SQLite's write transaction is
// exclusive), so concurrent callers on any number of nodes see each
// other's updates. Keys are locked in sorted order, so that two callers
// never deadlock. It returns decide's ok.
func (s *Store) UpdateRateBuckets(ctx context.Context, keys []string, decide func(tats []time.Time) ([]time.Time, bool)) (bool, error) {
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		switch {
		case keys[a] < keys[b]:
			return -1
		case keys[a] > keys[b]:
			return 1
		}
		return 0
	})
	lock := ""
	if s.engine == EnginePostgres {
		lock = " FOR UPDATE"
	}
	var ok bool
	err := s.tx(ctx, func(tx txConn) error {
		tats := make([]time.Time, len(keys))
		for _, i := range order {
			// Create the row first so that FOR UPDATE has a row to lock
			// even for the first use of a key.
			if _, err := tx.ExecContext(ctx, `INSERT INTO rate_buckets (key, tat) VALUES (?, 0) ON CONFLICT (key) DO NOTHING`, keys[i]); err != nil {
				return fmt.Errorf("rate bucket %s: %w", keys[i], err)
			}
			var tat int64
			if err := tx.QueryRowContext(ctx, `SELECT tat FROM rate_buckets WHERE key = ?`+lock, keys[i]).Scan(&tat); err != nil {
				return fmt.Errorf("rate bucket %s: %w", keys[i], err)
			}
			tats[i] = fromTS(tat)
		}
		var next []time.Time
		next, ok = decide(tats)
		if !ok {
			return errNoUpdate
		}
		if len(next) != len(keys) {
			return fmt.Errorf("rate buckets: %d times for %d keys", len(next), len(keys))
		}
		for _, i := range order {
			if _, err := tx.ExecContext(ctx, `UPDATE rate_buckets SET tat = ? WHERE key = ?`, ts(next[i]), keys[i]); err != nil {
				return fmt.Errorf("rate bucket %s: %w", keys[i], err)
			}
		}
		return nil
	})
	if errors.Is(err, errNoUpdate) {
		return false, nil
	}
	return ok, err
}

// errNoUpdate rolls back a rate bucket transaction that changes nothing.
var errNoUpdate = errors.New("no rate bucket update")

// RateBuckets returns the theoretical arrival times of keys (zero for a
// key without a row), without locking them.
func (s *Store) RateBuckets(ctx context.Context, keys []string) ([]time.Time, error) {
	out := make([]time.Time, len(keys))
	for i, k := range keys {
		var tat int64
		err := s.r.QueryRowContext(ctx, `SELECT tat FROM rate_buckets WHERE key = ?`, k).Scan(&tat)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("rate bucket %s: %w", k, err)
		}
		out[i] = fromTS(tat)
	}
	return out, nil
}

// PruneRateBuckets deletes the rate buckets whose theoretical arrival time
// is not after now: such a bucket is full again, the same as no row.
func (s *Store) PruneRateBuckets(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM rate_buckets WHERE tat <= ?`, ts(now))
	if err != nil {
		return 0, fmt.Errorf("prune rate buckets: %w", err)
	}
	return res.RowsAffected()
}

// ListRateLimitOverrides returns every override, by limit and subject.
func (s *Store) ListRateLimitOverrides(ctx context.Context) ([]RateLimitOverride, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+overrideCols+` FROM rate_limit_overrides ORDER BY limit_name, subject`)
	if err != nil {
		return nil, fmt.Errorf("list rate limit overrides: %w", err)
	}
	defer rows.Close()
	var out []RateLimitOverride
	for rows.Next() {
		o, err := scanOverride(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *o)
	}
	return out, rows.Err()
}

// SetRateLimitOverride inserts or replaces the override of o.Limit for
// o.Subject.
func (s *Store) SetRateLimitOverride(ctx context.Context, o RateLimitOverride) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO rate_limit_overrides (limit_name, subject, count, period, comment, created_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (limit_name, subject) DO UPDATE SET count = excluded.count, period = excluded.period, comment = excluded.comment, created_at = excluded.created_at`,
		o.Limit, o.Subject, o.Count, int64(o.Period), o.Comment, ts(o.CreatedAt))
	if err != nil {
		return fmt.Errorf("set rate limit override: %w", err)
	}
	return nil
}

// DeleteRateLimitOverride removes the override of limit for subject;
// ErrNotFound when there is none.
func (s *Store) DeleteRateLimitOverride(ctx context.Context, limit, subject string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM rate_limit_overrides WHERE limit_name = ? AND subject = ?`, limit, subject)
	if err := checkOne(res, err, "delete rate limit override"); err != nil {
		if errors.Is(err, ErrStale) {
			return fmt.Errorf("rate limit override %s %s: %w", limit, subject, ErrNotFound)
		}
		return err
	}
	return nil
}

const overrideCols = `limit_name, subject, count, period, comment, created_at`

func scanOverride(row interface{ Scan(...any) error }) (*RateLimitOverride, error) {
	var o RateLimitOverride
	var period, created int64
	if err := row.Scan(&o.Limit, &o.Subject, &o.Count, &period, &o.Comment, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("scan rate limit override: %w", err)
	}
	o.Period = time.Duration(period)
	o.CreatedAt = fromTS(created)
	return &o, nil
}

// PendingAuthorizations counts the authorizations of account that are
// pending and not expired at now, and returns the earliest expiry among
// them (zero when there are none).
func (s *Store) PendingAuthorizations(ctx context.Context, account string, now time.Time) (int, time.Time, error) {
	var n int
	var earliest sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*), MIN(expires_at) FROM authorizations WHERE account_id = ? AND status = 'pending' AND expires_at > ?`,
		account, ts(now)).Scan(&n, &earliest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count pending authorizations: %w", err)
	}
	return n, fromTS(earliest.Int64), nil
}

// QueryRowContext runs q within the transaction.
func (t txConn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.p.cached(q); st != nil {
		return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	*t.missing = append(*t.missing, q)
	return t.tx.QueryRowContext(ctx, t.p.bind(q), args...)
}
