package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

func openTest(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "certgate.db")
	s, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func seedOrder(t *testing.T, s *Store) (*Account, *Order, *Authorization) {
	t.Helper()
	ctx := context.Background()
	a := &Account{ID: "acct1", KeyThumbprint: "tp1", JWK: []byte(`{}`), Status: acme.StatusValid, CreatedAt: now}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	az := &Authorization{ID: "az1", AccountID: a.ID, Identifier: acme.Identifier{Type: "dns", Value: "a.example.test"},
		Status: acme.StatusPending, Expires: now.Add(time.Hour), CreatedAt: now,
		Challenges: []Challenge{{ID: "ch1", Type: acme.ChallengeHTTP01, Token: "tok", Status: acme.StatusPending, UpdatedAt: now}}}
	o := &Order{ID: "ord1", AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour),
		Identifiers: []acme.Identifier{az.Identifier}, AuthzIDs: []string{az.ID}, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateOrder(ctx, o, []*Authorization{az}); err != nil {
		t.Fatal(err)
	}
	return a, o, az
}

func TestAccountKeyUniqueness(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	seedOrder(t, s)
	err := s.CreateAccount(ctx, &Account{ID: "acct2", KeyThumbprint: "tp1", JWK: []byte(`{}`), Status: "valid", CreatedAt: now})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate thumbprint: got %v, want ErrConflict", err)
	}
	if err := s.CreateAccount(ctx, &Account{ID: "acct2", KeyThumbprint: "tp2", JWK: []byte(`{}`), Status: "valid", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.ChangeAccountKey(ctx, "acct2", "tp2", "tp1", []byte(`{}`)); !errors.Is(err, ErrConflict) {
		t.Fatalf("key change to a used key: got %v, want ErrConflict", err)
	}
	if err := s.ChangeAccountKey(ctx, "acct2", "wrong-old", "tp3", []byte(`{}`)); !errors.Is(err, ErrStale) {
		t.Fatalf("key change with a stale old key: got %v, want ErrStale", err)
	}
}

func TestChallengeLifecycle(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	seedOrder(t, s)
	if err := s.StartChallenge(ctx, "ch1", now); err != nil {
		t.Fatal(err)
	}
	if err := s.StartChallenge(ctx, "ch1", now); !errors.Is(err, ErrStale) {
		t.Fatalf("second start: got %v, want ErrStale", err)
	}
	ids, err := s.ProcessingChallenges(ctx)
	if err != nil || len(ids) != 1 {
		t.Fatalf("processing challenges = %v, %v", ids, err)
	}
	c, _ := s.GetChallenge(ctx, "ch1")
	if err := s.FinishChallenge(ctx, c, nil, now, now.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	az, err := s.GetAuthorization(ctx, "az1")
	if err != nil || az.Status != acme.StatusValid || !az.Expires.Equal(now.Add(24*time.Hour)) || az.Challenges[0].Status != acme.StatusValid {
		t.Fatalf("authorization after success = %+v, %v", az, err)
	}
	found, err := s.FindValidAuthorization(ctx, "acct1", az.Identifier, false, now, now.Add(-time.Hour))
	if err != nil || found.ID != "az1" {
		t.Fatalf("reuse lookup = %v, %v", found, err)
	}
	if _, err := s.FindValidAuthorization(ctx, "acct1", az.Identifier, true, now, now.Add(-time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("wildcard must not reuse a non-wildcard authorization: %v", err)
	}
}

func TestSerialReservedOnce(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	if err := s.ReserveSerial(ctx, "abc", now); err != nil {
		t.Fatal(err)
	}
	if err := s.ReserveSerial(ctx, "abc", now); !errors.Is(err, ErrConflict) {
		t.Fatalf("second reservation: got %v, want ErrConflict", err)
	}
}

// TestConcurrentFinalizeIssuesOnce races the pending→processing move that
// guards finalize: exactly one caller may win.
func TestConcurrentFinalizeIssuesOnce(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	seedOrder(t, s)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.SetOrderStatus(ctx, "ord1", acme.StatusPending, acme.StatusProcessing, nil, now)
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, ErrStale) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d finalizes won, want 1", wins)
	}
}

// TestRecordSurvivesReopen checks that a finished order's certificate is
// durable across a close and reopen (the crash-safety invariant) and that
// an order left processing is found for recovery.
func TestRecordSurvivesReopen(t *testing.T) {
	s, path := openTest(t)
	ctx := context.Background()
	seedOrder(t, s)
	if err := s.SetOrderStatus(ctx, "ord1", acme.StatusPending, acme.StatusProcessing, nil, now); err != nil {
		t.Fatal(err)
	}
	if err := s.ReserveSerial(ctx, "1f", now); err != nil {
		t.Fatal(err)
	}
	stuck, err := s.OrdersInStatus(ctx, acme.StatusProcessing, now.Add(time.Second))
	if err != nil || len(stuck) != 1 {
		t.Fatalf("stuck orders = %v, %v", stuck, err)
	}
	cert := &Certificate{Serial: "1f", Issuer: "local", OrderID: "ord1", AccountID: "acct1", DER: []byte{1, 2}, ChainPEM: "pem",
		SANs: []string{"a.example.test"}, KeyType: "ECDSA P-256", FingerprintSHA256: "ff", NotBefore: now, NotAfter: now.Add(time.Hour),
		Status: acme.StatusValid, CreatedAt: now}
	if err := s.FinishOrder(ctx, "ord1", cert, now); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishOrder(ctx, "ord1", cert, now); err == nil {
		t.Fatal("finishing an order twice must fail")
	}
	s.Close()
	s2, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	o, err := s2.GetOrder(ctx, "ord1")
	if err != nil || o.Status != acme.StatusValid || o.CertSerial != "1f" {
		t.Fatalf("order after reopen = %+v, %v", o, err)
	}
	c, err := s2.GetCertificate(ctx, "1f")
	if err != nil || c.ChainPEM != "pem" || len(c.SANs) != 1 {
		t.Fatalf("certificate after reopen = %+v, %v", c, err)
	}
	if n, _ := s2.CountCertificates(ctx); n != 1 {
		t.Fatalf("%d certificates, want 1", n)
	}
	if err := s2.RevokeCertificate(ctx, "1f", 1, now); err != nil {
		t.Fatal(err)
	}
	if err := s2.RevokeCertificate(ctx, "1f", 1, now); !errors.Is(err, ErrStale) {
		t.Fatalf("second revocation: got %v, want ErrStale", err)
	}
	rev, err := s2.RevokedCertificates(ctx, "local", now)
	if err != nil || len(rev) != 1 || rev[0].Reason != 1 {
		t.Fatalf("revoked = %+v, %v", rev, err)
	}
}
