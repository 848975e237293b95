package ra

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	jose "github.com/go-jose/go-jose/v4"
)

// rsaPublicKeyJWK is the JWK (JSON) of an RSA public key with a modulus of
// bits bits and public exponent e, and its RFC 7638 thumbprint. The
// modulus is random (not a product of two primes): only the public key is
// used, and the policy looks at its size and exponent alone.
func rsaPublicKeyJWK(t testing.TB, bits, e int) (pub *rsa.PublicKey, jwk []byte, tp string) {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits-1)))
	if err != nil {
		t.Fatal(err)
	}
	n.SetBit(n, bits-1, 1).SetBit(n, 0, 1)
	// By hand: go-jose marshals what it is given.
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	jwk, _ = json.Marshal(map[string]string{"kty": "RSA", "n": b64(n.Bytes()), "e": b64(big.NewInt(int64(e)).Bytes())})
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(jwk); err != nil {
		t.Fatalf("JWK with e=%d: %v", e, err)
	}
	h, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return k.Key.(*rsa.PublicKey), jwk, base64.RawURLEncoding.EncodeToString(h)
}

// TestCheckAccountKey: the account key policy accepts RSA keys of 2048 to
// 4096 bits with an odd public exponent of at least 65537, ECDSA P-256,
// P-384 and P-521, and Ed25519; anything else is badPublicKey, its detail
// naming what is accepted.
func TestCheckAccountKey(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey := func(bits, e int) *rsa.PublicKey { k, _, _ := rsaPublicKeyJWK(t, bits, e); return k }
	for _, tc := range []struct {
		name string
		key  crypto.PublicKey
		ok   bool
	}{
		{"RSA 2048 e=65537", rsaKey(2048, 65537), true},
		{"RSA 3072 e=65537", rsaKey(3072, 65537), true},
		{"RSA 4096 e=65537", rsaKey(4096, 65537), true},
		{"RSA 2048 e=2^31-1", rsaKey(2048, 1<<31-1), true},
		{"RSA 2048 e=3", rsaKey(2048, 3), false},
		{"RSA 2048 e=65535", rsaKey(2048, 65535), false},
		{"RSA 2048 e=65538 (even)", rsaKey(2048, 65538), false},
		{"RSA 2047", rsaKey(2047, 65537), false},
		{"RSA 1024", rsaKey(1024, 65537), false},
		{"RSA 4097", &rsa.PublicKey{N: new(big.Int).Lsh(big.NewInt(1), 4096), E: 65537}, false},
		{"ECDSA P-256", p256.Public(), true},
		{"ECDSA P-384", p384.Public(), true},
		{"ECDSA P-521", p521.Public(), true},
		{"ECDSA P-224", p224.Public(), false},
		{"Ed25519", edPub, true},
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckAccountKey(tc.key)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			p, ok := acme.AsProblem(err)
			if !ok || p.Type != acme.BadPublicKey || !strings.Contains(p.Detail, AcceptedAccountKeys) {
				t.Fatalf("got %v, want badPublicKey naming %q", err, AcceptedAccountKeys)
			}
		})
	}
}

// TestAccountKeyPolicy: on both engines, newAccount and keyChange refuse a
// key outside the policy (CheckAccountKey) with badPublicKey and store
// nothing; an account whose key is outside the policy (created before it)
// may still roll over to a key within it.
func TestAccountKeyPolicy(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := &testClock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
		r := New(Config{}, st, failVA{}, nil, clk.now, slog.New(slog.DiscardHandler))
		defer r.Shutdown(ctx)
		_, weak, weakTP := rsaPublicKeyJWK(t, 2048, 3)
		_, _, err := r.NewAccount(ctx, weakTP, weak, acme.NewAccountRequest{})
		if p, ok := acme.AsProblem(err); !ok || p.Type != acme.BadPublicKey {
			t.Fatalf("newAccount with RSA e=3: %v, want badPublicKey", err)
		}
		if _, err := st.GetAccountByThumbprint(ctx, weakTP); err == nil {
			t.Fatal("account stored for a refused key")
		}
		pub, tp := accountKey(t)
		a, _, err := r.NewAccount(ctx, tp, pub, acme.NewAccountRequest{})
		if err != nil {
			t.Fatal(err)
		}
		err = r.ChangeKey(ctx, a, weakTP, weak)
		if p, ok := acme.AsProblem(err); !ok || p.Type != acme.BadPublicKey {
			t.Fatalf("keyChange to RSA e=3: %v, want badPublicKey", err)
		}
		// An account with a key the policy no longer accepts.
		old := &store.Account{ID: "acct-weak-" + st.Engine(), KeyThumbprint: weakTP, JWK: weak, Status: acme.StatusValid, CreatedAt: clk.now()}
		if err := st.CreateAccount(ctx, old); err != nil {
			t.Fatal(err)
		}
		pub2, tp2 := accountKey(t)
		if err := r.ChangeKey(ctx, old, tp2, pub2); err != nil {
			t.Fatalf("keyChange of an account with a weak key to a P-256 key: %v", err)
		}
		if got, err := st.GetAccount(ctx, old.ID); err != nil || got.KeyThumbprint != tp2 {
			t.Fatalf("account after the rollover: %+v, %v", got, err)
		}
	})
}
