package ra_test

import (
	"context"
	"crypto/x509"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestCRLKeepsExpiredRevocationOneValidity: RFC 5280 §5 ("an entry MUST
// NOT be removed from the CRL until it appears on one regularly scheduled
// CRL issued beyond the revoked certificate's validity period"): a revoked
// certificate stays on every CRL signed within CRLValidity (one CRL's
// lifetime) after it expires, and leaves the CRL after that. The former
// code dropped it from the first CRL signed after its notAfter, so it was
// on no CRL issued beyond its validity period.
func TestCRLKeepsExpiredRevocationOneValidity(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := storetest.OpenSQLite(t)
	iss, reg := crlIssuer(t, st, dir)
	var mu sync.Mutex
	now := time.Now().UTC().Truncate(time.Second)
	start := now
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	insertIssuedRecord(t, st, iss, "1e1a", "e.example.test", now) // notAfter = now + 30 days
	notAfter := start.Add(30 * 24 * time.Hour)
	const validity = 24 * time.Hour
	r := ra.New(ra.Config{Profiles: reg, CRLValidity: validity, CRLRefresh: time.Minute}, st, nil, iss, clock, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { r.Shutdown(ctx) })
	if _, err := r.RevokeSerial(ctx, "1e1a", 4, "test"); err != nil {
		t.Fatal(err)
	}
	listed := func(at time.Time) bool {
		t.Helper()
		set(at)
		der, err := r.CRL(ctx)
		if err != nil {
			t.Fatal(err)
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		if !crl.ThisUpdate.Equal(at) {
			t.Fatalf("CRL thisUpdate %v, want a CRL signed at %v", crl.ThisUpdate, at)
		}
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Text(16) == "1e1a" {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		name string
		at   time.Time
		want bool
	}{
		{"now", start.Add(2 * time.Minute), true},
		{"before notAfter", notAfter.Add(-time.Hour), true},
		{"just after notAfter", notAfter.Add(time.Minute), true},
		{"a CRL validity after notAfter, less a minute", notAfter.Add(validity - time.Minute), true},
		{"a CRL validity after notAfter, and a minute", notAfter.Add(validity + time.Minute), false},
	} {
		if got := listed(c.at); got != c.want {
			t.Errorf("%s: listed %v, want %v", c.name, got, c.want)
		}
	}
}
