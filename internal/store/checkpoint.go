package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// WAL checkpoints of a SQLite store run on a connection of their own, off
// the writer goroutine, which runs every write and the request path's
// reads: a checkpoint copies the WAL's pages into the database file and
// calls fsync twice (the WAL, then the database file), and every job
// queued for the writer would wait for it.
//
// SQLite starts the WAL file over (writes its next frames from the start
// of the file) only when a write transaction begins after a checkpoint
// left no frame behind and no reader holds a snapshot that uses the WAL; a
// checkpoint that runs while the writer commits cannot copy the frames
// appended meanwhile, and under load the writer commits every millisecond
// or so while a checkpoint's fsyncs take milliseconds. So every
// checkpointInterval, when the writer committed anything, the
// checkpointer runs a PASSIVE checkpoint (which never waits for the
// writer or readers: it copies what it can). When the WAL then holds over
// walRestartPages, it waits (up to checkpointIdleWait) for the writer to
// find its queue empty and checkpoints again, which copies only the
// frames committed during the first; if commits came in meanwhile too,
// the writer checkpoints the last few frames itself before its next batch
// (writer.catchUp), and that batch starts the WAL over. That last step is
// the one the writer waits for (an fsync of each file, and one of the
// WAL's header when it starts over): what keeps the WAL bounded under a
// writer that is never idle for long.
//
// The writer connection keeps SQLite's own automatic checkpoint at
// sqliteAutocheckpointPages, a bound that the rounds above never reach,
// should the checkpointer fail (another process holding the checkpoint
// lock, say), and a journal_size_limit (walSizeLimit) that trims a WAL
// file a burst left larger when the WAL starts over.
//
// Crash safety is SQLite's with journal_mode=WAL and synchronous=NORMAL,
// unchanged: every checkpoint is an ordinary PASSIVE one, which syncs the
// WAL before it copies pages and the database file before it records them
// as copied, so a process killed at any point loses no committed
// transaction (TestKillDuringCheckpoints).
const (
	// checkpointInterval is how often the checkpointer runs when the
	// writer committed since its last round.
	checkpointInterval = 500 * time.Millisecond
	// walRestartPages (4 KiB pages, 16 MiB) is the WAL size past which a
	// round makes the WAL start over; the WAL reaches it plus what the
	// writer commits in one interval.
	walRestartPages = 4096
	// checkpointIdleWait is how long the second checkpoint of such a
	// round waits for the writer to be idle before it runs anyway.
	checkpointIdleWait = 20 * time.Millisecond
	// sqliteAutocheckpointPages is the writer connection's own
	// wal_autocheckpoint (4 KiB pages): the last bound above.
	sqliteAutocheckpointPages = 20000
	// walSizeLimit is the writer connection's journal_size_limit (bytes):
	// when the WAL starts over, SQLite truncates a file larger than this
	// (left by a burst such as an import) back to it.
	walSizeLimit = 32 << 20
)

// errCheckpointBusy is checkpoint's error when another connection (the
// writer's backstop, another process) held the checkpoint lock.
var errCheckpointBusy = errors.New("another checkpoint is running")

// checkpointer runs the store's background checkpoints (see above) on its
// own connection.
type checkpointer struct {
	db       *sql.DB       // one connection
	commits  *atomic.Int64 // the writer's commit count
	interval time.Duration // between rounds: checkpointInterval but in tests
	caughtUp atomic.Bool   // set when the writer should finish a checkpoint
	wantIdle atomic.Bool   // set while waiting for the writer to be idle
	idle     chan struct{} // the writer found its queue empty (cap 1)
	stats    checkpointStats
	cancel   context.CancelFunc
	done     chan struct{}
	once     sync.Once
}

// checkpointStats counts the checkpointer's work, for tests and
// benchmarks.
type checkpointStats struct {
	checkpoints atomic.Int64 // PASSIVE checkpoints run
	complete    atomic.Int64 // of which left no frame behind
	handedOver  atomic.Int64 // rounds left to the writer (caughtUp)
	maxWAL      atomic.Int64 // the largest WAL a checkpoint found, in pages
}

// newCheckpointer starts the checkpointer of a store whose writer counts
// its commits in commits, with rounds every interval.
func newCheckpointer(db *sql.DB, commits *atomic.Int64, interval time.Duration) *checkpointer {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, commits: commits, interval: interval,
		idle: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go c.run(ctx)
	return c
}

// writerIdle is called by the writer goroutine when it finds no job
// queued; it does not block.
func (c *checkpointer) writerIdle() {
	if c.wantIdle.Load() {
		select {
		case c.idle <- struct{}{}:
		default:
		}
	}
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	t := time.NewTimer(c.interval)
	defer t.Stop()
	last := c.commits.Load()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Nothing committed, or the writer has yet to finish the last
		// round (two checkpoints at once: one of them gets SQLITE_BUSY).
		if n := c.commits.Load(); n != last && !c.caughtUp.Load() {
			last = n
			c.round(ctx)
		}
		t.Reset(c.interval)
	}
}

// round runs one checkpoint; when the WAL holds over walRestartPages and
// frames were committed meanwhile, it waits for the writer to be idle and
// checkpoints those (see above), and if that did not finish, leaves the
// last few frames to the writer. Errors (SQLITE_BUSY while another
// process checkpoints, an interrupted checkpoint at Close) leave the work
// to the next round.
func (c *checkpointer) round(ctx context.Context) {
	wal, full, err := c.checkpointAll(ctx)
	if err != nil || full || wal <= walRestartPages {
		return
	}
	if !c.waitIdle(ctx) {
		return
	}
	if _, full, err = c.checkpointAll(ctx); err == nil && !full {
		c.stats.handedOver.Add(1)
		c.caughtUp.Store(true)
	}
}

// checkpointAll runs one checkpoint and reports the WAL's size (pages) and
// whether the checkpoint left no frame behind: it copied every frame it
// saw, and the writer committed none meanwhile (a PASSIVE checkpoint
// reports the WAL as it found it at its start).
func (c *checkpointer) checkpointAll(ctx context.Context) (walPages int, full bool, err error) {
	n := c.commits.Load()
	wal, done, err := c.checkpoint(ctx)
	if err != nil {
		return 0, false, err
	}
	full = done == wal && c.commits.Load() == n
	if full {
		c.stats.complete.Add(1)
	}
	if wal > int(c.stats.maxWAL.Load()) {
		c.stats.maxWAL.Store(int64(wal))
	}
	return wal, full, nil
}

// waitIdle waits until the writer reports its queue empty, at most
// checkpointIdleWait; it returns false when ctx ended.
func (c *checkpointer) waitIdle(ctx context.Context) bool {
	select { // a report from before this round is stale
	case <-c.idle:
	default:
	}
	c.wantIdle.Store(true)
	defer c.wantIdle.Store(false)
	t := time.NewTimer(checkpointIdleWait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-c.idle:
	case <-t.C:
	}
	return true
}

// checkpoint runs one PASSIVE checkpoint and returns the WAL's size and
// how much of it is now in the database file, in pages.
func (c *checkpointer) checkpoint(ctx context.Context) (walPages, checkpointed int, err error) {
	var busy int
	if err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &walPages, &checkpointed); err != nil {
		return 0, 0, fmt.Errorf("wal checkpoint: %w", err)
	}
	if busy != 0 { // another connection was checkpointing
		return 0, 0, fmt.Errorf("wal checkpoint: %w", errCheckpointBusy)
	}
	c.stats.checkpoints.Add(1)
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
