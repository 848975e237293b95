package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// WriterCommits returns the transactions a SQLite store's writer has
// committed (0 on PostgreSQL), for tests and benchmarks.
func WriterCommits(s *Store) int64 {
	if s.wr == nil {
		return 0
	}
	return s.wr.commits.Load()
}

// AppendAuditBatch appends events in one transaction, as a store method
// that takes several appends does, and returns how many times the
// audit_head row was written by the appends: on SQLite the rows the writer
// connection changed (total_changes) less the events inserted, on
// PostgreSQL the change in the updates of audit_head that
// pg_stat_xact_user_tables counts for the backend (it may hold earlier
// transactions' counts not yet reported, hence the difference).
func AppendAuditBatch(ctx context.Context, s *Store, events []*AuditAppend) (int64, error) {
	q, inserts := `SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'audit_head'`, int64(0)
	if s.wr != nil {
		q, inserts = `SELECT total_changes()`, int64(len(events))
	}
	var before, after int64
	err := s.tx(ctx, func(tx txConn) error {
		if err := tx.QueryRowContext(ctx, q).Scan(&before); err != nil {
			return err
		}
		if err := appendAll(ctx, tx, events); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, q).Scan(&after)
	})
	return after - before - inserts, err
}

// Checkpoint copies a SQLite store's WAL into its database file, as the
// background checkpointer does (a no-op on PostgreSQL).
func Checkpoint(ctx context.Context, s *Store) error {
	if s.wr == nil {
		return nil
	}
	_, _, err := s.wr.ckpt.checkpoint(ctx)
	return err
}

// CheckpointFigures counts a SQLite store's checkpoint work (see
// checkpointer).
type CheckpointFigures struct {
	Checkpoints       int64 // background checkpoints
	MaxWALPages       int64 // the largest WAL one of them found
	WriterCatchUps    int64 // checkpoints the writer ran (writer.catchUp)
	WriterCatchUpTime time.Duration
}

// Checkpoints returns a SQLite store's CheckpointFigures (zero on
// PostgreSQL), for tests and benchmarks.
func Checkpoints(s *Store) CheckpointFigures {
	if s.wr == nil || s.wr.ckpt == nil {
		return CheckpointFigures{}
	}
	return CheckpointFigures{Checkpoints: s.wr.ckpt.checkpoints.Load(), MaxWALPages: s.wr.ckpt.maxWAL.Load(),
		WriterCatchUps: s.wr.catchUps.Load(), WriterCatchUpTime: time.Duration(s.wr.catchUpTime.Load())}
}

// SynchronousCommit returns PostgreSQL's synchronous_commit setting as a
// session of the store's main pool and one of its asynchronous pool
// (Store.async) see it, for tests.
func SynchronousCommit(ctx context.Context, s *Store) (main, async string, err error) {
	if err := s.w.QueryRowContext(ctx, `SHOW synchronous_commit`).Scan(&main); err != nil {
		return "", "", err
	}
	if err := s.async.QueryRowContext(ctx, `SHOW synchronous_commit`).Scan(&async); err != nil {
		return "", "", err
	}
	return main, async, nil
}

// ACMEOrdersListCost describes what ListACMEOrders' query reads for a call
// with these arguments: Entered is the number of the account's entries of
// the index orders_account in the range the query enters (counted with the
// query's own index condition and arguments), every one of which the query
// visits until it has limit rows; Plan is the engine's plan of the query
// with these arguments (SQLite: EXPLAIN QUERY PLAN, without values;
// PostgreSQL: EXPLAIN ANALYZE, run, with the rows its filter removed).
func ACMEOrdersListCost(ctx context.Context, s *Store, accountID string, afterCreated time.Time, afterID string, notExpiredAfter time.Time, limit int) (entered int, plan []string, err error) {
	args := listOrdersArgs(accountID, afterCreated, afterID, notExpiredAfter, limit)
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders WHERE account_id = ? AND (created_at, id) > (?, ?)`, args[:3]...).Scan(&entered); err != nil {
		return 0, nil, err
	}
	plan, err = explainPlan(ctx, s, s.r, true, listOrdersSQL, args)
	return entered, plan, err
}

// ForgetKeyHashes makes s's database look as migration 00017 left it:
// every certificate's key_hash NULL, and the migrations after it (the Go
// migration 18 that fills them, the indexes of 00019, 00021 and 00022,
// the Go migration 23 that fills key_roca, NULL here; 00020 rebuilds the
// ones it changes; the columns of 00024, 00028, 00035 and 00036, dropped
// here) not applied, so that
// the next Open applies them.
func ForgetKeyHashes(ctx context.Context, s *Store) error {
	return s.tx(ctx, func(tx txConn) error {
		for _, q := range []string{`UPDATE certificates SET key_hash = NULL`, `DROP INDEX certificates_no_key`, `DROP INDEX certificates_replaced_not_after`, `DROP INDEX certificates_profile`,
			`UPDATE certificates SET key_roca = NULL`, dropRetryRequested, dropProcessingNode, dropSupersededIndex, dropSupersededBy} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		if err := dropUISessionsSSO(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM goose_db_version WHERE version_id >= ?`, keyHashMigration)
		return err
	})
}

// dropRetryRequested undoes migration 00024 (challenges.retry_requested_at),
// for the helpers that make the next Open apply the migrations again.
const dropRetryRequested = `ALTER TABLE challenges DROP COLUMN retry_requested_at`

// dropProcessingNode undoes migration 00028's column (orders.processing_node;
// its table is created IF NOT EXISTS), as dropRetryRequested.
const dropProcessingNode = `ALTER TABLE orders DROP COLUMN processing_node`

// dropSupersededIndex and dropSupersededBy undo migration 00036
// (certificates.superseded_by and its partial index; SQLite drops no
// column an index names), as dropRetryRequested.
const (
	dropSupersededIndex = `DROP INDEX IF EXISTS certificates_superseded_not_after`
	dropSupersededBy    = `ALTER TABLE certificates DROP COLUMN superseded_by`
)

// dropUISessionsSSO undoes migration 00035 (the SSO columns of
// ui_sessions), as dropRetryRequested.
func dropUISessionsSSO(ctx context.Context, tx txConn) error {
	for _, c := range []string{"role", "sso_issuer", "sso_subject", "display_name"} {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE ui_sessions DROP COLUMN `+c); err != nil {
			return err
		}
	}
	return nil
}

// KeyHashBatch is how many rows migration 18 fills per transaction.
const KeyHashBatch = keyHashBatch

// ForgetKeyROCA makes s's database look as if its rows were stored before
// the Go migration 23 (key_roca): every certificate's key_roca NULL and
// the migration not applied, so that the next Open applies it (the column
// is there already, as after an interrupted run). The migrations after it
// are forgotten too: the columns of 00024, 00028, 00035 and 00036 are
// dropped.
func ForgetKeyROCA(ctx context.Context, s *Store) error {
	return s.tx(ctx, func(tx txConn) error {
		for _, q := range []string{`UPDATE certificates SET key_roca = NULL`, dropRetryRequested, dropProcessingNode, dropSupersededIndex, dropSupersededBy} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		if err := dropUISessionsSSO(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM goose_db_version WHERE version_id >= ?`, keyROCAMigration)
		return err
	})
}

// ClearKeyHash sets the key_hash of certificate serial to NULL, as a node
// of a certgate before migration 00017 stores a certificate.
func ClearKeyHash(ctx context.Context, s *Store, serial string) error {
	_, err := s.exec(ctx, `UPDATE certificates SET key_hash = NULL WHERE serial = ?`, serial)
	return err
}

// MigratePostgresTo applies the embedded PostgreSQL migrations to the
// database at dsn up to version, under the advisory lock as Open does, on
// a pool of its own that it closes.
func MigratePostgresTo(ctx context.Context, dsn string, version int64) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return migrateTo(ctx, db, EnginePostgres, version)
}

// errExplained rolls back CancelOrdersPlan's transaction.
var errExplained = errors.New("explained")

// CancelOrdersPlan is the plan of the statement with which a deactivation
// of account accountID cancels its pending orders (cancelPending):
// SQLite's EXPLAIN QUERY PLAN, or PostgreSQL's EXPLAIN ANALYZE, run in a
// transaction that is rolled back (with the rows its filters removed).
// On PostgreSQL sequential scans are disabled in that transaction: on a
// test's table of a few pages the planner, once autovacuum has analyzed
// it, may rightly prefer one, and the plan is to show which range of
// orders_account the statement reads, what bounds its cost on a large
// table.
func CancelOrdersPlan(ctx context.Context, s *Store, accountID string) ([]string, error) {
	args := []any{"{}", int64(0), accountID, accountID, int64(MaxOrderLifetime)}
	var plan []string
	read := func(q querier) (err error) {
		plan, err = explainPlan(ctx, s, q, true, cancelOrdersSQL, args)
		return err
	}
	if s.wr != nil {
		err := read(s.r)
		return plan, err
	}
	err := s.tx(ctx, func(tx txConn) error {
		if _, err := tx.ExecContext(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
			return err
		}
		if err := read(tx); err != nil {
			return err
		}
		return errExplained
	})
	if !errors.Is(err, errExplained) {
		return nil, err
	}
	return plan, nil
}

// SearchPlan returns the plan of SearchCertificates' statement for q, and
// ProfileLookupPlans those of ProfileKnown's and of the use count of a
// profile to be deleted for name (SQLite: EXPLAIN QUERY PLAN details;
// PostgreSQL: EXPLAIN lines).
func SearchPlan(ctx context.Context, s *Store, q CertQuery) ([]string, error) {
	query, args, err := s.searchQuery(ctx, q)
	if err != nil || query == "" {
		return nil, err
	}
	return explainPlan(ctx, s, s.r, false, query, args)
}

// ProfileLookupPlans: see SearchPlan.
func ProfileLookupPlans(ctx context.Context, s *Store, name string) (known, use []string, err error) {
	if known, err = explainPlan(ctx, s, s.r, false, profileKnownSQL, []any{name, name}); err != nil {
		return nil, nil, err
	}
	use, err = explainPlan(ctx, s, s.r, false, profileUseSQL, []any{name, EABRevoked, name, name, name})
	return known, use, err
}

// explainPlan returns the plan of query with args read through q, one
// line per element: SQLite's EXPLAIN QUERY PLAN details (without values),
// PostgreSQL's EXPLAIN, with analyze EXPLAIN ANALYZE (the statement runs,
// and the plan shows the rows its filters removed).
func explainPlan(ctx context.Context, s *Store, q querier, analyze bool, query string, args []any) ([]string, error) {
	explain := `EXPLAIN `
	switch {
	case s.wr != nil:
		explain = `EXPLAIN QUERY PLAN `
	case analyze:
		explain = `EXPLAIN ANALYZE `
	}
	rows, err := q.QueryContext(ctx, explain+query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var plan []string
	for rows.Next() {
		// SQLite: id, parent, notused, detail; PostgreSQL: one text line.
		vals := make([]any, len(cols))
		var detail string
		for i := range vals {
			vals[i] = new(any)
		}
		vals[len(vals)-1] = &detail
		if err := rows.Scan(vals...); err != nil {
			return nil, err
		}
		plan = append(plan, detail)
	}
	return plan, rows.Err()
}

// CertificatesWithSerialPlan is the plan of CertificatesWithSerial's
// statement for serial (SQLite: EXPLAIN QUERY PLAN details; PostgreSQL:
// EXPLAIN lines, with sequential scans disabled as in CancelOrdersPlan,
// so that the plan shows which index range the statement reads).
func CertificatesWithSerialPlan(ctx context.Context, s *Store, serial string) ([]string, error) {
	query, args := `SELECT `+certSelect()+certificatesWithSerialSQL, []any{serial, serial + "."}
	if s.wr != nil {
		return explainPlan(ctx, s, s.r, false, query, args)
	}
	var plan []string
	err := s.tx(ctx, func(tx txConn) error {
		if _, err := tx.ExecContext(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
			return err
		}
		var err error
		if plan, err = explainPlan(ctx, s, tx, false, query, args); err != nil {
			return err
		}
		return errExplained
	})
	if !errors.Is(err, errExplained) {
		return nil, err
	}
	return plan, nil
}

// IssuedReportPlans returns the plans of the statements of one page of
// CountCertificatesBy(by, from, to, "", limit) (by day: the seek of the
// first notBefore, then the page's range of limit days from from): SQLite's
// EXPLAIN QUERY PLAN, PostgreSQL's EXPLAIN ANALYZE after ANALYZE of the
// certificates table.
func IssuedReportPlans(ctx context.Context, s *Store, by string, from, to time.Time, limit int) ([]string, error) {
	if s.wr == nil {
		if _, err := s.w.ExecContext(ctx, `ANALYZE certificates`); err != nil {
			return nil, err
		}
	}
	if by != ByDay {
		return explainPlan(ctx, s, s.r, true, countGroupSQL(by), []any{ts(from), ts(to), "", limit + 1})
	}
	first, err := explainPlan(ctx, s, s.r, true, firstNotBeforeSQL, []any{ts(from), ts(to)})
	if err != nil {
		return nil, err
	}
	end := min(ts(to), (ts(from)/dayNanos+int64(limit))*dayNanos)
	page, err := explainPlan(ctx, s, s.r, true, countDaySQL, []any{ts(from), end})
	return append(first, page...), err
}

// ApprovalsPagePlan is the plan of ListApprovalsPage's statement (SQLite:
// EXPLAIN QUERY PLAN details; PostgreSQL: EXPLAIN lines, with sequential
// scans disabled as in CertificatesWithSerialPlan, so that the plan shows
// which index range the statement reads and whether it sorts).
func ApprovalsPagePlan(ctx context.Context, s *Store, status string, after *ApprovalKey, limit int) ([]string, error) {
	query, args := approvalsPageSQL(status, after)
	args = append(args, limit)
	if s.wr == nil {
		if _, err := s.w.ExecContext(ctx, `ANALYZE approvals`); err != nil {
			return nil, err
		}
	}
	return explainPlan(ctx, s, s.r, false, query, args)
}

// InsertApprovalRows stores n approvals (IDs ap000001..., the i-th
// requested at i microseconds after the epoch, every third approved, the
// rest pending) in one statement, with no orders: for PostgreSQL's
// query plans.
func InsertApprovalRows(ctx context.Context, s *Store, n int) error {
	if s.wr != nil {
		return errors.New("InsertApprovalRows: PostgreSQL only")
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO approvals (id, order_id, account_id, profile, identifiers, key_type, reason, csr, status, requested_at)
		SELECT 'ap' || lpad(g::text, 6, '0'), 'o' || g, 'acct', 'code', '[]', 'ecdsa-p256', 'always', '\x01'::bytea,
		CASE WHEN g % 3 = 0 THEN 'approved' ELSE 'pending' END, g * 1000 FROM generate_series(1, ?::int) g`, n)
	return err
}

// ListAuditPlan returns the plan of ListAudit's statement for f: SQLite's
// EXPLAIN QUERY PLAN; on PostgreSQL the EXPLAIN of its generic plan (the
// statement PREPAREd on one connection and explained with
// plan_cache_mode = force_generic_plan, as a prepared statement executed
// more than five times is planned), after ANALYZE of audit_events.
func ListAuditPlan(ctx context.Context, s *Store, f AuditFilter) ([]string, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	query, args := listAuditQuery(f)
	if s.wr != nil {
		return explainPlan(ctx, s, s.r, false, query, args)
	}
	conn, err := s.r.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// EXECUTE takes no bind parameters inside EXPLAIN: the arguments are
	// literals (the statement's parameters stay parameters).
	lits := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			lits[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		default:
			lits[i] = fmt.Sprint(v)
		}
	}
	for _, stmt := range []string{`ANALYZE audit_events`, `SET plan_cache_mode = force_generic_plan`, `PREPARE list_audit_plan AS ` + rebindDollar(query)} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return nil, err
		}
	}
	defer func() {
		conn.ExecContext(context.WithoutCancel(ctx), `DEALLOCATE list_audit_plan`)
		conn.ExecContext(context.WithoutCancel(ctx), `RESET plan_cache_mode`)
	}()
	rows, err := conn.QueryContext(ctx, `EXPLAIN EXECUTE list_audit_plan(`+strings.Join(lits, ", ")+`)`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		plan = append(plan, line)
	}
	return plan, rows.Err()
}

// InsertAuditRows stores n audit events (seq 1..n, outside the hash chain:
// for query plans only) in one statement: object types cycle through
// seven, each of objects IDs ("o0".."o<objects-1>") has n/objects events
// of its type, actions cycle through three.
func InsertAuditRows(ctx context.Context, s *Store, n, objects int) error {
	const cols = `INSERT INTO audit_events (seq, id, at, actor, action, object_type, object_id, source, prev_hash, hash) `
	const row = `SELECT g, 'ev' || g, g, 'plan', 'a' || (g % 3), 't' || ((g % ?) % 7), 'o' || (g % ?), 'test', '', '' FROM `
	q := cols + `WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n WHERE g < ?) ` + row + `n`
	args := []any{n, objects, objects}
	if s.wr == nil {
		q, args = cols+row+`generate_series(1, ?::int) g`, []any{objects, objects, n}
	}
	return s.tx(ctx, func(tx txConn) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
}

// CopySeeded is copySeeded: the tables the migrations fill, for
// TestCopySeededTables.
var CopySeeded = copySeeded
