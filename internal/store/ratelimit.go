package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// RateLimitOverride replaces a rate limit's rate for one subject
// (internal/ratelimit): Limit is the limit's name ("new-orders-per-account"),
// Subject what it is counted for ("account:ID", "ip:ADDR", "domain:NAME",
// "eab:KEYID"); Count events per Period, Count 0 meaning unlimited.
type RateLimitOverride struct {
	Limit     string        // limit name
	Subject   string        // e.g. "account:ID"
	Count     int           // events per Period; 0: unlimited
	Period    time.Duration // see Count
	Comment   string        // why, for people
	CreatedAt time.Time     // UTC
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
	var ok bool
	err := s.pointTx(ctx, func(tx txConn) error {
		if err := s.asyncCommit(ctx, tx); err != nil {
			return err
		}
		var err error
		ok, err = s.updateRateBuckets(ctx, tx, keys, decide)
		if err == nil && !ok {
			err = errNoUpdate
		}
		return err
	})
	if errors.Is(err, errNoUpdate) {
		return false, nil
	}
	return ok, err
}

// RateSpend is a rate-limit spend made in the transaction of the write it
// guards (CreateOrder, CreateReplacementOrder, StartIssuance), instead of
// a transaction of its own: the buckets are spent exactly when the write
// commits. Keys and Decide are as for UpdateRateBuckets. When Decide
// refuses, nothing of the transaction is written and the write returns
// ErrRateLimited. Decide runs inside the transaction (on SQLite on the
// writer goroutine), so it must not call the Store.
type RateSpend struct {
	Keys   []string                                   // the buckets, as for UpdateRateBuckets
	Decide func(tats []time.Time) ([]time.Time, bool) // as for UpdateRateBuckets
}

// ErrRateLimited is returned (wrapped) by a write whose RateSpend was
// refused; the caller's Decide has recorded why.
var ErrRateLimited = errors.New("store: rate limited")

// spendRates runs the non-nil spends within tx (see RateSpend). Callers
// make it the last write of their transaction (before an audit append):
// on PostgreSQL it locks its buckets' rows until the commit, and a bucket
// such as a registered domain's is shared by every order for names under
// it, so each statement after it would lengthen the time that all of them
// wait for each other. Locks taken before it (an order's row, a new row's
// key) are of rows no transaction holding a bucket waits for.
func (s *Store) spendRates(ctx context.Context, tx txConn, spends []*RateSpend) error {
	for _, sp := range spends {
		if sp == nil {
			continue
		}
		ok, err := s.updateRateBuckets(ctx, tx, sp.Keys, sp.Decide)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("rate buckets %v: %w", sp.Keys, ErrRateLimited)
		}
	}
	return nil
}

// updateRateBuckets is UpdateRateBuckets within tx; nothing is written
// when decide refuses.
func (s *Store) updateRateBuckets(ctx context.Context, tx txConn, keys []string, decide func(tats []time.Time) ([]time.Time, bool)) (bool, error) {
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(keys[a], keys[b]) })
	// On PostgreSQL each key's row is created or locked and read in one
	// statement, in key order (as PruneRateBuckets never waits, no two
	// transactions can wait on each other). SQLite's write transaction
	// is exclusive: a key is read (zero without a row) and written with
	// an upsert, and no row is changed before decide.
	pg := s.engine == EnginePostgres
	tats := make([]time.Time, len(keys))
	for _, i := range order {
		tat, err := s.readRateBucket(ctx, tx, keys[i])
		if err != nil {
			return false, fmt.Errorf("rate bucket %s: %w", keys[i], err)
		}
		tats[i] = fromTS(tat)
	}
	next, ok := decide(tats)
	if !ok {
		return false, nil
	}
	if len(next) != len(keys) {
		return false, fmt.Errorf("rate buckets: %d times for %d keys", len(next), len(keys))
	}
	for _, i := range order {
		var err error
		if pg {
			_, err = tx.ExecContext(ctx, `UPDATE rate_buckets SET tat = ? WHERE key = ?`, ts(next[i]), keys[i])
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO rate_buckets (key, tat) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat`, keys[i], ts(next[i]))
		}
		if err != nil {
			return false, fmt.Errorf("rate bucket %s: %w", keys[i], err)
		}
	}
	return true, nil
}

// readRateBucket returns the theoretical arrival time of key (0 without a
// row) within tx; on PostgreSQL it creates the row when missing and locks
// it (see updateRateBuckets).
func (s *Store) readRateBucket(ctx context.Context, tx txConn, key string) (int64, error) {
	var tat int64
	if s.engine != EnginePostgres {
		err := tx.QueryRowContext(ctx, `SELECT tat FROM rate_buckets WHERE key = ?`, key).Scan(&tat)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil
		}
		return tat, err
	}
	// One statement inserts the row or locks the existing one (ON
	// CONFLICT DO UPDATE is atomic: a row another node's prune deletes
	// meanwhile is inserted again), and returns its time.
	err := tx.QueryRowContext(ctx, `INSERT INTO rate_buckets (key, tat) VALUES (?, 0)
		ON CONFLICT (key) DO UPDATE SET tat = rate_buckets.tat RETURNING tat`, key).Scan(&tat)
	return tat, err
}

// errNoUpdate rolls back a rate bucket transaction that changes nothing.
var errNoUpdate = errors.New("no rate bucket update")

// RateBuckets returns the theoretical arrival times of keys (zero for a
// key without a row), without locking them.
func (s *Store) RateBuckets(ctx context.Context, keys []string) ([]time.Time, error) {
	out := make([]time.Time, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	// One point lookup per key, joined with UNION ALL: for key IN (?, ?, …)
	// SQLite first builds a temporary B-tree of the list to drive the
	// lookups (BenchmarkRateBuckets: about 15% more CPU per read). A key
	// given twice yields its row twice, which the loop below takes twice.
	// SQLite joins at most maxCompoundSelect of them in one statement, so
	// a longer list is read in parts.
	err := s.hot(ctx, func(q querier) error {
		for part := range slices.Chunk(args, maxCompoundSelect) {
			if err := readRateBucketRows(ctx, q, part, keys, out); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rate buckets: %w", err)
	}
	return out, nil
}

// maxCompoundSelect is how many SELECTs SQLite joins in one compound
// SELECT (SQLITE_MAX_COMPOUND_SELECT, 500 by default).
const maxCompoundSelect = 500

// readRateBucketRows reads the buckets of part (keys, one lookup each
// joined with UNION ALL) and stores each time in out at every index at
// which keys holds its key.
func readRateBucketRows(ctx context.Context, q querier, part []any, keys []string, out []time.Time) error {
	rows, err := q.QueryContext(ctx, `SELECT key, tat FROM rate_buckets WHERE key = ?`+strings.Repeat(` UNION ALL SELECT key, tat FROM rate_buckets WHERE key = ?`, len(part)-1), part...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var tat int64
		if err := rows.Scan(&k, &tat); err != nil {
			return err
		}
		for i := range keys {
			if keys[i] == k {
				out[i] = fromTS(tat)
			}
		}
	}
	return rows.Err()
}

// SpendRateBucket is one GCRA step on one bucket in one statement: the
// bucket's theoretical arrival time becomes max(tat, now) + interval when
// that is at most now + period (ok), else it is left alone (refused).
// It returns the bucket's time after the step (refused: as it stands, for
// the caller's wait).
func (s *Store) SpendRateBucket(ctx context.Context, key string, now time.Time, interval, period time.Duration) (bool, time.Time, error) {
	maxFn := "MAX"
	if s.engine == EnginePostgres {
		maxFn = "GREATEST"
	}
	n, iv, p := ts(now), int64(interval), int64(period)
	q := `INSERT INTO rate_buckets (key, tat) VALUES (?, CAST(? AS BIGINT))
		ON CONFLICT (key) DO UPDATE SET tat = ` + maxFn + `(rate_buckets.tat, CAST(? AS BIGINT)) + CAST(? AS BIGINT)
		WHERE ` + maxFn + `(rate_buckets.tat, CAST(? AS BIGINT)) + CAST(? AS BIGINT) - CAST(? AS BIGINT) <= CAST(? AS BIGINT)
		RETURNING tat`
	args := []any{key, n + iv, n, iv, n, iv, n, p}
	var tat int64
	err := s.pointTx(ctx, func(tx txConn) error {
		if err := s.asyncCommit(ctx, tx); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, q, args...).Scan(&tat)
	})
	if errors.Is(err, sql.ErrNoRows) {
		cur, err := s.RateBuckets(ctx, []string{key})
		if err != nil {
			return false, time.Time{}, err
		}
		return false, cur[0], nil
	}
	if err != nil {
		return false, time.Time{}, fmt.Errorf("rate bucket %s: %w", key, err)
	}
	return true, fromTS(tat), nil
}

// asyncCommit lets a PostgreSQL transaction commit without waiting for the
// WAL flush: a database crash can lose the last moments of rate bucket
// updates (a few events uncounted) or of redeemed nonces, which is cheaper
// than the flush on every request (see RecordNonce). On SQLite it does
// nothing.
func (s *Store) asyncCommit(ctx context.Context, tx txConn) error {
	if s.engine != EnginePostgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
		return fmt.Errorf("asynchronous commit: %w", err)
	}
	return nil
}

// PruneRateBuckets deletes the rate buckets whose theoretical arrival time
// is not after now: such a bucket is full again, the same as no row. It
// returns how many it deleted. On PostgreSQL it must never make a spend
// wait on it (spends on any node lock their buckets in key order): it
// skips the rows a transaction holds, and should its DELETE still have to
// wait for a spend's transaction, it gives up after pruneLockTimeout
// instead (SQLSTATE 55P03), well before PostgreSQL's deadlock check
// (deadlock_timeout, 1 s by default) could cancel a spend, and returns 0
// with no error: the next sweep prunes what is left.
func (s *Store) PruneRateBuckets(ctx context.Context, now time.Time) (int64, error) {
	if s.engine != EnginePostgres {
		res, err := s.lazyExec(ctx, `DELETE FROM rate_buckets WHERE tat <= ?`, ts(now))
		if err != nil {
			return 0, fmt.Errorf("prune rate buckets: %w", err)
		}
		return res.RowsAffected()
	}
	var n int64
	err := s.tx(ctx, func(tx txConn) error {
		if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '`+pruneLockTimeout+`'`); err != nil {
			return err
		}
		// The rows are deleted by the physical address (ctid) of the row
		// versions the subquery locked, not by key: matching by key, the
		// DELETE could meet an older version of a row whose newer one a
		// spend holds and wait for it (EvalPlanQual). It can still wait
		// (seen: a spend's transaction, while that spend waited for a row
		// this prune held), hence the lock timeout.
		res, err := tx.ExecContext(ctx, `DELETE FROM rate_buckets WHERE ctid = ANY (ARRAY(SELECT ctid FROM rate_buckets WHERE tat <= ? FOR UPDATE SKIP LOCKED))`, ts(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "55P03" { // lock_not_available: gave way to a spend
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("prune rate buckets: %w", err)
	}
	return n, nil
}

// pruneLockTimeout bounds how long PruneRateBuckets waits for a lock on
// PostgreSQL (a lock_timeout value).
const pruneLockTimeout = "50ms"

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
// o.Subject and appends events (nil ones skipped) to the audit log in the
// same transaction; an append's error rolls the change back. The events'
// Replaced hooks get the *RateLimitOverride it replaces, nil when none.
func (s *Store) SetRateLimitOverride(ctx context.Context, o RateLimitOverride, events ...*AuditAppend) error {
	return s.tx(ctx, func(tx txConn) error {
		orNone := func(row interface{ Scan(...any) error }) (*RateLimitOverride, error) {
			old, err := scanOverride(row)
			if errors.Is(err, ErrNotFound) {
				return nil, nil
			}
			return old, err
		}
		if err := readReplaced(ctx, s, tx, events, orNone, `SELECT `+overrideCols+` FROM rate_limit_overrides WHERE limit_name = ? AND subject = ?`, o.Limit, o.Subject); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO rate_limit_overrides (limit_name, subject, count, period, comment, created_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (limit_name, subject) DO UPDATE SET count = excluded.count, period = excluded.period, comment = excluded.comment, created_at = excluded.created_at`,
			o.Limit, o.Subject, o.Count, int64(o.Period), o.Comment, ts(o.CreatedAt))
		if err != nil {
			return fmt.Errorf("set rate limit override: %w", err)
		}
		return appendAll(ctx, tx, events)
	})
}

// DeleteRateLimitOverride removes the override of limit for subject and
// appends events (nil ones skipped) to the audit log in the same
// transaction; ErrNotFound when there is none; an append's error rolls the
// deletion back. The events' Replaced hooks get the deleted
// *RateLimitOverride.
func (s *Store) DeleteRateLimitOverride(ctx context.Context, limit, subject string, events ...*AuditAppend) error {
	return s.tx(ctx, func(tx txConn) error {
		if err := readReplaced(ctx, s, tx, events, scanOverride, `SELECT `+overrideCols+` FROM rate_limit_overrides WHERE limit_name = ? AND subject = ?`, limit, subject); err != nil {
			return fmt.Errorf("rate limit override %s %s: %w", limit, subject, err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM rate_limit_overrides WHERE limit_name = ? AND subject = ?`, limit, subject)
		if err := checkOne(res, err, "delete rate limit override"); err != nil {
			if errors.Is(err, ErrStale) {
				return fmt.Errorf("rate limit override %s %s: %w", limit, subject, ErrNotFound)
			}
			return err
		}
		return appendAll(ctx, tx, events)
	})
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

// pendingProbe is how many of an account's pending authorizations
// PendingAuthorizations counts with a hot read (see Store.hot), a bounded
// walk of the authorizations_pending index: an account holding
// fewer, as almost every account does, is answered by it exactly. One
// holding more is counted in full on the reader pool, a walk as long as
// its pending authorizations that must not hold up the writer.
const pendingProbe = 64

// pendingAuthzSQL repeats authorizations_pending's condition; the index
// covers it. pendingProbeSQL is the same count stopped after its third
// argument's number of rows.
const (
	pendingAuthzSQL = `SELECT COUNT(*), MIN(expires_at) FROM authorizations WHERE account_id = ? AND status = 'pending' AND expires_at > ?`
	pendingProbeSQL = `SELECT COUNT(*), MIN(expires_at) FROM (SELECT expires_at FROM authorizations
		WHERE account_id = ? AND status = 'pending' AND expires_at > ? LIMIT ?) p`
)

// PendingAuthorizations counts the authorizations of account that are
// pending and not expired at now, and returns the earliest expiry among
// them (zero when there are none).
func (s *Store) PendingAuthorizations(ctx context.Context, account string, now time.Time) (int, time.Time, error) {
	var n int
	var earliest sql.NullInt64
	err := s.hot(ctx, func(q querier) error {
		return q.QueryRowContext(ctx, pendingProbeSQL, account, ts(now), pendingProbe).Scan(&n, &earliest)
	})
	if err == nil && n >= pendingProbe {
		err = s.r.QueryRowContext(ctx, pendingAuthzSQL, account, ts(now)).Scan(&n, &earliest)
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count pending authorizations: %w", err)
	}
	return n, fromTS(earliest.Int64), nil
}

// pendingExpirySQL is the expiry of the (third argument + 1)-th of an
// account's pending, unexpired authorizations in order of expiry; the
// authorizations_pending index covers it.
const pendingExpirySQL = `SELECT expires_at FROM authorizations WHERE account_id = ? AND status = 'pending' AND expires_at > ?
	ORDER BY expires_at LIMIT 1 OFFSET ?`

// PendingAuthorizationExpiry returns the k-th earliest (k >= 1) of the
// expiries of account's authorizations pending and unexpired at now: the
// time from which the account holds at least k fewer pending
// authorizations (it may complete or deactivate them sooner). It returns
// the zero time when the account holds fewer than k.
func (s *Store) PendingAuthorizationExpiry(ctx context.Context, account string, now time.Time, k int) (time.Time, error) {
	if k < 1 {
		return time.Time{}, fmt.Errorf("pending authorization expiry: k = %d, want >= 1", k)
	}
	var at int64
	err := s.r.QueryRowContext(ctx, pendingExpirySQL, account, ts(now), k-1).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("pending authorization expiry: %w", err)
	}
	return fromTS(at), nil
}
