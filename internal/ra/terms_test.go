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
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestTermsOfServiceEAB: with Config.TermsOfService set, a newAccount with
// an external account binding (RFC 8555 §7.3.4) that does not agree to the
// terms (§7.3) is refused with userActionRequired before the binding is
// looked at, so a single-use EAB key stays unspent and binds the account
// of the same request sent again with the agreement.
func TestTermsOfServiceEAB(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := &testClock{t: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)}
		r := New(Config{TermsOfService: "https://ca.test/terms"}, st, failVA{}, nil, clk.now, slog.New(slog.DiscardHandler))
		defer r.Shutdown(ctx)
		const url = "https://ca.test/acme/new-account"
		hmacKey := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
		if err := st.CreateEABKey(ctx, &store.EABKey{KID: "kid-tos", HMACKey: hmacKey, Profile: "default",
			SingleUse: true, Status: store.EABActive, CreatedAt: clk.now()}); err != nil {
			t.Fatal(err)
		}
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub, tp, eab := eabBinding(t, key, "kid-tos", hmacKey, url)
		_, _, err := r.NewAccountIn(ctx, "", url, tp, pub, acme.NewAccountRequest{ExternalAccountBinding: eab})
		if p, ok := acme.AsProblem(err); !ok || p.Type != acme.UserActionRequired || p.Instance != "https://ca.test/terms" {
			t.Fatalf("EAB newAccount without agreeing: %v, want userActionRequired naming the terms", err)
		}
		if k, err := st.GetEABKey(ctx, "kid-tos"); err != nil || k.Status != store.EABActive {
			t.Fatalf("EAB key after the refusal: %+v, %v; want it still active", k, err)
		}
		a, created, err := r.NewAccountIn(ctx, "", url, tp, pub, acme.NewAccountRequest{ExternalAccountBinding: eab, TermsOfServiceAgreed: true})
		if err != nil || !created || a.EABKid != "kid-tos" || !a.TOSAgreed {
			t.Fatalf("EAB newAccount agreeing: %+v, created %v, %v", a, created, err)
		}
	})
}
