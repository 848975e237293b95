package ra_test

import (
	"context"
	"crypto/x509"
	"log/slog"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
)

// TestCRLNumberIncreasesWhenClockStepsBack: every CRL signed for an issuer
// has a greater cRLNumber than the one before (RFC 5280 §5.2.3: a
// monotonically increasing sequence number), also after a restart whose
// clock is behind the previous run's, and between nodes of one database
// whose clocks differ. Each RA here is such a restart (or node), with its
// own cache, over the same database and CA.
func TestCRLNumberIncreasesWhenClockStepsBack(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "certgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ca, err := local.LoadOrCreate(filepath.Join(dir, "ca"), local.Options{CRLURL: "http://ca.example.test/pki/crl"})
	if err != nil {
		t.Fatal(err)
	}
	iss := &local.Issuer{CA: ca, CRLURL: "http://ca.example.test/pki/crl"}
	reg, err := policy.NewRegistry(st, ra.DefaultProfile(90*24*time.Hour, 0, false, false), time.Nanosecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	number := func(at time.Time) *big.Int {
		t.Helper()
		r := ra.New(ra.Config{Profiles: reg}, st, nil, iss, func() time.Time { return at }, slog.New(slog.DiscardHandler))
		defer r.Shutdown(ctx)
		der, err := r.CRL(ctx)
		if err != nil {
			t.Fatal(err)
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		return crl.Number
	}
	now := time.Now()
	prev := number(now)
	for _, at := range []time.Time{now.Add(-time.Hour), now.Add(-time.Hour), now, now.Add(time.Hour)} {
		n := number(at)
		if n.Cmp(prev) <= 0 {
			t.Errorf("CRL signed at %s has number %s, not above the previous CRL's %s", at.Format(time.RFC3339), n, prev)
		}
		prev = n
	}
}
