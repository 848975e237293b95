package wfe_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/testenv"
	jose "github.com/go-jose/go-jose/v4"
)

// kcInner signs a keyChange inner JWS (RFC 8555 §7.3.5) with nk, whose
// protected header is hdr ("alg" defaults to nk's), over payload.
func kcInner(t *testing.T, nk *hKey, hdr map[string]any, payload any) []byte {
	t.Helper()
	return hBuild(t, nk, hdr, hJSON(t, payload)).bytes(t)
}

// TestKeyChangeInnerChecks: every check RFC 8555 §7.3.5 asks of the inner
// JWS and its key-change object, each refused on its own with the account
// key left unchanged: the inner JWS has a "jwk" (not a "kid"), the outer
// url, no nonce, an accepted algorithm and key, a valid signature by its
// jwk; "account" is the outer kid, "oldKey" the account's current public
// key (a JWK with the private key is refused, as in a "jwk" header); a
// new key that another account holds is 409 with that account's URL in
// Location, and a new key that is the account's current key is 400
// malformed. Each refusal of the inner JWS says "inner" in its detail. Then
// a rollover that passes them all succeeds and the old key
// no longer signs for the account.
func TestKeyChangeInnerChecks(t *testing.T) {
	env := testenv.New(t)
	c := hNewClient(t, env)
	acct, other := hNewKey(t, "p256"), hNewKey(t, "p256")
	kid := c.newAccount(t, acct)
	otherKid := c.newAccount(t, other)
	u := c.dir.KeyChange
	nk := hNewKey(t, "p256")
	good := map[string]any{"account": kid, "oldKey": acct.jwkJSON(t)}
	jwkHdr := func(k *hKey) map[string]any { return map[string]any{"jwk": k.jwkJSON(t), "url": u} }
	with := func(h map[string]any, k string, v any) map[string]any { h[k] = v; return h }
	privJWK, err := (&jose.JSONWebKey{Key: acct.priv}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	rsa1024 := hNewKey(t, "rsa1024")
	rows := []struct {
		name   string
		inner  []byte
		status int
		ptype  acme.ProblemType
	}{
		{"inner kid instead of jwk", kcInner(t, nk, map[string]any{"kid": kid, "url": u}, good), 400, acme.Malformed},
		{"inner both jwk and kid", kcInner(t, nk, with(jwkHdr(nk), "kid", kid), good), 400, acme.Malformed},
		{"inner url of another resource", kcInner(t, nk, with(jwkHdr(nk), "url", c.dir.NewOrder), good), 400, acme.Malformed},
		{"inner url missing", kcInner(t, nk, map[string]any{"jwk": nk.jwkJSON(t)}, good), 400, acme.Malformed},
		{"inner nonce present", kcInner(t, nk, with(jwkHdr(nk), "nonce", c.nonce(t)), good), 400, acme.Malformed},
		{"inner alg HS256", kcInner(t, nk, with(jwkHdr(nk), "alg", "HS256"), good), 400, acme.BadSignatureAlgorithm},
		{"inner alg none", kcInner(t, nk, with(jwkHdr(nk), "alg", "none"), good), 400, acme.BadSignatureAlgorithm},
		{"inner alg ES384 with a P-256 key", kcInner(t, nk, with(jwkHdr(nk), "alg", "ES384"), good), 400, acme.BadSignatureAlgorithm},
		{"inner RSA 1024 key", kcInner(t, rsa1024, jwkHdr(rsa1024), good), 400, acme.BadPublicKey},
		{"inner b64 false", kcInner(t, nk, with(with(jwkHdr(nk), "b64", false), "crit", []string{"b64"}), good), 400, acme.Malformed},
		{"inner signed by a key other than its jwk", hBuild(t, hNewKey(t, "p256"), jwkHdr(nk), hJSON(t, good)).bytes(t), 400, acme.Malformed},
		{"inner not a JWS", hJSON(t, good), 400, acme.Malformed},
		{"inner general serialization", hJSON(t, map[string]any{"payload": hB64(hJSON(t, good)), "signatures": []any{}}), 400, acme.Malformed},
		{"account of another account", kcInner(t, nk, jwkHdr(nk), map[string]any{"account": otherKid, "oldKey": acct.jwkJSON(t)}), 400, acme.Malformed},
		{"account missing", kcInner(t, nk, jwkHdr(nk), map[string]any{"oldKey": acct.jwkJSON(t)}), 400, acme.Malformed},
		{"oldKey of another account", kcInner(t, nk, jwkHdr(nk), map[string]any{"account": kid, "oldKey": other.jwkJSON(t)}), 400, acme.Malformed},
		{"oldKey missing", kcInner(t, nk, jwkHdr(nk), map[string]any{"account": kid}), 400, acme.Malformed},
		{"oldKey with the private key", kcInner(t, nk, jwkHdr(nk), map[string]any{"account": kid, "oldKey": json.RawMessage(privJWK)}), 400, acme.Malformed},
		{"inner payload not an object", kcInner(t, nk, jwkHdr(nk), []string{kid}), 400, acme.Malformed},
		{"inner payload syntax error", hBuild(t, nk, jwkHdr(nk), []byte(`{"account":`)).bytes(t), 400, acme.Malformed},
		{"inner payload empty", hBuild(t, nk, jwkHdr(nk), nil).bytes(t), 400, acme.Malformed},
		{"inner payload null", hBuild(t, nk, jwkHdr(nk), []byte("null")).bytes(t), 400, acme.Malformed},
		{"new key held by another account", kcInner(t, other, jwkHdr(other), good), http.StatusConflict, acme.Malformed},
		{"new key is the account's current key", kcInner(t, acct, jwkHdr(acct), good), 400, acme.Malformed},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			r := c.post(t, u, hBuild(t, acct, c.hdr(t, acct, kid, u), row.inner).bytes(t))
			if r.status != row.status || r.problem == nil || r.problem.Type != row.ptype {
				t.Fatalf("status %d %s, want %d %s", r.status, r.body, row.status, row.ptype)
			}
			// A fault of the inner JWS says so: the outer request was fine.
			if strings.HasPrefix(row.name, "inner ") && !strings.Contains(r.problem.Detail, "inner") {
				t.Errorf("detail %q does not say the fault is in the inner JWS", r.problem.Detail)
			}
			if row.name == "inner signed by a key other than its jwk" && r.problem.Detail != "inner JWS: the JWS signature does not verify" {
				t.Errorf("detail %q, want the inner JWS's signature named", r.problem.Detail)
			}
			wantDetail := map[string]string{
				"inner payload not an object": "inner JWS: the payload is not valid JSON for this resource: it must be a JSON object, not array",
				"inner payload syntax error":  "inner JWS: the payload is not valid JSON for this resource: syntax error",
				"inner payload empty":         "inner JWS: the payload must be the key-change object (RFC 8555 §7.3.5), not empty",
				"inner payload null":          "inner JWS: the payload is not valid JSON for this resource: it must be a JSON object, not null",
			}[row.name]
			if wantDetail != "" && r.problem.Detail != wantDetail {
				t.Errorf("detail %q, want %q", r.problem.Detail, wantDetail)
			}
			if r.header.Get("Replay-Nonce") == "" {
				t.Error("no Replay-Nonce")
			}
			if want := ""; row.status == http.StatusConflict {
				if loc := r.header.Get("Location"); loc != otherKid {
					t.Errorf("409 Location %q, want the other account's URL %s", loc, otherKid)
				}
			} else if loc := r.header.Get("Location"); loc != want {
				t.Errorf("Location %q on a refusal", loc)
			}
			// The account key is unchanged.
			c.mustOK(t, http.StatusOK, acct, kid, kid, nil)
		})
	}

	r := c.post(t, u, hBuild(t, acct, c.hdr(t, acct, kid, u), kcInner(t, nk, jwkHdr(nk), good)).bytes(t))
	if r.status != http.StatusOK || r.header.Get("Location") != kid {
		t.Fatalf("rollover: %d Location %q %s", r.status, r.header.Get("Location"), r.body)
	}
	c.mustOK(t, http.StatusOK, nk, kid, kid, nil)
	if r := c.signed(t, acct, kid, kid, nil); r.status < 400 {
		t.Fatalf("old key still signs for the account: %d %s", r.status, r.body)
	}
	if r := c.signed(t, acct, "", c.dir.NewAccount, []byte(`{"onlyReturnExisting":true}`)); r.problem == nil || r.problem.Type != acme.AccountDoesNotExist {
		t.Fatalf("onlyReturnExisting with the old key: %d %s, want accountDoesNotExist", r.status, r.body)
	}
}

// TestKeyChangeKeyTypes: an account rolls over to each accepted account
// key type in turn (ECDSA P-384, Ed25519, RSA 4096; docs/configuration.md)
// and signs with it afterwards; two concurrent rollovers of one account
// to two new keys: exactly one wins, and the account then answers to its
// key only.
func TestKeyChangeKeyTypes(t *testing.T) {
	env := testenv.New(t)
	c := hNewClient(t, env)
	cur := hNewKey(t, "p256")
	kid := c.newAccount(t, cur)
	u := c.dir.KeyChange
	rollover := func(from, to *hKey) []byte {
		in := hJoseSign(t, to, "", "", "", u, hJSON(t, map[string]any{"account": kid, "oldKey": from.jwkJSON(t)}),
			func(o *jose.SignerOptions) { delete(o.ExtraHeaders, "nonce") })
		return hJoseSign(t, from, "", kid, c.nonce(t), u, in, nil)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsa4096, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		t.Fatal(err)
	}
	for _, nk := range []*hKey{
		{priv: p384, alg: "ES384", jwk: jose.JSONWebKey{Key: p384.Public()}},
		{priv: ed, alg: "EdDSA", jwk: jose.JSONWebKey{Key: ed.Public()}},
		{priv: rsa4096, alg: "RS256", jwk: jose.JSONWebKey{Key: rsa4096.Public()}},
	} {
		if r := c.post(t, u, rollover(cur, nk)); r.status != http.StatusOK {
			t.Fatalf("rollover to %s: %d %s", nk.alg, r.status, r.body)
		}
		cur = nk
		c.mustOK(t, http.StatusOK, cur, kid, kid, nil)
	}

	a, b := hNewKey(t, "p256"), hNewKey(t, "p256")
	bodies := [][]byte{rollover(cur, a), rollover(cur, b)}
	res := make([]*hResp, 2)
	var wg sync.WaitGroup
	for i := range bodies {
		wg.Add(1)
		go func() { defer wg.Done(); res[i] = c.post(t, u, bodies[i]) }()
	}
	wg.Wait()
	won := -1
	for i, r := range res {
		switch {
		case r.status == http.StatusOK:
			if won >= 0 {
				t.Fatal("both concurrent rollovers succeeded")
			}
			won = i
		case r.status >= 500 || r.problem == nil:
			t.Fatalf("concurrent rollover %d: %d %s", i, r.status, r.body)
		}
	}
	if won < 0 {
		t.Fatalf("neither concurrent rollover succeeded: %s / %s", res[0].body, res[1].body)
	}
	keys := []*hKey{a, b}
	c.mustOK(t, http.StatusOK, keys[won], kid, kid, nil)
	for _, k := range []*hKey{keys[1-won], cur} {
		if r := c.signed(t, k, kid, kid, nil); r.status < 400 {
			t.Errorf("a key that is not the account's signs for it: %d %s", r.status, r.body)
		}
	}
}
