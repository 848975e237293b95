package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
)

// okVA passes every validation.
type okVA struct{}

func (okVA) Validate(context.Context, acme.Identifier, string, string, string) error { return nil }
func (okVA) CheckCAA(context.Context, acme.Identifier, bool, string, []string) error {
	return nil
}

// TestHandedBackEqualsStored: what NewOrderAuthz returns is what reading
// the order's authorizations returns, and what WaitResult hands back for
// a validation that ends valid or invalid is what reading the challenge
// returns, so the front end can render them without those reads.
func TestHandedBackEqualsStored(t *testing.T) {
	for _, tc := range []struct {
		name   string
		va     Validator
		status string
	}{{"valid", okVA{}, acme.StatusValid}, {"invalid", failVA{}, acme.StatusInvalid}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			clk := &testClock{t: time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.UTC)}
			caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			r := New(Config{ValidationAttempts: 1, ResultWait: time.Minute}, st, tc.va, selfSigner{key: caKey}, clk.now, slog.New(slog.DiscardHandler))
			defer r.Shutdown(ctx)
			acct := &store.Account{ID: "acct", KeyThumbprint: "tp", JWK: []byte("{}"), Status: acme.StatusValid, CreatedAt: clk.now()}
			if err := st.CreateAccount(ctx, acct); err != nil {
				t.Fatal(err)
			}
			o, authzs, err := r.NewOrderAuthz(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("a.test", "b.test")})
			if err != nil {
				t.Fatal(err)
			}
			read, err := st.GetAuthorizations(ctx, o.AuthzIDs)
			if err != nil {
				t.Fatal(err)
			}
			if len(authzs) != len(read) {
				t.Fatalf("NewOrderAuthz returned %d authorizations, the order has %d", len(authzs), len(read))
			}
			for i := range read {
				got := *authzs[i]
				got.Challenges = nil // GetAuthorizations reads none
				if !reflect.DeepEqual(&got, read[i]) {
					t.Fatalf("authorization %d: returned %+v, stored %+v", i, &got, read[i])
				}
			}
			full, err := st.GetAuthorization(ctx, o.AuthzIDs[0])
			if err != nil {
				t.Fatal(err)
			}
			// The store reads challenges ordered by type; the order view
			// renders none.
			created := slices.Clone(authzs[0].Challenges)
			slices.SortFunc(created, func(a, b store.Challenge) int { return strings.Compare(a.Type, b.Type) })
			if !reflect.DeepEqual(created, full.Challenges) {
				t.Fatalf("challenges: returned %+v, stored %+v", authzs[0].Challenges, full.Challenges)
			}

			c, az, err := st.GetChallengeAuthorization(ctx, full.Challenges[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			started, err := r.RespondChallenge(ctx, acct, az, c)
			if err != nil || started.Status != acme.StatusProcessing {
				t.Fatalf("RespondChallenge = %+v, %v", started, err)
			}
			done := r.WaitResult(ctx, c.ID)
			if done == nil {
				t.Fatal("WaitResult handed back nothing for a validation that ended in this process")
			}
			stored, err := st.GetChallenge(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.Status != tc.status || !reflect.DeepEqual(done, stored) {
				t.Fatalf("WaitResult = %+v (error %v), stored %+v (error %v), want status %s", done, done.Error, stored, stored.Error, tc.status)
			}
			if r.WaitResult(ctx, c.ID) != nil {
				t.Fatal("WaitResult for a validation no longer running must hand back nothing (the caller reads)")
			}
		})
	}
}
