package store

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// TestDurableCommits: on SQLite the changes that must survive a power
// loss (a revocation, a CRL number, an administrator's change) are
// answered only after an fsync of the WAL begun after their commit
// (walSyncer), while the ACME steps a client repeats (an order, a
// challenge's state, an account) and sweeps are not waited for; an fsync
// covers every commit before it, and concurrent callers share them. An
// issued certificate's record is synced before its download
// (TestIssuedCertificateSyncedBeforeDownload).
func TestDurableCommits(t *testing.T) {
	s := openWriterTest(t)
	ctx := context.Background()
	// Which store methods commit durably.
	durable := func(what string, want bool, f func() error) {
		t.Helper()
		before := s.wal.syncs.Load()
		commits := s.wr.commits.Load()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		after := s.wr.commits.Load()
		if after == commits {
			t.Fatalf("%s committed nothing", what)
		}
		if got := s.wal.syncs.Load() > before; got != want {
			t.Errorf("%s synced the WAL: %v, want %v", what, got, want)
		}
		s.wal.mu.Lock()
		synced := s.wal.synced
		s.wal.mu.Unlock()
		if want && synced < after {
			t.Errorf("%s returned with commits up to %d on disk, its own was number %d", what, synced, after)
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	o, cert := processingOrder(t, s, now, func(what string, f func() error) { durable(what, false, f) })
	if err := s.FinishOrder(ctx, o.ID, cert, now); err != nil {
		t.Fatal(err)
	}
	s.wal.bg.Wait() // the fsync FinishOrder started (TestIssuedCertificateSyncedBeforeDownload) is not counted below
	durable("RevokeCertificate", true, func() error { return s.RevokeCertificate(ctx, cert.Serial, 4 /* superseded */, now) })
	durable("CRLContents", true, func() error { _, _, err := s.CRLContents(ctx, "local", "", now, 0); return err })
	durable("DeactivateAccount", true, func() error { return s.DeactivateAccount(ctx, o.AccountID, nil) })
	durable("DeleteStale", false, func() error { _, _, err := s.DeleteStale(ctx, now.Add(48*time.Hour)); return err })
}

// TestDurableCommitsShareSyncs: concurrent durable changes all return
// synced, and an fsync under way is shared by those that wait for it.
func TestDurableCommitsShareSyncs(t *testing.T) {
	s := openWriterTest(t)
	ctx := context.Background()
	const n = 32
	before := s.wal.syncs.Load()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() { errs <- s.tx(ctx, putSetting(fmt.Sprintf("s%02d", i))) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	syncs := s.wal.syncs.Load() - before
	if syncs < 1 || syncs > n {
		t.Errorf("%d fsyncs for %d durable commits", syncs, n)
	}
	t.Logf("%d durable commits, %d fsyncs", n, syncs)
	if s.wal.synced < s.wr.commits.Load() {
		t.Errorf("commits on disk %d, made %d", s.wal.synced, s.wr.commits.Load())
	}
}

// TestWALSyncWithoutWAL: with no WAL file (every commit checkpointed into
// the database file and the WAL removed) there is nothing to sync.
func TestWALSyncWithoutWAL(t *testing.T) {
	var commits atomic.Int64
	commits.Store(3)
	w := newWALSyncer(t.TempDir()+"/none.db", &commits)
	if err := w.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w.syncs.Load() != 0 || w.synced != 3 {
		t.Errorf("syncs %d, synced %d; want 0, 3", w.syncs.Load(), w.synced)
	}
}

// TestIssuedCertificateSyncedBeforeDownload: FinishOrder answers without
// waiting for the disk but starts an fsync of the WAL at once, and the
// certificate's download (CertificateChain) returns only after an fsync
// covering the certificate's commit has ended, so a power failure cannot
// take the record of a certificate a client holds.
func TestIssuedCertificateSyncedBeforeDownload(t *testing.T) {
	s := openWriterTest(t)
	ctx := context.Background()
	entered := make(chan struct{}, 8)
	release := make(chan struct{})
	var releaseOnce sync.Once
	// Before the store closes (cleanups run last first): a failed test
	// must not leave the fsync held up.
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	var released atomic.Bool
	s.wal.datasync = func(f *os.File) error {
		entered <- struct{}{}
		<-release
		released.Store(true)
		return datasync(f)
	}
	now := time.Now().UTC().Truncate(time.Second)
	o, cert := processingOrder(t, s, now, func(what string, f func() error) {
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	})
	finished := make(chan error, 1)
	go func() { finished <- s.FinishOrder(ctx, o.ID, cert, now) }()
	select {
	case err := <-finished:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("FinishOrder waited for the fsync")
	}
	commits := s.wr.commits.Load()
	<-entered // the fsync FinishOrder started, held up
	downloaded := make(chan error, 1)
	go func() {
		_, chain, err := s.CertificateChain(ctx, cert.Serial)
		if err == nil && !released.Load() {
			err = fmt.Errorf("downloaded before the fsync ended")
		}
		if err == nil && chain != cert.ChainPEM {
			err = fmt.Errorf("chain %q, want %q", chain, cert.ChainPEM)
		}
		downloaded <- err
	}()
	select {
	case err := <-downloaded:
		t.Fatalf("download returned while its record's fsync was held up: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	releaseOnce.Do(func() { close(release) })
	if err := <-downloaded; err != nil {
		t.Fatal(err)
	}
	s.wal.mu.Lock()
	synced := s.wal.synced
	s.wal.mu.Unlock()
	if synced < commits {
		t.Errorf("commits on disk %d after the download, the certificate's was number %d", synced, commits)
	}
}

// TestSyncIfRecent: a certificate read from the database that was created
// in the last minute is handed out only after an fsync begun after the
// read, also when this process made no commit (the row may have been
// written by another process, or before a restart); older ones need none.
func TestSyncIfRecent(t *testing.T) {
	s := openWriterTest(t)
	ctx := context.Background()
	if err := s.tx(ctx, putSetting("x")); err != nil { // a WAL file to sync
		t.Fatal(err)
	}
	before := s.wal.syncs.Load()
	if err := s.SyncIfRecent(ctx, time.Now().Add(-2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := s.wal.syncs.Load() - before; n != 0 {
		t.Errorf("%d fsyncs for a certificate created two minutes ago, want 0", n)
	}
	// Every commit of this process is synced already: only a fresh
	// fsync covers frames other processes wrote.
	if err := s.SyncIfRecent(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := s.wal.syncs.Load() - before; n != 1 {
		t.Errorf("%d fsyncs for a certificate created now, want 1", n)
	}
}

// TestSyncIfRecentClockStepped: a certificate this process stored by
// FinishOrder is handed out by an export (SyncIfRecent) only once an fsync
// covering its commit has ended, also when its creation time looks more
// than a minute old to this host's clock (the clock stepped forward since
// the issuance, or the issuing clock runs behind); once it is on disk,
// an old certificate needs no further fsync. The former code decided by
// the wall clock alone and handed such a record out unsynced.
func TestSyncIfRecentClockStepped(t *testing.T) {
	s := openWriterTest(t)
	ctx := context.Background()
	entered := make(chan struct{}, 8)
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	var released atomic.Bool
	s.wal.datasync = func(f *os.File) error {
		entered <- struct{}{}
		<-release
		released.Store(true)
		return datasync(f)
	}
	now := time.Now().UTC().Truncate(time.Second)
	o, cert := processingOrder(t, s, now, func(what string, f func() error) {
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	})
	if err := s.FinishOrder(ctx, o.ID, cert, now); err != nil {
		t.Fatal(err)
	}
	commits := s.wr.commits.Load()
	<-entered // the fsync FinishOrder started, held up
	// The clock stepped two minutes forward: created looks two minutes old.
	exported := make(chan error, 1)
	go func() {
		err := s.SyncIfRecent(ctx, now.Add(-2*time.Minute))
		if err == nil && !released.Load() {
			err = fmt.Errorf("handed out before the fsync of its record ended")
		}
		exported <- err
	}()
	select {
	case err := <-exported:
		t.Fatalf("SyncIfRecent returned while its record's fsync was held up: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	releaseOnce.Do(func() { close(release) })
	if err := <-exported; err != nil {
		t.Fatal(err)
	}
	s.wal.mu.Lock()
	synced := s.wal.synced
	s.wal.mu.Unlock()
	if synced < commits {
		t.Errorf("commits on disk %d after the export, the certificate's was number %d", synced, commits)
	}
	before := s.wal.syncs.Load()
	if err := s.SyncIfRecent(ctx, now.Add(-2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := s.wal.syncs.Load() - before; n != 0 {
		t.Errorf("%d fsyncs for an old certificate once this process's are on disk, want 0", n)
	}
}

// processingOrder stores an account, a valid authorization and an order
// moved to processing, each step run by step, and returns the order and a
// certificate for it (serial 0a0b) to finish it with.
func processingOrder(t *testing.T, s *Store, now time.Time, step func(what string, f func() error)) (*Order, *Certificate) {
	t.Helper()
	ctx := context.Background()
	acct := &Account{ID: "acct", KeyThumbprint: "tp", JWK: []byte(`{}`), Status: acme.StatusValid, CreatedAt: now}
	// An account lost in a power failure makes its client register again.
	step("CreateAccount", func() error { return s.CreateAccount(ctx, acct) })
	id := acme.Identifier{Type: acme.IdentifierDNS, Value: "d.example.test"}
	az := &Authorization{ID: "az", AccountID: acct.ID, Identifier: id, Status: acme.StatusValid, Expires: now.Add(time.Hour), ValidatedAt: now, CreatedAt: now}
	o := &Order{ID: "ord", AccountID: acct.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour), Identifiers: []acme.Identifier{id},
		AuthzIDs: []string{az.ID}, CreatedAt: now, UpdatedAt: now}
	step("CreateOrder", func() error { return s.CreateOrder(ctx, o, []*Authorization{az}) })
	step("StartIssuanceKey", func() error { return s.StartIssuanceKey(ctx, o.ID, "0a0b", nil, now) })
	cert := &Certificate{Serial: "0a0b", Issuer: "local", OrderID: o.ID, AccountID: acct.ID, DER: []byte{0x30, 0}, ChainPEM: "chain",
		SANs: []string{id.Value}, KeyType: "ECDSA P-256", FingerprintSHA256: "fp", NotBefore: now, NotAfter: now.Add(time.Hour),
		Status: acme.StatusValid, CreatedAt: now, Profile: DefaultProfile, Source: SourceIssued, Attributes: map[string]string{}}
	return o, cert
}

// TestWALSyncFailureIsFinal: once an fsync of the WAL has failed, no later
// sync reports the commits durable. Linux marks the pages whose write-back
// failed clean (the error is reported once), so an fsync made again
// succeeds without writing them: the record of a certificate whose fsync
// (started by FinishOrder, its error left to the download) failed was
// handed out by the download's second fsync, though it may not be on disk.
func TestWALSyncFailureIsFinal(t *testing.T) {
	s := openWriterTest(t)
	ctx := context.Background()
	var calls atomic.Int64
	s.wal.datasync = func(f *os.File) error {
		if calls.Add(1) == 1 {
			return fmt.Errorf("input/output error (test)")
		}
		return datasync(f)
	}
	now := time.Now().UTC().Truncate(time.Second)
	o, cert := processingOrder(t, s, now, func(what string, f func() error) {
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	})
	if err := s.FinishOrder(ctx, o.ID, cert, now); err != nil {
		t.Fatal(err)
	}
	s.wal.bg.Wait() // FinishOrder's fsync, which failed
	if calls.Load() != 1 {
		t.Fatalf("%d fsyncs after FinishOrder, want its own one", calls.Load())
	}
	if _, _, err := s.CertificateChain(ctx, cert.Serial); err == nil {
		t.Error("the certificate was downloaded after the fsync of its record failed")
	}
	if err := s.SyncIfRecent(ctx, now); err == nil {
		t.Error("SyncIfRecent: nil after a failed fsync")
	}
	if err := s.tx(ctx, putSetting("after")); err == nil {
		t.Error("a durable commit after a failed fsync reported durable")
	}
}

// TestOpenSyncsWAL: opening a SQLite store syncs the WAL another process
// left (a server killed between an issued certificate's commit and the
// fsync FinishOrder started): its download after a restart may come more
// than a minute after the issuance, when SyncIfRecent no longer syncs,
// and an idle server writes nothing that would sync it. Before, nothing
// synced that WAL until the next write.
func TestOpenSyncsWAL(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/certgate.db"
	first, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Close() })
	// A commit not synced, in the WAL (the first store stays open, as a
	// killed process's WAL stays behind).
	if err := first.lazyTx(ctx, putSetting("x")); err != nil {
		t.Fatal(err)
	}
	second, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close() })
	if n := second.wal.syncs.Load(); n != 1 {
		t.Errorf("%d fsyncs of the WAL at open, want 1", n)
	}
}

// TestSyncIfRecentAfterFailedSync: after a failed fsync, a certificate row
// too old for SyncIfRecent to sync (created more than a minute ago) is
// still refused when it may have been committed after the last fsync
// that succeeded began: its record may not be on disk. It is read from
// the database once newer issuances pushed it out of the download cache
// (or by `certgate cert export`); before, it was handed out. Rows created
// long enough before that fsync are handed out as before.
func TestSyncIfRecentAfterFailedSync(t *testing.T) {
	s := openWriterTest(t)
	ctx := context.Background()
	s.wal.datasync = func(*os.File) error { return fmt.Errorf("input/output error (test)") }
	if err := s.tx(ctx, putSetting("x")); err == nil {
		t.Fatal("a durable commit whose fsync failed reported durable")
	}
	now := time.Now()
	s.wal.mu.Lock()
	s.wal.good = now.Add(-10 * time.Second) // the last fsync that succeeded began 10 s ago
	s.wal.mu.Unlock()
	// Created 65 s ago: committed within a minute of that, possibly after
	// the good fsync began.
	if err := s.SyncIfRecent(ctx, now.Add(-65*time.Second)); err == nil {
		t.Error("SyncIfRecent: nil for a certificate that may have been committed after the last good fsync")
	}
	if err := s.SyncIfRecent(ctx, now.Add(-2*time.Minute)); err != nil {
		t.Errorf("SyncIfRecent for a certificate created before the last good fsync's window: %v", err)
	}
}
