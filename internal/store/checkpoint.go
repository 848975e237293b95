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
// frame behind; so after each background checkpoint the writer, between
// two batches, checkpoints the few frames left on its own connection
// (writer.catchUp), and the next write starts the WAL over. The writer
// connection keeps a high wal_autocheckpoint (sqliteAutocheckpointPages)
// only as a bound on the WAL should this fall behind.
const (
	// checkpointCommits is how many commits of the writer ask for a
	// checkpoint (~5,000 WAL pages at ~5 pages per commit).
	checkpointCommits = 1000
	// checkpointInterval is how often a checkpoint runs anyway when
	// anything was committed.
	checkpointInterval = 5 * time.Second
	// sqliteAutocheckpointPages is the writer connection's own
	// wal_autocheckpoint (4 KiB pages): the backstop above.
	sqliteAutocheckpointPages = 20000
)

// checkpointer runs PASSIVE checkpoints (which never wait for readers or
// the writer: they copy what they can) when kicked or every
// checkpointInterval.
type checkpointer struct {
	db       *sql.DB     // one connection
	caughtUp atomic.Bool // set after a checkpoint: the writer finishes it
	kick     chan struct{}
	quit     chan struct{}
	done     chan struct{}
	once     sync.Once
}

func newCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// request asks for a checkpoint without waiting.
func (c *checkpointer) request() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-c.kick:
		case <-t.C:
		}
		// An error (such as SQLITE_BUSY while another process
		// checkpoints) leaves the work to the next round.
		if _, _, err := c.checkpoint(context.Background()); err == nil {
			c.caughtUp.Store(true)
		}
	}
}

// checkpoint runs one PASSIVE checkpoint and returns the WAL's size and
// how much of it is now in the database file, in pages.
func (c *checkpointer) checkpoint(ctx context.Context) (walPages, checkpointed int, err error) {
	var busy int
	if err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &walPages, &checkpointed); err != nil {
		return 0, 0, fmt.Errorf("wal checkpoint: %w", err)
	}
	return walPages, checkpointed, nil
}

// stop ends the goroutine and closes the connection.
func (c *checkpointer) stop() error {
	var err error
	c.once.Do(func() {
		close(c.quit)
		<-c.done
		err = c.db.Close()
	})
	return err
}
