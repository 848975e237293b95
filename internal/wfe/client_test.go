package wfe_test

// In-process ACME client tests: a full certgate (internal/testenv) driven by
// golang.org/x/crypto/acme, plus hand-signed go-jose requests where
// x/crypto/acme cannot express the request (Ed25519 keys, bad nonces,
// raw concurrent finalizes) or hides headers and status codes.

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cgacme "github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/certlint"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/testenv"
	"golang.org/x/crypto/acme"
)

func TestACMEClient(t *testing.T) {
	// A retry delay longer than the RA's result wait (1s) keeps a failing
	// challenge "processing" when its answer is sent, as a slow validation
	// on a real network would.
	env := testenv.NewWithOptions(t, testenv.Options{Server: server.Options{RA: ra.Config{RetryDelay: 2 * time.Second}}})

	// ---- full issuance per challenge type ----

	for _, tc := range []struct{ typ, name string }{
		{"http-01", "http01.example.test"},
		{"dns-01", "dns01.example.test"},
		{"tls-alpn-01", "alpn01.example.test"},
	} {
		t.Run("issuance/"+tc.typ, func(t *testing.T) {
			t.Parallel()
			c, _ := clRegistered(t, env, nil)
			names := []string{tc.name, "www." + tc.name}
			is := clIssue(t, env, c, acme.DomainIDs(names...), tc.typ)
			clCheckLeaf(t, env, is, names, nil)
		})
	}

	t.Run("issuance/wildcard-dns-01-only", func(t *testing.T) {
		t.Parallel()
		ctx := clTestCtx(t)
		c, _ := clRegistered(t, env, nil)
		ids := acme.DomainIDs("*.x.example.test")
		o, err := c.AuthorizeOrder(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		if len(o.AuthzURLs) != 1 {
			t.Fatalf("%d authorizations, want 1", len(o.AuthzURLs))
		}
		z, err := c.GetAuthorization(ctx, o.AuthzURLs[0])
		if err != nil {
			t.Fatal(err)
		}
		if z.Identifier.Value != "x.example.test" || !z.Wildcard {
			t.Errorf("authorization identifier %q wildcard=%v, want x.example.test wildcard=true", z.Identifier.Value, z.Wildcard)
		}
		if got := clChallengeTypes(z); !slices.Equal(got, []string{"dns-01"}) {
			t.Fatalf("wildcard authorization offers %v, want only dns-01", got)
		}
		clSolve(t, env, c, o.AuthzURLs[0], "dns-01")
		if o, err = c.WaitOrder(ctx, o.URI); err != nil || o.Status != acme.StatusReady {
			t.Fatalf("order: %v %v", o, err)
		}
		csr, key := clCsrFor(t, ids, nil)
		chain, certURL, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(chain[0])
		if err != nil {
			t.Fatal(err)
		}
		clCheckLeaf(t, env, &clIssued{chain: chain, leaf: leaf, certURL: certURL, key: key}, []string{"*.x.example.test"}, nil)
	})

	// ---- every account key type in the allowlist ----

	for _, tc := range []struct {
		name string
		key  func(t testing.TB) crypto.Signer
	}{
		{"RS256-RSA2048", func(t testing.TB) crypto.Signer { return clRsaKey(t, 2048) }},
		{"ES256-P256", func(t testing.TB) crypto.Signer { return clEcKey(t, elliptic.P256()) }},
		{"ES384-P384", func(t testing.TB) crypto.Signer { return clEcKey(t, elliptic.P384()) }},
		{"ES512-P521", func(t testing.TB) crypto.Signer { return clEcKey(t, elliptic.P521()) }},
	} {
		t.Run("account-key/"+tc.name, func(t *testing.T) {
			t.Parallel()
			c, acct := clRegistered(t, env, tc.key(t))
			name := strings.ToLower(tc.name) + ".keys.example.test"
			is := clIssue(t, env, c, acme.DomainIDs(name), "http-01")
			clCheckLeaf(t, env, is, []string{name}, nil)
			got, err := c.GetReg(clTestCtx(t), "")
			if err != nil || got.URI != acct.URI {
				t.Errorf("GetReg: %v %v, want %s", got, err, acct.URI)
			}
		})
	}

	t.Run("account-key/EdDSA-Ed25519", func(t *testing.T) {
		t.Parallel()
		// x/crypto/acme cannot sign with Ed25519; sign with go-jose.
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		rc := clNewRawClient(t, env, priv)
		if r := rc.register(); r.status != http.StatusCreated {
			t.Fatalf("newAccount: %s, want 201", r)
		}
		var acct cgacme.Account
		rc.decode(rc.post(rc.kid, nil), http.StatusOK, &acct)
		if acct.Status != "valid" {
			t.Fatalf("account status %q", acct.Status)
		}
		name := "eddsa.keys.example.test"
		r := rc.post(rc.dir.NewOrder, map[string]any{"identifiers": []cgacme.Identifier{{Type: "dns", Value: name}}})
		var o cgacme.Order
		rc.decode(r, http.StatusCreated, &o)
		orderURL := r.header.Get("Location")
		var z cgacme.Authorization
		rc.decode(rc.post(o.Authorizations[0], nil), http.StatusOK, &z)
		var chal *cgacme.Challenge
		for i := range z.Challenges {
			if z.Challenges[i].Type == "http-01" {
				chal = &z.Challenges[i]
			}
		}
		if chal == nil {
			t.Fatalf("no http-01 challenge in %+v", z)
		}
		env.SetHTTP01(chal.Token, rc.keyAuth(chal.Token))
		rc.decode(rc.post(chal.URL, map[string]any{}), http.StatusOK, nil)
		rc.decode(rc.waitStatus(o.Authorizations[0], "pending"), http.StatusOK, &z)
		if z.Status != "valid" {
			t.Fatalf("authorization %s: %+v", z.Status, z.Challenges)
		}
		csr, key := clCsrFor(t, acme.DomainIDs(name), nil)
		rc.decode(rc.post(o.Finalize, map[string]string{"csr": base64.RawURLEncoding.EncodeToString(csr)}), http.StatusOK, &o)
		rc.decode(rc.waitStatus(orderURL, "processing"), http.StatusOK, &o)
		if o.Status != "valid" || o.Certificate == "" {
			t.Fatalf("order %s, certificate %q", o.Status, o.Certificate)
		}
		cr := rc.post(o.Certificate, nil)
		if cr.status != http.StatusOK {
			t.Fatalf("certificate: %s", cr)
		}
		chain := clPemChain(t, cr.body)
		leaf, _ := x509.ParseCertificate(chain[0])
		clCheckLeaf(t, env, &clIssued{chain: chain, leaf: leaf, key: key}, []string{name}, nil)
	})

	// ---- accounts ----

	t.Run("keyChange", func(t *testing.T) {
		t.Parallel()
		ctx := clTestCtx(t)
		oldKey, newKey := clEcKey(t, elliptic.P256()), clEcKey(t, elliptic.P384())
		c, acct := clRegistered(t, env, oldKey)
		if err := c.AccountKeyRollover(ctx, newKey); err != nil {
			t.Fatalf("rollover: %v", err)
		}

		// The old key no longer authenticates the account (kid form) ...
		old := clNewRawClient(t, env, oldKey)
		old.kid = acct.URI
		r := old.post(acct.URI, nil)
		p := r.problem()
		if r.status < 400 || r.status > 499 || !strings.HasPrefix(string(p.Type), cgacme.ErrorNS) {
			t.Errorf("old key, kid form: got %s, want a 4xx ACME problem", r)
		}
		t.Logf("old key with kid after rollover: %d %s", r.status, p.Type)
		// ... and finds no account (jwk form).
		old.kid = ""
		r = old.post(old.dir.NewAccount, map[string]any{"onlyReturnExisting": true})
		if r.status != http.StatusBadRequest || r.problem().Type != cgacme.AccountDoesNotExist {
			t.Errorf("old key onlyReturnExisting: got %s, want 400 accountDoesNotExist", r)
		}

		// The new key works, for the same account.
		got, err := c.GetReg(ctx, "")
		if err != nil || got.URI != acct.URI {
			t.Fatalf("new key GetReg: %+v %v, want %s", got, err, acct.URI)
		}
		if _, err := c.AuthorizeOrder(ctx, acme.DomainIDs("keychange.example.test")); err != nil {
			t.Errorf("new key newOrder: %v", err)
		}

		// Rolling over to a key another account holds: 409 + its Location.
		otherKey := clEcKey(t, elliptic.P256())
		_, other := clRegistered(t, env, otherKey)
		err = c.AccountKeyRollover(ctx, otherKey)
		ae := clAsACMEError(t, err)
		if ae.StatusCode != http.StatusConflict {
			t.Errorf("rollover to a used key: status %d (%s), want 409", ae.StatusCode, ae.ProblemType)
		}
		if loc := ae.Header.Get("Location"); loc != other.URI {
			t.Errorf("rollover to a used key: Location %q, want %q", loc, other.URI)
		}
		// The failed rollover left both accounts as they were.
		if got, err := c.GetReg(ctx, ""); err != nil || got.URI != acct.URI {
			t.Errorf("after failed rollover: %+v %v", got, err)
		}
		oc := clNewClient(env, otherKey)
		if got, err := oc.GetReg(ctx, ""); err != nil || got.URI != other.URI {
			t.Errorf("other account after failed rollover: %+v %v", got, err)
		}
	})

	t.Run("deactivate-account", func(t *testing.T) {
		t.Parallel()
		ctx := clTestCtx(t)
		key := clEcKey(t, elliptic.P256())
		c, acct := clRegistered(t, env, key)
		if err := c.DeactivateReg(ctx); err != nil {
			t.Fatalf("deactivate: %v", err)
		}
		_, err := c.AuthorizeOrder(ctx, acme.DomainIDs("deactivated.example.test"))
		clWantACMEError(t, err, http.StatusUnauthorized, cgacme.Unauthorized)

		rc := clNewRawClient(t, env, key)
		rc.kid = acct.URI
		r := rc.post(acct.URI, nil)
		if r.status != http.StatusUnauthorized || r.problem().Type != cgacme.Unauthorized {
			t.Errorf("POST-as-GET account after deactivation: got %s, want 401 unauthorized", r)
		}
		r = rc.post(acct.URI, map[string]string{"status": "valid"})
		if r.status != http.StatusUnauthorized || r.problem().Type != cgacme.Unauthorized {
			t.Errorf("reactivation attempt: got %s, want 401 unauthorized", r)
		}
		// RFC 8555 §7.3.6: "If a server receives a POST or POST-as-GET from
		// a deactivated account, it MUST return an error response with
		// status code 401 (Unauthorized) and type ...:unauthorized" — this
		// includes newAccount signed with the deactivated account's key.
		rc.kid = ""
		for _, payload := range []map[string]any{{"onlyReturnExisting": true}, {"termsOfServiceAgreed": true}} {
			r = rc.post(rc.dir.NewAccount, payload)
			if r.status != http.StatusUnauthorized || r.problem().Type != cgacme.Unauthorized {
				t.Errorf("newAccount %v with a deactivated account's key: got %s, want 401 unauthorized", payload, r)
			}
		}
	})

	t.Run("onlyReturnExisting", func(t *testing.T) {
		t.Parallel()
		unknown := clNewRawClient(t, env, clEcKey(t, elliptic.P256()))
		for range 2 { // and the lookup created nothing
			r := unknown.post(unknown.dir.NewAccount, map[string]any{"onlyReturnExisting": true})
			if r.status != http.StatusBadRequest || r.problem().Type != cgacme.AccountDoesNotExist {
				t.Errorf("unknown key: got %s, want 400 accountDoesNotExist", r)
			}
			if r.header.Get("Replay-Nonce") == "" {
				t.Error("accountDoesNotExist response has no Replay-Nonce")
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("problem Content-Type %q", ct)
			}
		}
		key := clEcKey(t, elliptic.P256())
		_, acct := clRegistered(t, env, key)
		known := clNewRawClient(t, env, key)
		r := known.post(known.dir.NewAccount, map[string]any{"onlyReturnExisting": true})
		if r.status != http.StatusOK {
			t.Fatalf("known key: got %s, want 200", r)
		}
		if loc := r.header.Get("Location"); loc != acct.URI {
			t.Errorf("known key: Location %q, want %q", loc, acct.URI)
		}
	})

	t.Run("badNonce-retry", func(t *testing.T) {
		t.Parallel()
		rc := clNewRawClient(t, env, clEcKey(t, elliptic.P256()))
		checkBadNonce := func(r *clRawResponse) string {
			t.Helper()
			if r.status != http.StatusBadRequest || r.problem().Type != cgacme.BadNonce {
				t.Fatalf("got %s, want 400 badNonce", r)
			}
			n := r.header.Get("Replay-Nonce")
			if n == "" {
				t.Fatal("badNonce response has no Replay-Nonce")
			}
			return n
		}
		// A nonce the server never issued.
		fresh := checkBadNonce(rc.postWithNonce(rc.dir.NewAccount, map[string]any{"termsOfServiceAgreed": true}, "bm90LWEtcmVhbC1ub25jZQ"))
		r := rc.postWithNonce(rc.dir.NewAccount, map[string]any{"termsOfServiceAgreed": true}, fresh)
		if r.status != http.StatusCreated {
			t.Fatalf("retry with the fresh nonce: got %s, want 201", r)
		}
		rc.kid = r.header.Get("Location")
		// A nonce already used.
		n := rc.nonce()
		if r := rc.postWithNonce(rc.kid, nil, n); r.status != http.StatusOK {
			t.Fatalf("first use: %s", r)
		}
		fresh = checkBadNonce(rc.postWithNonce(rc.kid, nil, n))
		if r := rc.postWithNonce(rc.kid, nil, fresh); r.status != http.StatusOK {
			t.Fatalf("retry with the fresh nonce: got %s, want 200", r)
		}
		// No nonce at all.
		checkBadNonce(rc.postWithNonce(rc.kid, nil, ""))
	})

	// ---- orders and authorizations ----

	t.Run("deactivate-authorization", func(t *testing.T) {
		t.Parallel()
		ctx := clTestCtx(t)
		c, _ := clRegistered(t, env, nil)
		o, err := c.AuthorizeOrder(ctx, acme.DomainIDs("deact-authz.example.test", "deact-authz2.example.test"))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.RevokeAuthorization(ctx, o.AuthzURLs[0]); err != nil {
			t.Fatalf("deactivate authorization: %v", err)
		}
		z, err := c.GetAuthorization(ctx, o.AuthzURLs[0])
		if err != nil {
			t.Fatal(err)
		}
		if z.Status != acme.StatusDeactivated {
			t.Errorf("authorization status %q, want deactivated", z.Status)
		}
		got, err := c.GetOrder(ctx, o.URI)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != acme.StatusInvalid {
			t.Errorf("order status %q, want invalid", got.Status)
		}
		// A deactivated authorization's challenges can no longer be answered.
		chal := clFindChallenge(t, z, "http-01")
		if _, err := c.Accept(ctx, chal); err == nil {
			t.Error("answering a challenge of a deactivated authorization succeeded")
		}
	})

	for _, tc := range []struct{ ip, typ string }{
		{"127.0.0.1", "http-01"},
		{"127.0.0.1", "tls-alpn-01"},
		{"::1", "http-01"},
		{"::1", "tls-alpn-01"},
	} {
		t.Run("ip/"+tc.ip+"/"+tc.typ, func(t *testing.T) {
			t.Parallel()
			if strings.Contains(tc.ip, ":") {
				ln, err := net.Listen("tcp", "[::1]:0")
				if err != nil {
					t.Skip("no IPv6 loopback")
				}
				ln.Close()
			}
			ctx := clTestCtx(t)
			c, _ := clRegistered(t, env, nil)
			ids := acme.IPIDs(tc.ip)
			o, err := c.AuthorizeOrder(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			z, err := c.GetAuthorization(ctx, o.AuthzURLs[0])
			if err != nil {
				t.Fatal(err)
			}
			if z.Identifier.Type != "ip" || z.Identifier.Value != tc.ip {
				t.Errorf("authorization identifier %+v", z.Identifier)
			}
			if got := clChallengeTypes(z); !slices.Equal(got, []string{"http-01", "tls-alpn-01"}) {
				t.Errorf("IP authorization offers %v, want http-01 and tls-alpn-01 (no dns-01)", got)
			}
			clSolve(t, env, c, o.AuthzURLs[0], tc.typ)
			if o, err = c.WaitOrder(ctx, o.URI); err != nil {
				t.Fatal(err)
			}
			csr, key := clCsrFor(t, ids, nil)
			chain, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
			if err != nil {
				t.Fatalf("finalize: %v", err)
			}
			leaf, err := x509.ParseCertificate(chain[0])
			if err != nil {
				t.Fatal(err)
			}
			clCheckLeaf(t, env, &clIssued{chain: chain, leaf: leaf, key: key}, nil, []string{tc.ip})
			if len(leaf.DNSNames) != 0 {
				t.Errorf("IP certificate has dNSName SANs %q", leaf.DNSNames)
			}
		})
	}

	t.Run("finalize-with-account-key", func(t *testing.T) {
		t.Parallel()
		ctx := clTestCtx(t)
		key := clEcKey(t, elliptic.P256())
		c, _ := clRegistered(t, env, key)
		ids := acme.DomainIDs("acctkey.example.test")
		o := clReadyOrder(t, env, c, ids, "http-01")
		csr, _ := clCsrFor(t, ids, key)
		_, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
		clWantACMEError(t, err, http.StatusBadRequest, cgacme.BadCSR)
		// The refusal leaves the order ready for a proper CSR.
		if got, err := c.GetOrder(ctx, o.URI); err != nil || got.Status != acme.StatusReady {
			t.Errorf("order after badCSR: %+v %v, want ready", got, err)
		}
		csr, _ = clCsrFor(t, ids, nil)
		if _, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true); err != nil {
			t.Errorf("finalize with a proper key afterwards: %v", err)
		}
	})

	t.Run("headers", func(t *testing.T) {
		t.Parallel()
		key := clEcKey(t, elliptic.P256())
		c, acct := clRegistered(t, env, key)
		rc := clNewRawClient(t, env, key)
		rc.kid = acct.URI
		index := env.BaseURL + "/acme/directory"
		wantIndex := func(what string, r *clRawResponse) {
			t.Helper()
			if l := r.links("index"); !slices.Equal(l, []string{index}) {
				t.Errorf("%s: Link rel=index %q, want %q", what, l, index)
			}
		}

		// newOrder: 201 with Location (and the order at that URL).
		r := rc.post(rc.dir.NewOrder, map[string]any{"identifiers": []cgacme.Identifier{{Type: "dns", Value: "retry.example.test"}}})
		var o cgacme.Order
		rc.decode(r, http.StatusCreated, &o)
		loc := r.header.Get("Location")
		if !strings.HasPrefix(loc, env.BaseURL+"/acme/order/") {
			t.Errorf("newOrder Location %q", loc)
		}
		wantIndex("newOrder", r)
		if o.Status != "pending" || len(o.Authorizations) != 1 || o.Finalize == "" {
			t.Errorf("new order %+v", o)
		}
		var again cgacme.Order
		rc.decode(rc.post(loc, nil), http.StatusOK, &again)
		if again.Finalize != o.Finalize {
			t.Errorf("order at Location differs: %+v", again)
		}

		// A pending challenge carries Retry-After and Link rel=up.
		var z cgacme.Authorization
		rc.decode(rc.post(o.Authorizations[0], nil), http.StatusOK, &z)
		var chal cgacme.Challenge
		for _, ch := range z.Challenges {
			if ch.Type == "http-01" {
				chal = ch
			}
		}
		r = rc.post(chal.URL, nil)
		var got cgacme.Challenge
		rc.decode(r, http.StatusOK, &got)
		if got.Status != "pending" || r.header.Get("Retry-After") == "" {
			t.Errorf("pending challenge: status %q Retry-After %q", got.Status, r.header.Get("Retry-After"))
		}
		if up := r.links("up"); !slices.Equal(up, []string{o.Authorizations[0]}) {
			t.Errorf("challenge Link rel=up %q, want %q", up, o.Authorizations[0])
		}
		wantIndex("challenge", r)

		// Answering it without a responder: processing (the first attempts
		// fail and are retried), with Retry-After.
		r = rc.post(chal.URL, map[string]any{})
		rc.decode(r, http.StatusOK, &got)
		if got.Status != "processing" {
			t.Errorf("answered challenge: status %q, want processing", got.Status)
		} else if r.header.Get("Retry-After") == "" {
			t.Error("processing challenge: no Retry-After")
		}
		r = rc.post(o.Authorizations[0], nil)
		rc.decode(r, http.StatusOK, &z)
		if z.Status == "pending" && len(z.Challenges) > 0 && slices.ContainsFunc(z.Challenges, func(c cgacme.Challenge) bool { return c.Status == "processing" }) &&
			r.header.Get("Retry-After") == "" {
			t.Error("authorization being validated: no Retry-After")
		}

		// Certificate download.
		name := "download.example.test"
		is := clIssue(t, env, c, acme.DomainIDs(name), "http-01")
		r = rc.post(is.certURL, nil)
		if r.status != http.StatusOK {
			t.Fatalf("certificate: %s", r)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/pem-certificate-chain" {
			t.Errorf("certificate Content-Type %q", ct)
		}
		wantIndex("certificate", r)
		up := r.links("up")
		if len(up) != 1 {
			t.Fatalf("certificate Link rel=up %q, want one", up)
		}
		chain := clPemChain(t, r.body)
		if len(chain) != 2 || string(chain[0]) != string(is.chain[0]) {
			t.Errorf("downloaded chain has %d certificates / differs from the finalize result", len(chain))
		}
		// Byte for byte the issuer's chain, though the store keeps only the
		// DER and one copy of the intermediates.
		if want := env.Server.CA().ChainPEM(is.chain[0]); string(r.body) != string(want) {
			t.Errorf("downloaded body =\n%q\nwant the issuer's chain\n%q", r.body, want)
		}
		res, err := env.HTTPClient.Get(up[0])
		if err != nil {
			t.Fatal(err)
		}
		interDER, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || len(chain) < 2 || string(interDER) != string(chain[1]) {
			t.Errorf("Link rel=up %s: status %d, does not serve the chain's issuer", up[0], res.StatusCode)
		}
		// Problem responses carry the index link and a nonce too.
		r = rc.postWithNonce(rc.kid, nil, "bm9wZQ")
		wantIndex("badNonce problem", r)
	})

	t.Run("revocation", func(t *testing.T) {
		t.Parallel()
		ctx := clTestCtx(t)
		c, acct := clRegistered(t, env, nil)
		stranger, _ := clRegistered(t, env, nil)
		byAccount := clIssue(t, env, c, acme.DomainIDs("revoke1.example.test"), "http-01")
		byKey := clIssue(t, env, c, acme.DomainIDs("revoke2.example.test"), "http-01")
		kept := clIssue(t, env, c, acme.DomainIDs("revoke3.example.test"), "http-01")

		// By the issuing account, reason 4 (superseded).
		if err := c.RevokeCert(ctx, nil, byAccount.chain[0], acme.CRLReasonSuperseded); err != nil {
			t.Fatalf("revoke by account: %v", err)
		}
		// Again: alreadyRevoked (raw: x/crypto/acme treats it as success).
		rc := clNewRawClient(t, env, c.Key)
		rc.kid = acct.URI
		r := rc.post(rc.dir.RevokeCert, map[string]any{"certificate": base64.RawURLEncoding.EncodeToString(byAccount.chain[0]), "reason": 4})
		if r.status != http.StatusBadRequest || r.problem().Type != cgacme.AlreadyRevoked {
			t.Errorf("second revocation: got %s, want 400 alreadyRevoked", r)
		}
		// By the certificate key (jwk-signed).
		if err := c.RevokeCert(ctx, byKey.key, byKey.chain[0], acme.CRLReasonKeyCompromise); err != nil {
			t.Fatalf("revoke by certificate key: %v", err)
		}
		// By another account without authorizations: 403 unauthorized
		// (RFC 8555 §7.6 example response).
		err := stranger.RevokeCert(ctx, nil, kept.chain[0], acme.CRLReasonUnspecified)
		clWantACMEError(t, err, http.StatusForbidden, cgacme.Unauthorized)
		// Reason 7 is unused in RFC 5280: badRevocationReason.
		err = c.RevokeCert(ctx, nil, kept.chain[0], acme.CRLReasonCode(7))
		clWantACMEError(t, err, http.StatusBadRequest, cgacme.BadRevocationReason)

		// The CRL (plain HTTP on the same port) lists the revoked serials.
		crlURL := "http://" + strings.TrimPrefix(env.BaseURL, "https://") + "/pki/crl"
		plain := &http.Client{Transport: &http.Transport{Proxy: nil}}
		res, err := plain.Get(crlURL)
		if err != nil {
			t.Fatal(err)
		}
		der, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("CRL: %d %s", res.StatusCode, der)
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatalf("parse CRL: %v", err)
		}
		inter, err := x509.ParseCertificate(byAccount.chain[1])
		if err != nil {
			t.Fatal(err)
		}
		if err := crl.CheckSignatureFrom(inter); err != nil {
			t.Errorf("CRL signature: %v", err)
		}
		if err := certlint.CheckCRL(der); err != nil {
			t.Errorf("CRL lint: %v", err)
		}
		reasons := map[string]int{}
		for _, e := range crl.RevokedCertificateEntries {
			reasons[e.SerialNumber.Text(16)] = e.ReasonCode
		}
		for _, tc := range []struct {
			is     *clIssued
			reason int
		}{{byAccount, 4}, {byKey, 1}} {
			s := tc.is.leaf.SerialNumber.Text(16)
			if r, ok := reasons[s]; !ok {
				t.Errorf("CRL does not list revoked serial %s", s)
			} else if r != tc.reason {
				t.Errorf("CRL reason for %s = %d, want %d", s, r, tc.reason)
			}
		}
		if _, ok := reasons[kept.leaf.SerialNumber.Text(16)]; ok {
			t.Error("CRL lists a certificate whose revocation was refused")
		}
	})

	t.Run("finalize-race", func(t *testing.T) {
		t.Parallel()
		// Own server, so the certificate count is not shared with other subtests.
		env := testenv.New(t)
		ctx := clTestCtx(t)
		key := clEcKey(t, elliptic.P256())
		c, acct := clRegistered(t, env, key)
		ids := acme.DomainIDs("race.example.test")
		o := clReadyOrder(t, env, c, ids, "http-01")
		before, err := env.Server.Store().CountCertificates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rc := clNewRawClient(t, env, key)
		rc.kid = acct.URI
		const n = 2
		bodies := make([][]byte, n)
		for i := range bodies {
			csr, _ := clCsrFor(t, ids, nil)
			bodies[i] = clSignJWS(t, key, rc.alg, rc.kid, rc.nonce(), o.FinalizeURL,
				clPayloadBytes(t, map[string]string{"csr": base64.RawURLEncoding.EncodeToString(csr)}))
		}
		results := make([]*clRawResponse, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = clPostRawNoT(env, o.FinalizeURL, bodies[i])
			}()
		}
		close(start)
		wg.Wait()
		var ok []cgacme.Order
		for i, r := range results {
			if errs[i] != nil {
				t.Fatalf("finalize %d: %v", i, errs[i])
			}
			switch {
			case r.status == http.StatusOK:
				var v cgacme.Order
				rc.decode(r, http.StatusOK, &v)
				ok = append(ok, v)
			case r.status == http.StatusForbidden && r.problem().Type == cgacme.OrderNotReady:
			default:
				t.Errorf("finalize %d: got %s, want 200 or 403 orderNotReady", i, r)
			}
		}
		if len(ok) == 0 {
			t.Fatal("no finalize succeeded")
		}
		for _, v := range ok[1:] {
			if v.Certificate != ok[0].Certificate {
				t.Errorf("two finalizes returned different certificates: %q and %q", ok[0].Certificate, v.Certificate)
			}
		}
		after, err := env.Server.Store().CountCertificates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after-before != 1 {
			t.Errorf("%d certificates issued for one order, want exactly 1", after-before)
		}
		got, err := c.WaitOrder(ctx, o.URI)
		if err != nil || got.Status != acme.StatusValid {
			t.Errorf("order after the race: %+v %v", got, err)
		}
	})
}

// TestACMEClientOrdersList pages through an account's orders list (RFC 8555
// §7.1.2.1) with a page size of 2.
func TestACMEClientOrdersList(t *testing.T) {
	t.Parallel()
	env := testenv.NewWithOptions(t, testenv.Options{Server: server.Options{OrdersPerPage: 2}})
	rc := clNewRawClient(t, env, clEcKey(t, elliptic.P256()))
	rc.register()
	want := map[string]bool{}
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		r := rc.post(rc.dir.NewOrder, map[string]any{"identifiers": []cgacme.Identifier{{Type: "dns", Value: name + ".list.example.test"}}})
		rc.decode(r, http.StatusCreated, nil)
		want[r.header.Get("Location")] = true
	}
	if len(want) != 5 {
		t.Fatalf("%d distinct order URLs from 5 orders", len(want))
	}
	var acct cgacme.Account
	rc.decode(rc.post(rc.kid, nil), http.StatusOK, &acct)
	if acct.Orders == "" {
		t.Fatal("account has no orders URL")
	}
	seen := map[string]int{}
	pages := 0
	for url := acct.Orders; url != ""; pages++ {
		if pages > 10 {
			t.Fatal("orders list does not end")
		}
		r := rc.post(url, nil)
		var list cgacme.OrdersList
		rc.decode(r, http.StatusOK, &list)
		if len(list.Orders) > 2 {
			t.Errorf("page %d has %d orders, page size is 2", pages, len(list.Orders))
		}
		for _, o := range list.Orders {
			seen[o]++
		}
		next := r.links("next")
		if len(next) > 1 {
			t.Fatalf("page %d has %d next links", pages, len(next))
		}
		url = ""
		if len(next) == 1 {
			url = next[0]
		}
	}
	if pages != 3 {
		t.Errorf("%d pages for 5 orders at 2 per page, want 3", pages)
	}
	for u := range want {
		if seen[u] != 1 {
			t.Errorf("order %s listed %d times, want once", u, seen[u])
		}
	}
	for u, n := range seen {
		if !want[u] {
			t.Errorf("orders list has unknown URL %s (%d times)", u, n)
		}
	}
}

// TestACMEClientOrdersListLeavesOutInvalid: the orders list SHOULD NOT
// include invalid orders (RFC 8555 §7.1.2.1): neither an order stored as
// invalid (a failed finalize) nor a pending order made invalid by its
// authorization (here deactivated, RFC 8555 §7.5.2; a failed validation
// alike). Paging still reaches every other order, the next link computed
// before invalid orders are dropped (a page may hold fewer).
func TestACMEClientOrdersListLeavesOutInvalid(t *testing.T) {
	t.Parallel()
	env := testenv.NewWithOptions(t, testenv.Options{Server: server.Options{OrdersPerPage: 2}})
	rc := clNewRawClient(t, env, clEcKey(t, elliptic.P256()))
	rc.register()
	urls := map[string]string{}
	authz := map[string]string{}
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		r := rc.post(rc.dir.NewOrder, map[string]any{"identifiers": []cgacme.Identifier{{Type: "dns", Value: name + ".invalid-list.example.test"}}})
		var o cgacme.Order
		rc.decode(r, http.StatusCreated, &o)
		urls[name], authz[name] = r.header.Get("Location"), o.Authorizations[0]
	}
	// b: its authorization deactivated, so the order is invalid.
	rc.decode(rc.post(authz["b"], map[string]string{"status": "deactivated"}), http.StatusOK, nil)
	var ob cgacme.Order
	rc.decode(rc.post(urls["b"], nil), http.StatusOK, &ob)
	if ob.Status != cgacme.StatusInvalid {
		t.Fatalf("order b with a deactivated authorization is %q, want invalid", ob.Status)
	}
	// d: stored invalid, as a failed finalize leaves it.
	dID := urls["d"][strings.LastIndex(urls["d"], "/")+1:]
	if err := env.Server.Store().SetOrderStatus(context.Background(), dID, cgacme.StatusPending, cgacme.StatusInvalid,
		cgacme.NewProblem(cgacme.BadCSR, "test"), time.Now()); err != nil {
		t.Fatal(err)
	}

	var acct cgacme.Account
	rc.decode(rc.post(rc.kid, nil), http.StatusOK, &acct)
	var listed []string
	for url, pages := acct.Orders, 0; url != ""; pages++ {
		if pages > 10 {
			t.Fatal("orders list does not end")
		}
		r := rc.post(url, nil)
		var list cgacme.OrdersList
		rc.decode(r, http.StatusOK, &list)
		listed = append(listed, list.Orders...)
		url = ""
		if next := r.links("next"); len(next) == 1 {
			url = next[0]
		}
	}
	want := []string{urls["a"], urls["c"], urls["e"]}
	if !slices.Equal(listed, want) {
		t.Errorf("orders list = %q\nwant a, c, e: %q (not b, invalid by its authorization, nor d, stored invalid)", listed, want)
	}
}

// clPemChain decodes a PEM certificate chain into DER certificates.
func clPemChain(t testing.TB, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			t.Fatalf("PEM block %q in the chain", blk.Type)
		}
		out = append(out, blk.Bytes)
	}
	if len(out) == 0 {
		t.Fatal("no certificate in the chain")
	}
	return out
}

// clPostRawNoT is clPostRaw for goroutines other than the test's.
func clPostRawNoT(env *testenv.Env, url string, body []byte) (*clRawResponse, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/jose+json")
	res, err := env.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	return &clRawResponse{status: res.StatusCode, header: res.Header, body: b}, nil
}
