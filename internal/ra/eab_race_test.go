package ra

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	jose "github.com/go-jose/go-jose/v4"
)

// lateLookupStore answers the first account lookup by key as not found:
// what a newAccount sees when a concurrent one with the same account key
// has not committed yet.
type lateLookupStore struct {
	Store
	missed atomic.Bool
}

func (s *lateLookupStore) GetAccountByThumbprint(ctx context.Context, tp string) (*store.Account, error) {
	if s.missed.CompareAndSwap(false, true) {
		return nil, store.ErrNotFound
	}
	return s.Store.GetAccountByThumbprint(ctx, tp)
}

// eabBinding returns key's public JWK (JSON), its thumbprint (RFC 7638,
// base64url) and an External Account Binding of it (RFC 8555 §7.3.4): a
// JWS over the JWK, HS256 with hmacKey, naming kid and url.
func eabBinding(t *testing.T, key *ecdsa.PrivateKey, kid string, hmacKey []byte, url string) (pub []byte, thumbprint string, binding json.RawMessage) {
	t.Helper()
	jwk := jose.JSONWebKey{Key: key.Public()}
	pub, _ = jwk.MarshalJSON()
	tpb, _ := jwk.Thumbprint(crypto.SHA256)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: hmacKey},
		&jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{"kid": kid, "url": url}})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pub, base64.RawURLEncoding.EncodeToString(tpb), json.RawMessage(jws.FullSerialize())
}

// TestEABSingleUseSameKeyRace: two newAccount requests with one account
// key and one single-use EAB key race (a client retrying after a
// timeout): the one that loses the binding finds the account the other
// created and gets it back (RFC 8555 §7.3.1: a key that has an account
// gets that account), not unauthorized "EAB key can no longer be used".
// Another account key with the spent key is still refused.
func TestEABSingleUseSameKeyRace(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	clk := &testClock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	hmacKey := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	if err := st.CreateEABKey(ctx, &store.EABKey{KID: "kid-once", HMACKey: hmacKey, Profile: "default", SingleUse: true,
		Status: store.EABActive, CreatedAt: clk.now()}); err != nil {
		t.Fatal(err)
	}
	const url = "https://ca.test/acme/new-account"
	register := func(r *RA, key *ecdsa.PrivateKey) (*store.Account, bool, error) {
		pub, tp, eab := eabBinding(t, key, "kid-once", hmacKey, url)
		return r.NewAccountIn(ctx, "", url, tp, pub, acme.NewAccountRequest{ExternalAccountBinding: eab})
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	winner := New(Config{}, st, failVA{}, nil, clk.now, slog.New(slog.DiscardHandler))
	defer winner.Shutdown(ctx)
	a, created, err := register(winner, key)
	if err != nil || !created {
		t.Fatalf("first binding: created %v, %v", created, err)
	}
	loser := New(Config{}, &lateLookupStore{Store: st}, failVA{}, nil, clk.now, slog.New(slog.DiscardHandler))
	defer loser.Shutdown(ctx)
	b, created, err := register(loser, key)
	if err != nil || created || b.ID != a.ID {
		t.Fatalf("same account key, lost the race: created %v, account %v, %v; want account %s back", created, b, err, a.ID)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, _, err = register(winner, other)
	var p *acme.Problem
	if !errors.As(err, &p) || p.Type != acme.Unauthorized {
		t.Fatalf("another account key with the spent single-use key: %v, want unauthorized", err)
	}
}
