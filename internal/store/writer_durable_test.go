package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// TestDurableCommits: on SQLite the changes that must survive a power
// loss (an issued certificate's record, a revocation, a CRL number, an
// administrator's change) are answered only after an fsync of the WAL
// begun after their commit (walSyncer), while the ACME steps a client
// repeats (an order, a challenge's state, an account) and sweeps are not
// waited for; an fsync covers every commit before it, and concurrent
// callers share them.
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
	acct := &Account{ID: "acct", KeyThumbprint: "tp", JWK: []byte(`{}`), Status: acme.StatusValid, CreatedAt: now}
	// An account lost in a power failure makes its client register again.
	durable("CreateAccount", false, func() error { return s.CreateAccount(ctx, acct) })
	id := acme.Identifier{Type: acme.IdentifierDNS, Value: "d.example.test"}
	az := &Authorization{ID: "az", AccountID: acct.ID, Identifier: id, Status: acme.StatusValid, Expires: now.Add(time.Hour), ValidatedAt: now, CreatedAt: now}
	o := &Order{ID: "ord", AccountID: acct.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour), Identifiers: []acme.Identifier{id},
		AuthzIDs: []string{az.ID}, CreatedAt: now, UpdatedAt: now}
	durable("CreateOrder", false, func() error { return s.CreateOrder(ctx, o, []*Authorization{az}) })
	durable("StartIssuanceKey", false, func() error { return s.StartIssuanceKey(ctx, o.ID, "0a0b", nil, now) })
	cert := &Certificate{Serial: "0a0b", Issuer: "local", OrderID: o.ID, AccountID: acct.ID, DER: []byte{0x30, 0}, ChainPEM: "chain",
		SANs: []string{id.Value}, KeyType: "ECDSA P-256", FingerprintSHA256: "fp", NotBefore: now, NotAfter: now.Add(time.Hour),
		Status: acme.StatusValid, CreatedAt: now, Profile: DefaultProfile, Source: SourceIssued, Attributes: map[string]string{}}
	durable("FinishOrder", true, func() error { return s.FinishOrder(ctx, o.ID, cert, now) })
	durable("RevokeCertificate", true, func() error { return s.RevokeCertificate(ctx, cert.Serial, 4 /* superseded */, now) })
	durable("CRLContents", true, func() error { _, _, err := s.CRLContents(ctx, "local", now, 0); return err })
	durable("DeactivateAccount", true, func() error { return s.DeactivateAccount(ctx, acct.ID, nil) })
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
