package ra_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// crlCountingStore counts the reads of a CRL's contents (on SQLite a job
// of the single writer that ranges over the revoked certificates).
type crlCountingStore struct {
	*store.Store
	reads atomic.Int32
}

func (s *crlCountingStore) CRLContents(ctx context.Context, issuer, issuerDN string, notAfter time.Time, atLeast int64) (int64, []store.RevokedEntry, error) {
	s.reads.Add(1)
	return s.Store.CRLContents(ctx, issuer, issuerDN, notAfter, atLeast)
}

// TestCRLContentsReadOncePerRefreshOrRevocation: GET /pki/crl is
// unauthenticated, and reading a CRL's contents holds the SQLite writer
// (store.CRLContents), so requests must not make it read them again: many
// requests, concurrent or not, read them once per CRLRefresh, plus once
// after each revocation through this RA.
func TestCRLContentsReadOncePerRefreshOrRevocation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := storetest.OpenSQLite(t)
	iss, reg := crlIssuer(t, st, dir)
	var mu sync.Mutex
	now := time.Now().UTC()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	insertIssuedRecord(t, st, iss, "0c4c", "c.example.test", now)
	cs := &crlCountingStore{Store: st}
	r := ra.New(ra.Config{Profiles: reg, CRLRefresh: time.Minute}, cs, nil, iss, clock, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { r.Shutdown(ctx) })

	fetch := func(n int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := r.CRL(ctx); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	want := func(reads int32, after string) {
		t.Helper()
		if got := cs.reads.Load(); got != reads {
			t.Errorf("after %s: the CRL's contents were read %d times, want %d", after, got, reads)
		}
	}
	fetch(50)
	fetch(50)
	want(1, "100 requests within CRLRefresh")
	if _, err := r.RevokeSerial(ctx, "0c4c", 4, "test"); err != nil {
		t.Fatal(err)
	}
	fetch(50)
	want(2, "a revocation and 50 more requests")
	mu.Lock()
	now = now.Add(59 * time.Second)
	mu.Unlock()
	fetch(50)
	want(2, "50 more requests 59 s later")
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	fetch(50)
	want(3, "50 more requests once CRLRefresh passed")
}
