package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestEABUnusableKeySaysWhy: newAccount with an EAB key that can no longer
// bind an account is refused (unauthorized) with a detail saying why —
// spent (single-use), revoked, or expired at which time — and what to do,
// instead of "can no longer be used (used, revoked or expired)", which
// left the client's user to guess and the administrator to look it up.
func TestEABUnusableKeySaysWhy(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	clk := &testClock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	hmacKey := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	for _, k := range []*store.EABKey{
		{KID: "kid-once", SingleUse: true},
		{KID: "kid-revoked"},
		{KID: "kid-expired", Expires: clk.now().Add(time.Hour)},
	} {
		k.HMACKey, k.Profile, k.Status, k.CreatedAt = hmacKey, "default", store.EABActive, clk.now()
		if err := st.CreateEABKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	const url = "https://ca.test/acme/new-account"
	r := New(Config{}, st, failVA{}, nil, clk.now, slog.New(slog.DiscardHandler))
	defer r.Shutdown(ctx)
	register := func(kid string) error {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub, tp, eab := eabBinding(t, key, kid, hmacKey, url)
		_, _, err := r.NewAccountIn(ctx, "", url, tp, pub, acme.NewAccountRequest{ExternalAccountBinding: eab})
		return err
	}
	if err := register("kid-once"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RevokeEABKey(ctx, "kid-revoked"); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(2 * time.Hour)

	for kid, want := range map[string]string{
		"kid-once":    "EAB key kid-once was single-use and has bound an account already; ask the CA's administrator for a new EAB key",
		"kid-revoked": "EAB key kid-revoked was revoked; ask the CA's administrator for a new EAB key",
		"kid-expired": "EAB key kid-expired expired at 2026-11-29T11:00:00Z; ask the CA's administrator for a new EAB key",
	} {
		err := register(kid)
		var p *acme.Problem
		if !errors.As(err, &p) || p.Type != acme.Unauthorized || p.Detail != want {
			t.Errorf("%s: %v, want unauthorized %q", kid, err, want)
		}
	}
}
