package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// WAL checkpoints of a SQLite store run on a connection of their own, off
// the writer: an automatic checkpoint runs inside the commit that crosses
// wal_autocheckpoint pages and copies the WAL's pages into the database file
// with two fsyncs, and every read and write of the store, which all go
// through the writer goroutine, would wait for it. A checkpoint that runs
// while the writer commits cannot copy the frames appended meanwhile, and
// SQLite starts the WAL file over only after a checkpoint that left no
// frame behind; so after each background round the writer, between two
// batches, checkpoints the frames left on its own connection
// (writer.catchUp), and the next write starts the WAL over. That catch-up
// (an fsync of each file, and one of the WAL's header at the start-over)
// is what the writer waits for: the price of a bounded WAL. A round is
// therefore two checkpoints: the first copies the WAL (a few seconds of
// commits under sustained load), the second the frames committed while the
// first ran, so that the writer's catch-up copies only what came during the
// short second one, however large the WAL grew; and rounds come every
// checkpointCommits commits, so that the catch-up's fixed cost (its
// fsyncs, which on a large database with random-key index pages spread over
// the file took 13-35 ms) is paid half as often (docs/performance.md,
// "Session 8: 1,000,000 certificates"; "Session 7: checkpoints" gives the
// shorter rounds tried and not kept: a smaller WAL for more CPU). The
// writer connection keeps a high wal_autocheckpoint
// (sqliteAutocheckpointPages) only as a bound on the WAL should this fall
// behind, and a journal_size_limit (walSizeLimit) that trims a WAL file a
// burst grew when the WAL next starts over.
//
// Crash safety is SQLite's with journal_mode=WAL and synchronous=NORMAL
// (and, against a machine crash, walSyncer's fsync of the WAL after a
// durable commit): every checkpoint is an ordinary PASSIVE one,
// which syncs the WAL before it copies pages and the database file before
// it records them as copied, so a process killed at any point loses no
// committed transaction (TestKillDuringCheckpoints).
const (
	// checkpointCommits is how many commits of the writer ask for a
	// round of checkpoints (~25,000 WAL pages, 100 MB, end to end: about
	// two seconds of sustained load).
	checkpointCommits = 2000
	// checkpointInterval is how often a checkpoint runs anyway when
	// anything was committed.
	checkpointInterval = 5 * time.Second
	// sqliteAutocheckpointPages is the writer connection's own
	// wal_autocheckpoint (4 KiB pages): the backstop above.
	sqliteAutocheckpointPages = 80000
	// walSizeLimit is the writer connection's journal_size_limit (bytes):
	// when the WAL starts over, SQLite truncates a file larger than this
	// (left by a burst such as an import) back to it. It is above the
	// backstop's 328 MB, so that the file of a WAL under sustained load
	// (~115 MB end to end, ~300 MB in BenchmarkStoreFlowWrites) is not cut
	// and grown again at every start-over.
	walSizeLimit = 384 << 20
)

// checkpointer runs rounds of PASSIVE checkpoints (which never wait for
// readers or the writer: they copy what they can) when kicked or every
// interval.
type checkpointer struct {
	db          *sql.DB       // one connection
	interval    time.Duration // checkpointInterval but in tests
	caughtUp    atomic.Bool   // set after a round: the writer finishes it
	checkpoints atomic.Int64  // checkpoints run (for tests and benchmarks)
	maxWAL      atomic.Int64  // the largest WAL a checkpoint found, in pages
	between     func()        // tests: called between a round's two checkpoints
	kick        chan struct{}
	cancel      context.CancelFunc
	done        chan struct{}
	once        sync.Once
}

// newCheckpointer starts the checkpointer, which runs a checkpoint when
// requested or every interval.
func newCheckpointer(db *sql.DB, interval time.Duration) *checkpointer {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, interval: interval, kick: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go c.run(ctx)
	return c
}

// request asks for a checkpoint without waiting.
func (c *checkpointer) request() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		case <-t.C:
		}
		if c.round(ctx) == nil {
			c.caughtUp.Store(true)
		}
	}
}

// round runs a round's two checkpoints: the first copies the WAL, the
// second the frames committed while the first ran (under load the first
// takes tens to hundreds of milliseconds), which the writer's catch-up
// would otherwise copy with the writer waiting. An error of the first
// (such as SQLITE_BUSY while another process checkpoints, or the
// interruption by stop) leaves the work to the next round; one of the
// second only leaves more frames to the catch-up.
func (c *checkpointer) round(ctx context.Context) error {
	if _, _, err := c.checkpoint(ctx); err != nil {
		return err
	}
	if c.between != nil {
		c.between()
	}
	_, _, _ = c.checkpoint(ctx)
	return nil
}

// checkpoint runs one PASSIVE checkpoint and returns the WAL's size and
// how much of it is now in the database file, in pages.
func (c *checkpointer) checkpoint(ctx context.Context) (walPages, checkpointed int, err error) {
	var busy int
	if err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &walPages, &checkpointed); err != nil {
		return 0, 0, fmt.Errorf("wal checkpoint: %w", err)
	}
	c.checkpoints.Add(1)
	if int64(walPages) > c.maxWAL.Load() {
		c.maxWAL.Store(int64(walPages))
	}
	return walPages, checkpointed, nil
}

// stop ends the goroutine (interrupting a checkpoint in progress, which
// SQLite then leaves unrecorded) and closes the connection.
func (c *checkpointer) stop() error {
	var err error
	c.once.Do(func() {
		c.cancel()
		<-c.done
		err = c.db.Close()
	})
	return err
}

// WriterStats counts the work of a SQLite store's writer goroutine since
// the store was opened (all counters only grow): what a request on the
// ACME path waits for when it reads (Store.hot) or writes through it.
type WriterStats struct {
	// Turns is the writer's rounds that ran at least one job: each takes
	// the reads queued at that moment and one transaction of the writes
	// (group commit).
	Turns int64
	// ReadJobs and WriteJobs are the jobs run (a write job run again
	// alone after its shared transaction failed counts again).
	ReadJobs, WriteJobs int64
	// Commits is the write transactions committed.
	Commits int64
	// WALSyncs is the fsyncs of the WAL that made durable commits
	// durable (walSyncer; one covers every commit before it).
	WALSyncs int64
	// CatchUps is the checkpoints the writer ran itself so that the WAL
	// can start over; CatchUpSeconds their wall time in seconds, during
	// which every queued job waited.
	CatchUps       int64
	CatchUpSeconds float64 // see CatchUps
}

// WriterStats returns the counters of the SQLite writer goroutine; ok is
// false for a PostgreSQL store, which has none.
func (s *Store) WriterStats() (st WriterStats, ok bool) {
	if s.wr == nil {
		return WriterStats{}, false
	}
	w := s.wr
	return WriterStats{Turns: w.turns.Load(), ReadJobs: w.readJobs.Load(), WriteJobs: w.writeJobs.Load(),
		Commits: w.commits.Load(), WALSyncs: s.wal.syncs.Load(), CatchUps: w.catchUps.Load(),
		CatchUpSeconds: time.Duration(w.catchUpTime.Load()).Seconds()}, true
}
