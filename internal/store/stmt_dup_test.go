package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestDuplicatePrepareClosedOutsideLock: when two callers prepare the same
// query at once, the one that loses closes its duplicate statement without
// holding the pool's lock. Closing can wait for the connection the
// duplicate was prepared on; a transaction using that connection looks up
// its statements in the pool (cached) and, with the lock held through the
// close, the two waited on each other until their contexts expired (seen on
// PostgreSQL under TestClusterRateLimits). The driver here blocks the close
// until the test has looked the statement up.
func TestDuplicatePrepareClosedOutsideLock(t *testing.T) {
	d := &blockingDriver{prepared: make(chan struct{}, 2), both: make(chan struct{}), closing: make(chan struct{}, 2), release: make(chan struct{})}
	db := sql.OpenDB(d)
	defer db.Close()
	db.SetMaxOpenConns(2)
	p := newPool(db, false)
	const q = "SELECT 1"
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.stmt(context.Background(), q)
			errs <- err
		}()
	}
	// Both callers are inside Prepare before either returns: one of them
	// finds the other's statement in the map and closes its own.
	<-d.prepared
	<-d.prepared
	close(d.both)
	<-d.closing
	looked := make(chan *sql.Stmt)
	go func() { looked <- p.cached(q) }()
	select {
	case st := <-looked:
		if st == nil {
			t.Error("cached: the statement prepared first is not in the pool")
		}
	case <-time.After(30 * time.Second):
		t.Error("cached waited for the duplicate statement's close: the pool's lock is held through it")
	}
	close(d.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// blockingDriver is a database/sql driver whose Prepare waits until the
// test lets both preparing callers go on and whose statements' Close waits
// for release.
type blockingDriver struct {
	prepared chan struct{} // one value per Prepare entered
	both     chan struct{} // closed: Prepare returns
	closing  chan struct{} // one value per statement Close entered
	release  chan struct{} // closed: Close returns
}

func (d *blockingDriver) Connect(context.Context) (driver.Conn, error) { return blockingConn{d}, nil }
func (d *blockingDriver) Driver() driver.Driver                        { return nil }

type blockingConn struct{ d *blockingDriver }

func (c blockingConn) Prepare(string) (driver.Stmt, error) {
	c.d.prepared <- struct{}{}
	<-c.d.both
	return blockingStmt(c), nil
}
func (c blockingConn) Close() error              { return nil }
func (c blockingConn) Begin() (driver.Tx, error) { return nil, errors.New("no transactions") }

type blockingStmt struct{ d *blockingDriver }

func (s blockingStmt) Close() error {
	s.d.closing <- struct{}{}
	<-s.d.release
	return nil
}
func (s blockingStmt) NumInput() int                              { return 0 }
func (s blockingStmt) Exec([]driver.Value) (driver.Result, error) { return nil, errors.New("not run") }
func (s blockingStmt) Query([]driver.Value) (driver.Rows, error)  { return nil, errors.New("not run") }
