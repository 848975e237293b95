package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// The rows that every issuance on every node locks until its commit on
// PostgreSQL: the audit head (each certificate.issue and account.create
// event) and a rate bucket that all orders for names under one registered
// domain share (certificates-per-domain). While one transaction holds such
// a row, all others wait, so each statement it runs after taking the lock
// lowers the rate of all of them (docs/performance.md, "PostgreSQL
// throughput (session 16)").

// TestRateSpendComesLast: on PostgreSQL the writes that spend rate buckets
// in their transaction (StartIssuance, CreateOrder, RequestApprovalSpend)
// take the buckets' row locks after their other writes: a transaction
// waiting for a bucket another transaction holds has already written the
// order (it holds orders' row-exclusive lock), so once it gets the bucket
// only the bucket's update and the commit remain. Spends came first, and
// every write of the transaction ran while it held the shared bucket.
func TestRateSpendComesLast(t *testing.T) {
	storetest.RequirePostgres(t)
	dsn := storetest.PostgresDSN(t)
	s := storetest.OpenDSN(t, dsn)
	ctx := context.Background()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := createAccount(t, s, "acct1")
	const key = "certificates-per-domain:example.test"
	spend := &store.RateSpend{Keys: []string{key}, Decide: func(tats []time.Time) ([]time.Time, bool) {
		return []time.Time{now.Add(time.Minute)}, true
	}}
	createOrder(t, s, a.ID, "ord-start", newAuthz(a.ID, "az-start", "start.example.test", false, "http-01"))
	createOrder(t, s, a.ID, "ord-approval", newAuthz(a.ID, "az-approval", "approval.example.test", false, "http-01"))
	for _, c := range []struct {
		name  string
		table string // a table the write changes before its spend
		write func() error
	}{
		{"StartIssuance", "serials", func() error { return s.StartIssuance(ctx, "ord-start", "0a01", now, spend) }},
		{"CreateOrder", "orders", func() error {
			az := newAuthz(a.ID, "az-new", "new.example.test", false, "http-01")
			o := &store.Order{ID: "ord-new", AccountID: a.ID, Status: "pending", Expires: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now,
				Identifiers: []acme.Identifier{az.Identifier}, AuthzIDs: []string{az.ID}}
			return s.CreateOrder(ctx, o, []*store.Authorization{az}, spend)
		}},
		{"RequestApprovalSpend", "approvals", func() error {
			ap := &store.Approval{ID: "ap1", OrderID: "ord-approval", AccountID: a.ID, Profile: "default", KeyType: "ecdsa-p256",
				Reason: "test", CSR: []byte{1}, Status: store.ApprovalPending, RequestedAt: now}
			return s.RequestApprovalSpend(ctx, ap, now, spend)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Another transaction (another node's issuance) holds the bucket.
			holder, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = holder.Rollback() }()
			if _, err := holder.ExecContext(ctx, `INSERT INTO rate_buckets (key, tat) VALUES ($1, 0) ON CONFLICT (key) DO UPDATE SET tat = rate_buckets.tat`, key); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- c.write() }()
			pid := waitingBackend(t, db, done)
			var held bool
			if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class r ON r.oid = l.relation
				WHERE l.pid = $1 AND r.relname = $2 AND l.mode = 'RowExclusiveLock' AND l.granted)`, pid, c.table).Scan(&held); err != nil {
				t.Fatal(err)
			}
			if err := holder.Rollback(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("%s after the bucket was released: %v", c.name, err)
			}
			if !held {
				t.Fatalf("%s waited for the rate bucket before writing %s: the bucket's lock is held across the transaction's other writes", c.name, c.table)
			}
		})
	}
}

// waitingBackend returns the PID of the backend of db's database that waits
// for a lock (the write under test, whose result done delivers), failing
// the test if the write ends or none waits within 10 s.
func waitingBackend(t *testing.T, db *sql.DB, done chan error) int {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("the write did not wait for the rate bucket another transaction holds: %v", err)
		default:
		}
		var pid int
		err := db.QueryRowContext(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&pid)
		if err == nil {
			return pid
		}
		if err != sql.ErrNoRows {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no backend waits for the rate bucket")
	return 0
}

// TestAuditAppendWritesHeadOnce: on PostgreSQL an audit append writes the
// audit_head row once (its read locks it; one statement inserts the event
// and writes the head): two statements between taking the lock that
// serializes appends on every node and the commit. It wrote the row twice
// (an UPDATE ... RETURNING that took the lock, the insert, a second UPDATE
// for the hash): three statements, and a dead row version more per append.
// The chain stays gap-free and verifies, with single appends and a batch.
func TestAuditAppendWritesHeadOnce(t *testing.T) {
	storetest.RequirePostgres(t)
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	open := func() *store.Store {
		s, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// headUpdates waits until the statistics of the closed stores' sessions
	// (sent when a session ends) stop changing, and returns audit_head's
	// n_tup_upd.
	headUpdates := func() int64 {
		t.Helper()
		var last int64 = -1
		stable := 0
		for i := 0; i < 200 && stable < 5; i++ {
			var n int64
			if _, err := db.ExecContext(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRowContext(ctx, `SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'audit_head'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == last {
				stable++
			} else {
				last, stable = n, 0
			}
			time.Sleep(100 * time.Millisecond)
		}
		return last
	}
	s := open()
	s.Close()
	before := headUpdates()
	s = open()
	const single = 10
	for i := range single {
		must(t, s.AppendAudit(ctx, txEvent(fmt.Sprintf("test.single%d", i), false)))
	}
	// A batch (appendAll: two events with an approval request) writes the
	// head once too.
	a := createAccount(t, s, "acct1")
	createOrder(t, s, a.ID, "ord1", newAuthz(a.ID, "az1", "a.example.test", false, "http-01"))
	ap := &store.Approval{ID: "ap1", OrderID: "ord1", AccountID: a.ID, Profile: "default", KeyType: "ecdsa-p256", Reason: "test",
		CSR: []byte{1}, Status: store.ApprovalPending, RequestedAt: now}
	must(t, s.RequestApproval(ctx, ap, now, txEvent("test.batch1", false), txEvent("test.batch2", false)))
	res, err := audit.New(s, nil).Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Events != single+2 {
		t.Fatalf("chain after %d appends and a batch of 2: %+v", single, res)
	}
	s.Close()
	if got := headUpdates() - before; got != single+1 {
		t.Fatalf("audit_head updated %d times for %d appends and a batch, want %d (once per append)", got, single, single+1)
	}
}

// TestPointUpdatesSkipPendingBacklog: on PostgreSQL the per-flow updates
// of one order or authorization by primary key in a given status
// (StartChallenge's check of the authorization, FinishChallenge,
// StartIssuance) look that row up by its key, even where the statistics
// were taken before a backlog of pending orders and authorizations built
// up (abandoned by clients, left until they expire; autovacuum off here so
// that nothing analyzes them meanwhile). They went through the partial
// indexes of pending rows (orders_stale, authorizations_pending), which
// the statistics said were nearly empty, and read every entry of them for
// the one row.
func TestPointUpdatesSkipPendingBacklog(t *testing.T) {
	storetest.RequirePostgres(t)
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	a := createAccount(t, s, "acct1")
	az := newAuthz(a.ID, "az1", "a.example.test", false, "http-01")
	createOrder(t, s, a.ID, "ord1", az)
	s.Close()
	// clone adds n copies of table's row id with the given status.
	clone := func(table, id, status, prefix string, n int) {
		exec(`INSERT INTO `+table+` SELECT r.* FROM generate_series(1, $1) g,
			json_populate_record(NULL::`+table+`, (SELECT (to_jsonb(t) || jsonb_build_object('id', $2 || g, 'status', $3::text))::json FROM `+table+` t WHERE id = $4)) r`,
			n, prefix, status, id)
	}
	const backlog = 20000
	for _, table := range []string{"orders", "authorizations"} {
		exec(`ALTER TABLE ` + table + ` SET (autovacuum_enabled = false)`)
	}
	clone("orders", "ord1", "valid", "done-", backlog)
	clone("authorizations", "az1", "valid", "done-", backlog)
	// Statistics taken with no pending row at all: the partial indexes
	// of pending rows look empty to the planner.
	exec(`UPDATE orders SET status = 'valid' WHERE id = 'ord1'`)
	exec(`UPDATE authorizations SET status = 'valid' WHERE id = 'az1'`)
	exec(`VACUUM ANALYZE orders, authorizations`)
	exec(`UPDATE orders SET status = 'pending' WHERE id = 'ord1'`)
	exec(`UPDATE authorizations SET status = 'pending' WHERE id = 'az1'`)
	clone("orders", "ord1", "pending", "abandoned-", backlog)
	clone("authorizations", "az1", "pending", "abandoned-", backlog)

	// pendingReads returns how many entries the partial indexes of pending
	// rows have returned, once the closed stores' sessions have sent their
	// statistics (at their end).
	pendingReads := func() int64 {
		t.Helper()
		var last int64 = -1
		for i, stable := 0, 0; i < 200 && stable < 5; i++ {
			exec(`SELECT pg_stat_clear_snapshot()`)
			var n int64
			if err := db.QueryRowContext(ctx, `SELECT COALESCE(SUM(idx_tup_read), 0) FROM pg_stat_user_indexes
				WHERE indexrelname IN ('orders_stale', 'authorizations_pending')`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == last {
				stable++
			} else {
				last, stable = n, 0
			}
			time.Sleep(100 * time.Millisecond)
		}
		return last
	}
	before := pendingReads()
	s, err = store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	ch := az.Challenges[0]
	must(t, s.StartChallenge(ctx, ch.ID, now))
	must(t, s.FinishChallenge(ctx, &ch, nil, now, now.Add(24*time.Hour)))
	must(t, s.StartIssuance(ctx, "ord1", "0b01", now))
	s.Close()
	if got := pendingReads() - before; got > 100 {
		t.Fatalf("three point updates read %d entries of the partial indexes of pending orders and authorizations (%d of each pending): they scanned the backlog instead of looking the rows up by key", got, backlog)
	}
}
