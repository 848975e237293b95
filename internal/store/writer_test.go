package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// openWriterTest opens a fresh SQLite store for a group-commit test.
func openWriterTest(t *testing.T) *Store {
	t.Helper()
	s, err := OpenSQLite(context.Background(), t.TempDir()+"/certgate.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// putSetting is a job function inserting one settings row.
func putSetting(name string) func(txConn) error {
	return func(tx txConn) error {
		_, err := tx.ExecContext(context.Background(), `INSERT INTO settings (name, value) VALUES (?, 'v')`, name)
		return err
	}
}

// hasSetting reports whether the settings row name was committed.
func hasSetting(t *testing.T, s *Store, name string) bool {
	t.Helper()
	_, err := s.GetSetting(context.Background(), name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// blockWriter submits a job that holds the writer until the returned
// release is called, and waits until that job runs, so that jobs submitted
// meanwhile queue up and run together as the next batch. wait returns the
// blocking job's result.
func blockWriter(t *testing.T, s *Store) (release func(), wait func() error) {
	t.Helper()
	started, unblock := make(chan struct{}), make(chan struct{})
	res := make(chan error, 1)
	go func() {
		res <- s.tx(context.Background(), func(tx txConn) error {
			close(started)
			<-unblock
			return putSetting("blocker")(tx)
		})
	}()
	<-started
	var once sync.Once
	release = func() { once.Do(func() { close(unblock) }) }
	t.Cleanup(release)
	return release, func() error { return <-res }
}

// waitQueued waits until n jobs are queued for the writer.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.wr.jobs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs queued, want %d", len(s.wr.jobs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestGroupCommitFailingJob checks that jobs queued together commit in one
// transaction, and that one job's error rolls back only that job's
// changes and reaches only its caller.
func TestGroupCommitFailingJob(t *testing.T) {
	s := openWriterTest(t)
	release, wait := blockWriter(t, s)
	commits0 := s.wr.commits.Load()
	errBoom := errors.New("boom")
	jobs := []func(txConn) error{
		putSetting("a"),
		func(tx txConn) error {
			if err := putSetting("b")(tx); err != nil {
				return err
			}
			return errBoom
		},
		putSetting("a"), // unique violation: its statement fails
		putSetting("c"),
	}
	errs := make([]chan error, len(jobs))
	for i, fn := range jobs {
		errs[i] = make(chan error, 1)
		go func() { errs[i] <- s.tx(context.Background(), fn) }()
		waitQueued(t, s, i+1) // keep the queue order
	}
	release()
	if err := wait(); err != nil {
		t.Fatalf("blocking job: %v", err)
	}
	if err := <-errs[0]; err != nil {
		t.Errorf("job a: %v", err)
	}
	if err := <-errs[1]; !errors.Is(err, errBoom) {
		t.Errorf("job b: %v, want %v", err, errBoom)
	}
	if err := <-errs[2]; !isUniqueViolation(err) {
		t.Errorf("second job a: %v, want a unique violation", err)
	}
	if err := <-errs[3]; err != nil {
		t.Errorf("job c: %v", err)
	}
	for name, want := range map[string]bool{"blocker": true, "a": true, "b": false, "c": true} {
		if got := hasSetting(t, s, name); got != want {
			t.Errorf("setting %s committed: %v, want %v", name, got, want)
		}
	}
	if n := s.wr.commits.Load() - commits0; n != 2 {
		t.Errorf("%d commits for the blocking job and one batch, want 2", n)
	}
}

// TestGroupCommitBrokenTransaction checks that a job ending the shared
// transaction itself (here by ROLLBACK) gets its own error while the other
// jobs of its batch run again alone and commit.
func TestGroupCommitBrokenTransaction(t *testing.T) {
	s := openWriterTest(t)
	release, wait := blockWriter(t, s)
	errBoom := errors.New("boom")
	jobs := []func(txConn) error{
		putSetting("a"),
		func(tx txConn) error {
			if _, err := tx.ExecContext(context.Background(), `ROLLBACK`); err != nil {
				return err
			}
			return errBoom
		},
		putSetting("c"),
	}
	errs := make([]chan error, len(jobs))
	for i, fn := range jobs {
		errs[i] = make(chan error, 1)
		go func() { errs[i] <- s.tx(context.Background(), fn) }()
		waitQueued(t, s, i+1)
	}
	st0, _ := s.WriterStats()
	release()
	if err := wait(); err != nil {
		t.Fatalf("blocking job: %v", err)
	}
	if err := <-errs[0]; err != nil {
		t.Errorf("job a: %v", err)
	}
	if err := <-errs[1]; !errors.Is(err, errBoom) {
		t.Errorf("job b: %v, want %v", err, errBoom)
	}
	if err := <-errs[2]; err != nil {
		t.Errorf("job c: %v", err)
	}
	// The batch's three jobs, then a and c again alone (WriterStats: a
	// write run again counts again), each alone committed.
	st, _ := s.WriterStats()
	if d := st.WriteJobs - st0.WriteJobs; d != 5 {
		t.Errorf("WriterStats.WriteJobs grew by %d for a batch of 3 of which 2 ran again, want 5", d)
	}
	if d := st.Commits - st0.Commits; d != 3 {
		t.Errorf("WriterStats.Commits grew by %d, want 3 (the blocker, a, c)", d)
	}
	for _, name := range []string{"blocker", "a", "c"} {
		if !hasSetting(t, s, name) {
			t.Errorf("setting %s not committed", name)
		}
	}
	// The writer still works.
	if err := s.tx(context.Background(), putSetting("d")); err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitCancelledQueuedJob checks that a job whose context ends
// while it waits in the queue returns the context's error and never runs,
// and that a job whose context ends while it runs still completes.
func TestGroupCommitCancelledQueuedJob(t *testing.T) {
	s := openWriterTest(t)
	release, wait := blockWriter(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Bool
	res := make(chan error, 1)
	go func() {
		res <- s.tx(ctx, func(tx txConn) error {
			ran.Store(true)
			return putSetting("cancelled")(tx)
		})
	}()
	waitQueued(t, s, 1)
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled queued job: %v, want %v", err, context.Canceled)
	}
	release()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	// A job after it runs, so the cancelled one had its turn.
	if err := s.tx(context.Background(), putSetting("after")); err != nil {
		t.Fatal(err)
	}
	if ran.Load() || hasSetting(t, s, "cancelled") {
		t.Error("the cancelled job ran")
	}

	// Cancelled while running: the job's statements still run and commit.
	ctx, cancel = context.WithCancel(context.Background())
	started, unblock := make(chan struct{}), make(chan struct{})
	go func() {
		res <- s.tx(ctx, func(tx txConn) error {
			close(started)
			<-unblock
			_, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES ('running', 'v')`)
			return err
		})
	}()
	<-started
	cancel()
	close(unblock)
	if err := <-res; err != nil {
		t.Fatalf("job cancelled while running: %v", err)
	}
	if !hasSetting(t, s, "running") {
		t.Error("the job cancelled while running did not commit")
	}
}

// TestGroupCommitPanic checks that a panic in a job's function reaches its
// caller and leaves the other jobs of the batch and the writer working.
func TestGroupCommitPanic(t *testing.T) {
	s := openWriterTest(t)
	release, wait := blockWriter(t, s)
	res := make(chan error, 2)
	recovered := make(chan any, 1)
	go func() {
		defer func() { recovered <- recover() }()
		_ = s.tx(context.Background(), func(tx txConn) error {
			if err := putSetting("p")(tx); err != nil {
				return err
			}
			panic("job panic")
		})
	}()
	waitQueued(t, s, 1)
	go func() { res <- s.tx(context.Background(), putSetting("a")) }()
	waitQueued(t, s, 2)
	release()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if v := <-recovered; v != "job panic" {
		t.Errorf("recovered %v, want the job's panic", v)
	}
	if err := <-res; err != nil {
		t.Errorf("job a: %v", err)
	}
	if hasSetting(t, s, "p") || !hasSetting(t, s, "a") {
		t.Error("the panicking job's changes were kept, or the other job's lost")
	}
}

// TestGroupCommitConcurrent runs many read-modify-write transactions at
// once: none may see another's uncommitted or lost state.
func TestGroupCommitConcurrent(t *testing.T) {
	s := openWriterTest(t)
	ctx := context.Background()
	if _, err := s.InitSetting(ctx, "counter", "0"); err != nil {
		t.Fatal(err)
	}
	const n = 200
	commits0 := s.wr.commits.Load()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- s.tx(ctx, func(tx txConn) error {
				var v int
				if err := tx.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM settings WHERE name = 'counter'`).Scan(&v); err != nil {
					return err
				}
				if i%10 == 0 {
					return fmt.Errorf("job %d fails", i)
				}
				_, err := tx.ExecContext(ctx, `UPDATE settings SET value = ? WHERE name = 'counter'`, fmt.Sprint(v+1))
				return err
			})
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
		}
	}
	if failed != n/10 {
		t.Errorf("%d jobs failed, want %d", failed, n/10)
	}
	v, err := s.GetSetting(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint(n - n/10); v != want {
		t.Errorf("counter %s, want %s", v, want)
	}
	t.Logf("%d jobs in %d commits", n, s.wr.commits.Load()-commits0)
}

// TestGroupCommitClose checks that Close fails queued and later writes
// with ErrClosed, without a panic, and can be called twice.
func TestGroupCommitClose(t *testing.T) {
	s, err := OpenSQLite(context.Background(), t.TempDir()+"/certgate.db")
	if err != nil {
		t.Fatal(err)
	}
	release, wait := blockWriter(t, s)
	res := make(chan error, 1)
	go func() { res <- s.tx(context.Background(), putSetting("queued")) }()
	waitQueued(t, s, 1)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	time.Sleep(10 * time.Millisecond) // let Close start waiting for the batch
	release()
	if err := wait(); err != nil {
		t.Errorf("blocking job: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("close: %v", err)
	}
	if err := <-res; err != nil && !errors.Is(err, ErrClosed) {
		t.Errorf("queued job: %v, want nil or ErrClosed", err)
	}
	if err := s.tx(context.Background(), putSetting("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("write after close: %v, want ErrClosed", err)
	}
	if err := s.wr.stop(); err != nil {
		t.Errorf("second stop: %v", err)
	}
}

// TestGroupCommitReads checks reads on the writer connection (Store.hot):
// a read after a write returned sees it, and a read queued with a batch
// never sees a change of that batch that is then rolled back.
func TestGroupCommitReads(t *testing.T) {
	s := openWriterTest(t)
	ctx := context.Background()
	if err := s.tx(ctx, putSetting("before")); err != nil {
		t.Fatal(err)
	}
	readSetting := func(name string) (bool, error) {
		var found bool
		err := s.hot(ctx, func(q querier) error {
			var v string
			err := q.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
			found = err == nil
			if errors.Is(err, sql.ErrNoRows) {
				err = nil
			}
			return err
		})
		return found, err
	}
	if ok, err := readSetting("before"); err != nil || !ok {
		t.Fatalf("read after write: %v, %v; want found", ok, err)
	}

	release, wait := blockWriter(t, s)
	res := make(chan error, 2)
	go func() {
		res <- s.tx(ctx, func(tx txConn) error {
			if err := putSetting("rolledback")(tx); err != nil {
				return err
			}
			return errors.New("fails")
		})
	}()
	waitQueued(t, s, 1)
	type readResult struct {
		found bool
		err   error
	}
	read := make(chan readResult, 1)
	go func() {
		found, err := readSetting("rolledback")
		read <- readResult{found, err}
	}()
	waitQueued(t, s, 2)
	release()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if err := <-res; err == nil {
		t.Fatal("the failing job succeeded")
	}
	if r := <-read; r.err != nil || r.found {
		t.Fatalf("read queued with the batch: found %v, %v; want not found", r.found, r.err)
	}
	if ok, err := readSetting("blocker"); err != nil || !ok {
		t.Fatalf("read of the committed blocker: %v, %v", ok, err)
	}
}

// TestCheckpointer checks that a checkpoint of the background
// checkpointer copies the whole WAL into the database file while the store
// is open and the writer idle.
func TestCheckpointer(t *testing.T) {
	s := openWriterTest(t)
	ctx := context.Background()
	for i := range 20 {
		if err := s.tx(ctx, putSetting(fmt.Sprint("k", i))); err != nil {
			t.Fatal(err)
		}
	}
	wal, done, err := s.wr.ckpt.checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if wal == 0 || done != wal {
		t.Errorf("checkpoint: %d of %d WAL pages in the database file, want all of a non-empty WAL", done, wal)
	}
	if !hasSetting(t, s, "k19") {
		t.Error("the last row is missing after the checkpoint")
	}
}

// TestCheckpointerBoundsWAL checks that under a steady stream of commits
// the WAL file starts over after checkpoints instead of growing with every
// commit: 6,000 commits of ~1 KB rows write ~64 MiB of frames.
func TestCheckpointerBoundsWAL(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSQLite(context.Background(), dir+"/certgate.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	val := strings.Repeat("x", 1000)
	insert := func(i int) {
		t.Helper()
		if _, err := s.exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, fmt.Sprint("k", i), val); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3000 {
		insert(i)
	}
	// However far the background checkpoints fell behind (they do under
	// load), the writer's own autocheckpoint bounds the WAL.
	fi, err := os.Stat(dir + "/certgate.db-wal")
	if err != nil {
		t.Fatal(err)
	}
	if max := int64(sqliteAutocheckpointPages+2000) * 4096; fi.Size() > max {
		t.Errorf("WAL file %d MiB after 3,000 commits, above the %d-page backstop", fi.Size()>>20, sqliteAutocheckpointPages)
	}
	// When a round hands the last frames over to the writer (caughtUp),
	// the writer checkpoints them before its next write, which then
	// starts the WAL over, so it holds only that write's frames.
	ckpt := s.wr.ckpt
	if _, _, err := ckpt.checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	ckpt.caughtUp.Store(true)
	insert(3000)
	walPages, _, err := ckpt.checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if walPages > 16 {
		t.Errorf("WAL holds %d pages after a checkpoint and one write: it did not start over", walPages)
	}
}

// TestPointJobsJournalInMemory: a batch of point jobs runs with SQLite's
// statement journal in memory (temp_store MEMORY), a batch with any other
// job with temporary files (FILE); and a point job's error still rolls
// back exactly its own changes, here over 64 KiB of pages that existed
// before the batch (journaled in memory).
func TestPointJobsJournalInMemory(t *testing.T) {
	s := openWriterTest(t)
	ctx := context.Background()
	big := strings.Repeat("v", 1000)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.tx(ctx, func(tx txConn) error {
		for i := range 300 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, fmt.Sprintf("big%03d", i), big); err != nil {
				return err
			}
		}
		return nil
	}))
	// tempStore returns a job that records the connection's temp_store and
	// inserts setting name.
	tempStore := func(name string, got *int) func(txConn) error {
		return func(tx txConn) error {
			if err := tx.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(got); err != nil {
				return err
			}
			return putSetting(name)(tx)
		}
	}
	const file, memory = 1, 2
	errBoom := errors.New("boom")
	batch := func(jobs ...*writeJob) []error {
		t.Helper()
		release, wait := blockWriter(t, s)
		errs := make([]chan error, len(jobs))
		for i, j := range jobs {
			errs[i] = make(chan error, 1)
			go func() { errs[i] <- s.wr.submit(ctx, j) }()
			waitQueued(t, s, i+1)
		}
		release()
		_ = wait() // the blocker's insert fails from the second batch on: it only holds the writer
		out := make([]error, len(jobs))
		for i := range errs {
			out[i] = <-errs[i]
		}
		return out
	}
	var a, b, c, d int
	errs := batch(
		&writeJob{point: true, fn: func(tx txConn) error {
			if err := tempStore("a", &a)(tx); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE settings SET value = 'changed' WHERE name LIKE 'big%'`); err != nil {
				return err
			}
			return errBoom
		}},
		&writeJob{point: true, fn: tempStore("b", &b)},
	)
	if !errors.Is(errs[0], errBoom) || errs[1] != nil {
		t.Fatalf("point batch: %v", errs)
	}
	if a != memory || b != memory {
		t.Errorf("temp_store in a batch of point jobs = %d, %d; want %d (MEMORY)", a, b, memory)
	}
	var changed int
	must(s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM settings WHERE name LIKE 'big%' AND value <> ?`, big).Scan(&changed))
	if changed != 0 || hasSetting(t, s, "a") || !hasSetting(t, s, "b") {
		t.Fatalf("after the failed point job: %d rows changed, a %v, b %v; want 0, false, true", changed, hasSetting(t, s, "a"), hasSetting(t, s, "b"))
	}
	errs = batch(&writeJob{point: true, fn: tempStore("c", &c)}, &writeJob{fn: tempStore("d", &d)})
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("mixed batch: %v", errs)
	}
	if c != file || d != file {
		t.Errorf("temp_store in a batch with a job that is not a point job = %d, %d; want %d (FILE)", c, d, file)
	}
	if err := s.wr.doPoint(ctx, tempStore("e", &a)); err != nil || a != memory {
		t.Errorf("a point job alone: temp_store %d, %v; want %d", a, err, memory)
	}
}
