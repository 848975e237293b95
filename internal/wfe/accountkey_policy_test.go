package wfe_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv"
	jose "github.com/go-jose/go-jose/v4"
)

// rsaKeyWithExponent generates an RSA key of bits bits with public
// exponent e (rsa.GenerateKey always uses 65537).
func rsaKeyWithExponent(t testing.TB, bits, e int) *rsa.PrivateKey {
	t.Helper()
	E := big.NewInt(int64(e))
	one := big.NewInt(1)
	for {
		p, err := rand.Prime(rand.Reader, bits/2)
		if err != nil {
			t.Fatal(err)
		}
		q, err := rand.Prime(rand.Reader, bits/2)
		if err != nil {
			t.Fatal(err)
		}
		n := new(big.Int).Mul(p, q)
		if p.Cmp(q) == 0 || n.BitLen() != bits {
			continue
		}
		phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
		d := new(big.Int).ModInverse(E, phi)
		if d == nil {
			continue
		}
		k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: e}, D: d, Primes: []*big.Int{p, q}}
		k.Precompute()
		if err := k.Validate(); err != nil {
			t.Fatal(err)
		}
		return k
	}
}

// TestAccountKeyPolicyHTTP: newAccount with an RSA key whose public
// exponent is 3, and a keyChange to such a key, are refused with
// badPublicKey (400) naming the accepted keys (ra.CheckAccountKey); an
// account created with a key the policy does not accept (RSA 1024, before
// the policy) may still fetch itself and roll over to a P-256 key, which
// then signs for it; other requests it signs (newOrder) are badPublicKey
// asking for the rollover.
func TestAccountKeyPolicyHTTP(t *testing.T) {
	env := testenv.New(t)
	c := hNewClient(t, env)
	e3 := rsaKeyWithExponent(t, 2048, 3)
	weak := &hKey{priv: e3, alg: "RS256", jwk: jose.JSONWebKey{Key: e3.Public()}}
	r := c.signed(t, weak, "", c.dir.NewAccount, []byte(`{"termsOfServiceAgreed":true}`))
	if r.status != http.StatusBadRequest || r.problem == nil || r.problem.Type != acme.BadPublicKey || !strings.Contains(r.problem.Detail, ra.AcceptedAccountKeys) {
		t.Fatalf("newAccount with RSA e=3: %d %s, want 400 badPublicKey naming the accepted keys", r.status, r.body)
	}

	good := hNewKey(t, "p256")
	kid := c.newAccount(t, good)
	u := c.dir.KeyChange
	in := hJoseSign(t, weak, "", "", "", u, hJSON(t, map[string]any{"account": kid, "oldKey": good.jwkJSON(t)}),
		func(o *jose.SignerOptions) { delete(o.ExtraHeaders, "nonce") })
	r = c.post(t, u, hJoseSign(t, good, "", kid, c.nonce(t), u, in, nil))
	if r.status != http.StatusBadRequest || r.problem == nil || r.problem.Type != acme.BadPublicKey {
		t.Fatalf("keyChange to RSA e=3: %d %s, want 400 badPublicKey", r.status, r.body)
	}

	// An account whose key predates the policy.
	old := hNewKey(t, "rsa1024")
	jwk, _ := old.jwk.MarshalJSON()
	id := "acctweak" + strings.Repeat("w", 14)
	if err := env.Server.Store().CreateAccount(context.Background(), &store.Account{ID: id, KeyThumbprint: old.thumbprint(t), JWK: jwk,
		Status: acme.StatusValid, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	oldKid := strings.TrimSuffix(kid, kid[strings.LastIndex(kid, "/")+1:]) + id
	c.mustOK(t, http.StatusOK, old, oldKid, oldKid, nil)
	r = c.signed(t, old, oldKid, c.dir.NewOrder, []byte(`{"identifiers":[{"type":"dns","value":"weak.test"}]}`))
	if r.status != http.StatusBadRequest || r.problem == nil || r.problem.Type != acme.BadPublicKey || !strings.Contains(r.problem.Detail, "keyChange") {
		t.Fatalf("newOrder signed by an RSA 1024 account key: %d %s, want 400 badPublicKey asking for a keyChange", r.status, r.body)
	}
	nk := hNewKey(t, "p256")
	in = hJoseSign(t, nk, "", "", "", u, hJSON(t, map[string]any{"account": oldKid, "oldKey": old.jwkJSON(t)}),
		func(o *jose.SignerOptions) { delete(o.ExtraHeaders, "nonce") })
	if r := c.post(t, u, hJoseSign(t, old, "", oldKid, c.nonce(t), u, in, nil)); r.status != http.StatusOK {
		t.Fatalf("keyChange of an RSA 1024 account to P-256: %d %s", r.status, r.body)
	}
	c.mustOK(t, http.StatusOK, nk, oldKid, oldKid, nil)
}
