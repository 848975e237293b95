package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned (wrapped) by writes submitted after Close.
var ErrClosed = errors.New("store: closed")

// maxBatch bounds the jobs one group commit carries, so that one batch's
// transaction (and the wait of its first job) stays short.
const maxBatch = 64

// writer runs the write transactions of a SQLite store with group commit:
// one goroutine owns the single writer connection for the store's life and
// runs whatever jobs are queued when it becomes free as one transaction
// (BEGIN IMMEDIATE; per job SAVEPOINT … RELEASE, or ROLLBACK TO on the
// job's error; COMMIT). Every commit of a WAL transaction writes its
// changed pages as frames (one pwrite each) and invalidates every reader
// connection's page cache, so a batch of n jobs costs one commit instead of
// n; pages that several jobs change (index pages, the audit head, rate
// buckets) are written once. When the first job it takes is a write, the
// writer yields once (runtime.Gosched) before it gathers the others, so
// that request goroutines ready to run queue their writes into the same
// batch. A job is answered only after the COMMIT that
// contains it succeeded, so nothing acknowledged is lost (as with one
// transaction per call). A job whose context ends while it is queued does
// not run and returns the context's error; once started it runs to its
// end, with a context that is not cancelled: SQLite rolls back the whole
// transaction when a statement is interrupted, which would take the other
// jobs of the batch with it.
//
// A point job (doPoint) changes a handful of rows, as one ACME request
// does. Within a batch each job runs under a savepoint, for which SQLite
// keeps the original of every page the job changes in a statement journal;
// by default that journal is a temporary file, created, written once it
// passes 64 KiB (a flow's larger jobs do) and deleted, per transaction. A
// batch of point jobs only keeps it in memory (temp_store=MEMORY), where it
// holds one job's pages at a time. A batch with any other job (a sweep's
// deletes, an import) keeps the file: those may change so many pages that
// their copies would take much memory.
type writer struct {
	conn  *sql.Conn // the writer connection, owned by the run goroutine
	stmts map[string]*sql.Stmt

	jobs    chan *writeJob
	quit    chan struct{} // closed by stop
	stopped chan struct{} // closed when run has returned
	once    sync.Once

	commits     atomic.Int64  // transactions committed (for tests and benchmarks)
	turns       atomic.Int64  // rounds of run that ran at least one job
	readJobs    atomic.Int64  // read jobs run (Store.hot)
	writeJobs   atomic.Int64  // write jobs run, retries included
	catchUps    atomic.Int64  // checkpoints run on the writer connection (see catchUp)
	catchUpTime atomic.Int64  // their wall time, ns: the writer's stall
	ckpt        *checkpointer // asked for a checkpoint every checkpointCommits commits; nil without a connection for it
	tempMem     bool          // the connection's temp_store is MEMORY (see setTempStore)
}

// Job states (writeJob.state).
const (
	jobQueued int32 = iota
	jobRunning
	jobCancelled
)

// writeJob is one caller's transaction function.
type writeJob struct {
	ctx   context.Context // not cancelled: see writer
	fn    func(txConn) error
	state atomic.Int32
	done  chan error // buffered; receives the result once
	err   error      // fn's result, kept until the commit
	read  bool       // a read (see writer.read): runs outside any transaction
	point bool       // a point job (see writer)
}

// jobPanic carries a panic of a job's function back to its caller's
// goroutine, where it is raised again.
type jobPanic struct{ v any }

func (p jobPanic) Error() string { return fmt.Sprintf("store: write transaction panicked: %v", p.v) }

// newWriter takes db's connection (db must hold exactly one) for the
// writer goroutine and starts it, and with ckpt (a pool of one connection
// to the same database; may be nil) its checkpointer, whose rounds come
// every ckptInterval.
func newWriter(ctx context.Context, db, ckpt *sql.DB, ckptInterval time.Duration) (*writer, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("writer connection: %w", err)
	}
	w := &writer{conn: conn, stmts: map[string]*sql.Stmt{},
		jobs: make(chan *writeJob, maxBatch), quit: make(chan struct{}), stopped: make(chan struct{})}
	if ckpt != nil {
		w.ckpt = newCheckpointer(ckpt, ckptInterval)
	}
	go w.run()
	return w, nil
}

// do runs fn in a write transaction (possibly shared with other callers'
// functions, each under its own savepoint) and returns fn's error, or the
// commit's. fn's effects are committed exactly when do returns nil. fn may
// be called a second time when the shared transaction failed for a reason
// outside fn (its first run then rolled back), so it must not accumulate
// state across calls. A panic in fn is raised again in the caller.
func (w *writer) do(ctx context.Context, fn func(txConn) error) error {
	return w.submit(ctx, &writeJob{fn: fn})
}

// doPoint is do for fn that changes a handful of rows (a point job, see
// writer).
func (w *writer) doPoint(ctx context.Context, fn func(txConn) error) error {
	return w.submit(ctx, &writeJob{fn: fn, point: true})
}

// read runs fn, a short read, on the writer connection outside any
// transaction, between two batches: it sees everything committed before.
// The writer connection's page cache stays valid across commits, since
// they are its own, while each reader connection's cache is dropped by
// every commit and re-read with a pread per page (docs/performance.md).
func (w *writer) read(ctx context.Context, fn func(txConn) error) error {
	return w.submit(ctx, &writeJob{fn: fn, read: true})
}

func (w *writer) submit(ctx context.Context, j *writeJob) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j.ctx, j.done = context.WithoutCancel(ctx), make(chan error, 1)
	select {
	case w.jobs <- j:
	case <-w.stopped:
		return fmt.Errorf("write: %w", ErrClosed)
	case <-ctx.Done():
		return ctx.Err()
	}
	var err error
	select {
	case err = <-j.done:
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobCancelled) {
			return ctx.Err()
		}
		err = <-j.done // running: its outcome decides
	case <-w.stopped:
		if j.state.CompareAndSwap(jobQueued, jobCancelled) {
			return fmt.Errorf("write: %w", ErrClosed)
		}
		err = <-j.done
	}
	if p, ok := err.(jobPanic); ok {
		panic(p.v)
	}
	return err
}

// stop ends the writer goroutine after its current batch, fails the jobs
// still queued with ErrClosed and closes the connection.
func (w *writer) stop() error {
	var err error
	w.once.Do(func() {
		close(w.quit)
		<-w.stopped
	drain:
		for {
			select {
			case j := <-w.jobs:
				if j.state.CompareAndSwap(jobQueued, jobCancelled) {
					j.done <- fmt.Errorf("write: %w", ErrClosed)
				}
			default:
				break drain
			}
		}
		for _, st := range w.stmts {
			st.Close()
		}
		err = w.conn.Close()
		if w.ckpt != nil {
			err = errors.Join(err, w.ckpt.stop())
		}
	})
	return err
}

func (w *writer) run() {
	defer close(w.stopped)
	batch := make([]*writeJob, 0, maxBatch)
	for {
		select {
		case <-w.quit:
			return
		case j := <-w.jobs:
			batch = append(batch[:0], j)
			if !j.read {
				// Let the goroutines that are ready to run go first: under
				// load some of them are about to queue writes of their
				// own, which then share this batch's commit instead of
				// each making the next one (docs/performance.md, "Session
				// 6"). With nothing else ready to run this returns at once.
				runtime.Gosched()
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case j := <-w.jobs:
				batch = append(batch, j)
			default:
				break fill
			}
		}
		// Claim the jobs; those cancelled while queued are not run. Reads
		// run at once, before the batch's transaction.
		live := batch[:0]
		reads := 0
		for _, j := range batch {
			if !j.state.CompareAndSwap(jobQueued, jobRunning) {
				continue
			}
			if j.read {
				reads++
				j.done <- w.call(j)
				continue
			}
			live = append(live, j)
		}
		if reads+len(live) > 0 {
			w.turns.Add(1)
			w.readJobs.Add(int64(reads))
			w.writeJobs.Add(int64(len(live)))
		}
		if len(live) > 0 {
			w.catchUp()
			w.setTempStore(allPoint(live))
			w.runBatch(live)
		}
		clear(batch[:cap(batch)])
	}
}

// runBatch runs jobs in one transaction and answers each of them. When the
// transaction fails for a reason outside the jobs (BEGIN, RELEASE or COMMIT
// failing, or a job's error having ended the whole transaction), each job
// that had not failed on its own runs again in a transaction of its own.
func (w *writer) runBatch(jobs []*writeJob) {
	ctx := context.Background()
	if err := w.begin(ctx); err != nil {
		for _, j := range jobs {
			j.done <- err
		}
		return
	}
	if len(jobs) == 1 {
		j := jobs[0]
		if j.err = w.call(j); j.err != nil {
			w.rollback(ctx)
			j.done <- j.err
			return
		}
		if err := w.commit(ctx); err != nil {
			j.done <- err
			return
		}
		j.done <- nil
		return
	}
	ok := true
	for _, j := range jobs {
		if _, err := w.exec(ctx, `SAVEPOINT job`); err != nil {
			ok = false
			break
		}
		if j.err = w.call(j); j.err != nil {
			// The job's changes go; the transaction and the other jobs'
			// changes stay (unless the error ended the transaction:
			// then ROLLBACK TO fails).
			if _, err := w.exec(ctx, `ROLLBACK TO job`); err != nil {
				ok = false
				break
			}
		}
		if _, err := w.exec(ctx, `RELEASE job`); err != nil {
			ok = false
			break
		}
	}
	if ok {
		if err := w.commit(ctx); err == nil {
			for _, j := range jobs {
				j.done <- j.err
			}
			return
		}
	} else {
		w.rollback(ctx)
	}
	// The transaction is gone: a job that failed on its own keeps its
	// error, every other one runs again alone.
	for _, j := range jobs {
		if j.err != nil {
			j.done <- j.err
			continue
		}
		w.writeJobs.Add(1) // run again: WriterStats counts it again
		w.runBatch([]*writeJob{j})
	}
}

// allPoint reports whether every job is a point job.
func allPoint(jobs []*writeJob) bool {
	for _, j := range jobs {
		if !j.point {
			return false
		}
	}
	return true
}

// setTempStore makes the connection keep statement journals in memory
// (mem) or in temporary files, for the next transaction (SQLite decides at
// BEGIN). When the pragma fails the setting stays as it was: either way
// only where the journal lives differs.
func (w *writer) setTempStore(mem bool) {
	if mem == w.tempMem {
		return
	}
	q := `PRAGMA temp_store = FILE`
	if mem {
		q = `PRAGMA temp_store = MEMORY`
	}
	if _, err := w.exec(context.Background(), q); err == nil {
		w.tempMem = mem
	}
}

// catchUp checkpoints, on the writer connection, the WAL frames a
// background checkpoint left behind (see checkpointer), so that the next
// write transaction starts the WAL file over.
func (w *writer) catchUp() {
	if w.ckpt == nil || !w.ckpt.caughtUp.CompareAndSwap(true, false) {
		return
	}
	t0 := time.Now()
	_, _ = w.exec(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
	w.catchUps.Add(1)
	w.catchUpTime.Add(int64(time.Since(t0)))
}

// call runs j's function on the writer connection, turning a panic into a
// jobPanic error.
func (w *writer) call(j *writeJob) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = jobPanic{v: v}
		}
	}()
	return j.fn(txConn{w: w, wctx: j.ctx})
}

// begin starts a write transaction. A transaction left open by a failed
// ROLLBACK or COMMIT is rolled back and BEGIN tried once more.
func (w *writer) begin(ctx context.Context) error {
	if _, err := w.exec(ctx, `BEGIN IMMEDIATE`); err != nil {
		w.rollback(ctx)
		if _, err := w.exec(ctx, `BEGIN IMMEDIATE`); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
	}
	return nil
}

func (w *writer) commit(ctx context.Context) error {
	if _, err := w.exec(ctx, `COMMIT`); err != nil {
		w.rollback(ctx)
		return fmt.Errorf("commit: %w", err)
	}
	if n := w.commits.Add(1); n%checkpointCommits == 0 && w.ckpt != nil {
		w.ckpt.request()
	}
	return nil
}

// rollback ends the open transaction, if any (best effort: the next begin
// tries again).
func (w *writer) rollback(ctx context.Context) { _, _ = w.exec(ctx, `ROLLBACK`) }

// stmt returns q prepared on the writer connection (only the run goroutine
// calls it).
func (w *writer) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := w.stmts[q]; ok {
		return st, nil
	}
	st, err := w.conn.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	w.stmts[q] = st
	return st, nil
}

func (w *writer) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := w.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}
