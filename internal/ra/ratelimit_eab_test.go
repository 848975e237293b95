package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"log/slog"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestRateLimitsWithEAB: accounts created with an external account
// binding spend the new-accounts-per-ip bucket like any other, and an
// override for the EAB key (ratelimit set --eab KID) applies to the
// accounts bound with it, below the account's own (docs/rate-limits.md).
func TestRateLimitsWithEAB(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	clk := &testClock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	cfg := Config{RateLimits: ratelimit.Config{
		NewAccountsPerIP:    ratelimit.Rate{Count: 1, Period: time.Hour},
		NewOrdersPerAccount: ratelimit.Rate{Count: 1, Period: time.Hour},
		PolicyURL:           "https://ca.test/limits",
	}}
	r := New(cfg, st, failVA{}, nil, clk.now, slog.New(slog.DiscardHandler))
	defer r.Shutdown(ctx)
	hmacKey := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	if err := st.CreateEABKey(ctx, &store.EABKey{KID: "kid-1", HMACKey: hmacKey, Profile: "default", Status: store.EABActive, CreatedAt: clk.now()}); err != nil {
		t.Fatal(err)
	}
	// Overrides are cached for ratelimit.OverrideRefresh: set it first.
	if err := st.SetRateLimitOverride(ctx, store.RateLimitOverride{Limit: string(ratelimit.NewOrdersPerAccount), Subject: ratelimit.EABSubject("kid-1"),
		Count: 100, Period: time.Hour, CreatedAt: clk.now()}); err != nil {
		t.Fatal(err)
	}
	const url = "https://ca.test/acme/new-account"
	newAccount := func() (*store.Account, error) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub, tp, eab := eabBinding(t, key, "kid-1", hmacKey, url)
		a, _, err := r.NewAccountIn(WithClientAddr(ctx, "192.0.2.7:4711"), "", url, tp, pub, acme.NewAccountRequest{ExternalAccountBinding: eab})
		return a, err
	}
	a, err := newAccount()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newAccount(); !ratelimit.IsRateLimited(err) {
		t.Errorf("second EAB account from one address: %v, want rateLimited", err)
	}

	// The override for the EAB key (below) lifts new-orders-per-account
	// for the bound account.
	for i := range 3 {
		if _, err := r.NewOrder(ctx, a, acme.NewOrderRequest{Identifiers: dnsIDs("x.eab.test")}); err != nil {
			t.Fatalf("order %d with the EAB key's override: %v", i+1, err)
		}
	}
}
