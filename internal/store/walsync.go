package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// walSyncer makes the commits of a SQLite store durable against a power
// loss or an operating system crash without holding up its writer.
//
// The writer connection runs with synchronous=NORMAL: a commit's WAL
// frames are written (so a killed process loses nothing) but not fsynced,
// and a machine crash may roll back the commits made since the WAL was
// last synced (each checkpoint syncs it first). A caller that must not
// answer before its commit is on disk (an issued certificate's record, a
// revocation, an administrator's change) calls sync after the commit: it
// fsyncs the WAL file through a descriptor of its own, which writes out
// every frame written so far, so it covers the caller's commit and every
// earlier one. Callers arriving while an fsync runs wait for it and then
// share the next one (group commit), so the writer goroutine never waits
// for the disk; synchronous=FULL on the writer connection would make it
// wait once per batch (measured: 25% fewer flows per second,
// docs/performance.md "Durable issuance records").
//
// An issued certificate's record is different: what must not be lost is
// the record of a certificate a client holds, and the client gets it only
// by a download after the finalize. FinishOrder therefore answers without
// waiting and starts an fsync at once (syncSoon); the download waits for
// that fsync (syncTo) in the rare case that it has not ended yet.
//
// A frame that a checkpoint moved into the database file before the fsync
// is durable there: a checkpoint syncs the WAL before it copies pages and
// the database file before it lets the WAL start over.
type walSyncer struct {
	path    string        // the WAL file: database path + "-wal"
	commits *atomic.Int64 // the writer's commit count (writer.commits)

	mu      sync.Mutex
	f       *os.File      // open on path; nil until the first sync
	synced  int64         // commits known to be on disk
	started int64         // fsyncs begun (numbered from 1, one at a time)
	ended   int64         // the number of the last fsync that ended without error
	running chan struct{} // closed when the fsync under way ends; nil when none runs
	soon    bool          // a syncSoon goroutine is on its way to its sync
	failed  error         // the first failed fsync: no commit is known durable since (see await)
	good    time.Time     // when the last fsync that ended without error began (lost)
	certs   int64         // the commit count after this process's latest FinishOrder (noteCertificate)
	closed  bool          // close was called: syncSoon starts nothing
	bg      sync.WaitGroup

	syncs    atomic.Int64         // fsyncs made (WriterStats.WALSyncs)
	datasync func(*os.File) error // datasync; tests hold it up
}

func newWALSyncer(dbPath string, commits *atomic.Int64) *walSyncer {
	return &walSyncer{path: dbPath + "-wal", commits: commits, datasync: datasync}
}

// sync returns once every commit the writer had made when sync was called
// is on disk (syncTo with the current commit count).
func (s *walSyncer) sync(ctx context.Context) error {
	return s.syncTo(ctx, s.commits.Load())
}

// syncTo returns once the first target commits of the writer are on disk:
// at once when an fsync begun after them has ended, else after the next
// one, which it makes itself unless another caller does. An error means
// those commits are not known to be durable; ctx ends only the wait for
// another caller's fsync.
func (s *walSyncer) syncTo(ctx context.Context, target int64) error {
	return s.await(ctx, func() bool { return s.synced >= target })
}

// syncFresh returns once an fsync of the WAL begun after the call has
// ended: it covers whatever is in the WAL file, also frames written by
// another process or by this one before a restart, which the commit count
// of this process does not know about (CertificateChain's and
// SyncIfRecent's reads of stored rows).
func (s *walSyncer) syncFresh(ctx context.Context) error {
	s.mu.Lock()
	after := s.started
	s.mu.Unlock()
	return s.await(ctx, func() bool { return s.ended > after })
}

// failure returns the error of the first fsync that failed (see await),
// nil when none did.
func (s *walSyncer) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// lost returns, once an fsync has failed (see await), an error for a row
// created at created that may have been committed after the start of the
// last fsync that succeeded, within window after its creation (the
// horizon of SyncIfRecent): its record may not be on disk, though it is
// too old for SyncIfRecent to sync it. nil before any failure, and for
// rows created earlier.
func (s *walSyncer) lost(created time.Time, window time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil || created.Before(s.good.Add(-window)) {
		return nil
	}
	return fmt.Errorf("sync the WAL to disk: an fsync failed since this record was stored, it may not be on disk: %w", s.failed)
}

// noteCertificate records that the first commits commits include a
// certificate record that is not known to be on disk (FinishOrder, which
// answers before its fsync ends): syncCertificates covers it.
func (s *walSyncer) noteCertificate(commits int64) {
	s.mu.Lock()
	s.certs = max(s.certs, commits)
	s.mu.Unlock()
}

// syncCertificates returns once every certificate record that this
// process stored without waiting for the disk (noteCertificate) is on
// disk: at once when they are already, which needs no clock (see
// SyncIfRecent).
func (s *walSyncer) syncCertificates(ctx context.Context) error {
	s.mu.Lock()
	target := s.certs
	s.mu.Unlock()
	return s.syncTo(ctx, target)
}

// syncSoon starts, without waiting for it, an fsync that covers every
// commit made so far (FinishOrder: the record of an issued certificate is
// on disk before its download, usually before the client asks for it).
// Calls while one such start is on its way share it. An error of that
// fsync is left to the callers that wait (syncTo makes another).
func (s *walSyncer) syncSoon() {
	s.mu.Lock()
	if s.closed || s.soon {
		s.mu.Unlock()
		return
	}
	s.soon = true
	s.bg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.bg.Done()
		s.mu.Lock()
		s.soon = false // a later syncSoon's commits may be past this target
		s.mu.Unlock()
		_ = s.sync(context.Background()) // not cancelled: close waits for it
	}()
}

// await waits under s.mu until done holds, making an fsync whenever none
// is under way (see syncTo).
//
// A failed fsync is final: every await after it fails too. Linux marks
// the pages whose write-back failed clean and reports the error once, so
// an fsync made again would succeed without writing them, and SQLite's
// recovery of a WAL stops at the first frame missing on disk, dropping
// every commit after it as well. Neither the commits it covered nor later
// ones are known durable again in this process.
func (s *walSyncer) await(ctx context.Context, done func() bool) error {
	s.mu.Lock()
	for !done() {
		if s.failed != nil {
			s.mu.Unlock()
			return fmt.Errorf("sync the WAL to disk: an earlier fsync failed, commits since may not be on disk: %w", s.failed)
		}
		if s.running == nil {
			s.running = make(chan struct{})
			running := s.running
			s.started++
			n := s.started
			s.mu.Unlock()
			began := time.Now()
			upto := s.commits.Load()
			lost, err := s.fsync()
			s.mu.Lock()
			s.running = nil
			close(running)
			if err != nil {
				if lost && s.failed == nil {
					s.failed = err
				}
				s.mu.Unlock()
				return fmt.Errorf("sync the WAL to disk: %w", err)
			}
			s.synced = max(s.synced, upto)
			s.ended = n
			s.good = began
			continue
		}
		running := s.running
		s.mu.Unlock()
		select {
		case <-running:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
	return nil
}

// fsync writes the WAL file out to disk (called by one caller at a time).
// It opens the file on first use, and again when the file at the path is
// no longer the one open (SQLite deletes the WAL only when the last
// connection closes, which the writer's held connection prevents; checked
// anyway), syncing the directory then, so that the file's entry is durable
// too. No WAL file means nothing is in one: every commit is in the
// database file, which the checkpoint that emptied the WAL synced. lost
// reports an error of the sync itself (of the file or its directory),
// after which written data may never reach the disk (see await).
func (s *walSyncer) fsync() (lost bool, err error) {
	fi, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if s.f != nil {
		if cur, err := s.f.Stat(); err != nil || !os.SameFile(cur, fi) {
			s.f.Close()
			s.f = nil
		}
	}
	if s.f == nil {
		f, err := os.Open(s.path)
		if err != nil {
			return false, err
		}
		if err := syncDir(filepath.Dir(s.path)); err != nil {
			f.Close()
			return true, err
		}
		s.f = f
	}
	s.syncs.Add(1)
	err = s.datasync(s.f)
	return err != nil, err
}

// close releases the WAL file's descriptor, after the fsyncs under way
// and those syncSoon started.
func (s *walSyncer) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.bg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.running != nil {
		running := s.running
		s.mu.Unlock()
		<-running
		s.mu.Lock()
	}
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
}

// syncDir fsyncs directory dir, making its entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
