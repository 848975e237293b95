package wfe_test

// Profiles, External Account Binding and approvals through HTTP with
// golang.org/x/crypto/acme (which speaks the ACME profiles extension and
// EAB) and the raw JWS client.

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	cgacme "github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/acme"
)

func putProfile(t *testing.T, env *testenv.Env, p policy.Profile) {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(p)
	now := time.Now().UTC()
	if err := env.Server.Store().PutProfile(context.Background(), &store.Profile{Name: p.Name, Spec: spec, CreatedAt: now, UpdatedAt: now}, false); err != nil {
		t.Fatal(err)
	}
}

func putEAB(t *testing.T, env *testenv.Env, kid, profile string, singleUse bool) []byte {
	t.Helper()
	key := []byte(strings.Repeat("k", ra.EABKeySize))
	copy(key, kid)
	if err := env.Server.Store().CreateEABKey(context.Background(), &store.EABKey{KID: kid, HMACKey: key, Profile: profile, SingleUse: singleUse,
		Status: store.EABActive, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	return key
}

// newProfileEnv starts a server that sees stored profile changes at once.
func newProfileEnv(t *testing.T) *testenv.Env {
	return testenv.NewWithOptions(t, testenv.Options{Server: server.Options{ProfileTTL: time.Nanosecond}})
}

func getJSON(t *testing.T, env *testenv.Env, url string, v any) int {
	t.Helper()
	res, err := env.HTTPClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if v != nil {
		json.NewDecoder(res.Body).Decode(v)
	}
	return res.StatusCode
}

func TestProfileDirectories(t *testing.T) {
	env := newProfileEnv(t)
	putProfile(t, env, policy.Profile{Name: "mtls", Description: "internal mTLS clients", Validity: policy.Duration(160 * time.Hour),
		EKUs: []string{"clientAuth"}, Allow: []string{"*.svc.test"}})
	putProfile(t, env, policy.Profile{Name: "partners", RequireEAB: true, Validity: policy.Duration(30 * 24 * time.Hour)})

	var d cgacme.Directory
	if code := getJSON(t, env, env.DirectoryURL, &d); code != 200 {
		t.Fatalf("directory: %d", code)
	}
	if d.Meta.Profiles["mtls"] != "internal mTLS clients" || d.Meta.Profiles["partners"] == "" || d.Meta.Profiles[policy.DefaultName] == "" ||
		d.Meta.ExternalAccountRequired {
		t.Errorf("default directory meta %+v", d.Meta)
	}
	var pd cgacme.Directory
	getJSON(t, env, env.BaseURL+"/acme/partners/directory", &pd)
	if !pd.Meta.ExternalAccountRequired || pd.NewOrder != env.BaseURL+"/acme/partners/new-order" ||
		pd.NewAccount != env.BaseURL+"/acme/partners/new-account" || pd.NewNonce != d.NewNonce || len(pd.Meta.Profiles) != 1 {
		t.Errorf("partners directory %+v meta %+v", pd, pd.Meta)
	}
	var p cgacme.Problem
	if code := getJSON(t, env, env.BaseURL+"/acme/nope/directory", &p); code != http.StatusNotFound || !strings.Contains(p.Detail, "nope") {
		t.Errorf("unknown profile directory: %d %+v", code, p)
	}

	// x/crypto/acme: the profiles extension on the default directory.
	c, _ := clRegistered(t, env, nil)
	ctx := clTestCtx(t)
	ids := acme.DomainIDs("api.svc.test")
	o, err := c.AuthorizeOrder(ctx, ids, acme.WithOrderIssuanceProfile("mtls"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Profile != "mtls" {
		t.Errorf("order profile %q, want mtls", o.Profile)
	}
	for _, u := range o.AuthzURLs {
		clSolve(t, env, c, u, "http-01")
	}
	csr, _ := clCsrFor(t, ids, nil)
	chain, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(chain[0])
	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || leaf.NotAfter.Sub(leaf.NotBefore) > 160*time.Hour {
		t.Errorf("leaf EKUs %v validity %s", leaf.ExtKeyUsage, leaf.NotAfter.Sub(leaf.NotBefore))
	}
	// Outside the allowlist: rejectedIdentifier with a subproblem.
	_, err = c.AuthorizeOrder(ctx, acme.DomainIDs("www.example.com"), acme.WithOrderIssuanceProfile("mtls"))
	if e := clAsACMEError(t, err); e.ProblemType != string(cgacme.RejectedIdentifier) || len(e.Subproblems) != 1 {
		t.Errorf("outside name: %+v", e)
	}

	// Raw: an unknown profile in newOrder, and a profile newOrder given another profile.
	rc := clNewRawClient(t, env, clEcKey(t, elliptic.P256()))
	rc.register()
	r := rc.post(d.NewOrder, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "a.test"}}, "profile": "nope"})
	if r.status != 400 || r.problem().Type != cgacme.InvalidProfile {
		t.Errorf("unknown profile: %s", r)
	}
	r = rc.post(env.BaseURL+"/acme/mtls/new-order", map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "a.svc.test"}}, "profile": "partners"})
	if r.problem().Type != cgacme.InvalidProfile {
		t.Errorf("mismatched profile: %s", r)
	}
	// The "certgate" extension object is read: the default profile
	// declares no attributes, so one is refused by name.
	r = rc.post(d.NewOrder, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "a.test"}},
		"certgate": map[string]any{"attributes": map[string]string{"billing_code": "X"}}})
	if p := r.problem(); p.Type != cgacme.Malformed || !strings.Contains(p.Detail, "billing_code") {
		t.Errorf("undeclared attribute: %s", r)
	}
	r = rc.post(env.BaseURL+"/acme/mtls/new-order", map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "a.svc.test"}}})
	var ov struct{ Profile string }
	rc.decode(r, http.StatusCreated, &ov)
	if ov.Profile != "mtls" {
		t.Errorf("order via the mtls directory has profile %q", ov.Profile)
	}
}

func TestExternalAccountBinding(t *testing.T) {
	env := newProfileEnv(t)
	putProfile(t, env, policy.Profile{Name: "partners", RequireEAB: true, Validity: policy.Duration(30 * 24 * time.Hour)})
	hmacKey := putEAB(t, env, "kid-multi", "partners", false)
	onceKey := putEAB(t, env, "kid-once", "partners", true)
	dirURL := env.BaseURL + "/acme/partners/directory"
	ctx := clTestCtx(t)
	client := func() *acme.Client {
		return &acme.Client{Key: clEcKey(t, elliptic.P256()), DirectoryURL: dirURL, HTTPClient: env.HTTPClient}
	}

	c := client()
	_, err := c.Register(ctx, &acme.Account{}, acme.AcceptTOS)
	if e := clAsACMEError(t, err); e.ProblemType != string(cgacme.ExternalAccountRequired) {
		t.Errorf("no EAB: %+v", e)
	}
	_, err = c.Register(ctx, &acme.Account{ExternalAccountBinding: &acme.ExternalAccountBinding{KID: "kid-multi", Key: []byte(strings.Repeat("x", 64))}}, acme.AcceptTOS)
	if e := clAsACMEError(t, err); e.ProblemType != string(cgacme.Unauthorized) {
		t.Errorf("wrong HMAC: %+v", e)
	}
	_, err = c.Register(ctx, &acme.Account{ExternalAccountBinding: &acme.ExternalAccountBinding{KID: "kid-none", Key: hmacKey}}, acme.AcceptTOS)
	if e := clAsACMEError(t, err); e.ProblemType != string(cgacme.Unauthorized) {
		t.Errorf("unknown kid: %+v", e)
	}
	acct, err := c.Register(ctx, &acme.Account{ExternalAccountBinding: &acme.ExternalAccountBinding{KID: "kid-multi", Key: hmacKey}}, acme.AcceptTOS)
	if err != nil {
		t.Fatalf("EAB registration: %v", err)
	}
	stored, err := env.Server.Store().GetAccountByThumbprint(context.Background(), mustThumbprint(t, c))
	if err != nil || stored.EABKid != "kid-multi" {
		t.Fatalf("bound account %+v, %v", stored, err)
	}
	// Repeat registration and onlyReturnExisting (GetReg) need no EAB.
	if again, err := c.Register(ctx, &acme.Account{}, acme.AcceptTOS); !errors.Is(err, acme.ErrAccountAlreadyExists) && (err != nil || again.URI != acct.URI) {
		t.Errorf("repeat registration: %v", err)
	}
	if got, err := c.GetReg(ctx, ""); err != nil || got.URI != acct.URI {
		t.Errorf("onlyReturnExisting: %v, %v", got, err)
	}
	// The bound account orders and gets a certificate.
	ids := acme.DomainIDs("partner.example.test")
	o := clReadyOrder(t, env, c, ids, "http-01")
	csr, _ := clCsrFor(t, ids, nil)
	if _, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true); err != nil {
		t.Fatal(err)
	}
	// HS384 and HS512 are accepted; a single-use key binds once.
	for i, alg := range []string{"HS384", "HS512"} {
		rc := clNewRawClient(t, env, clEcKey(t, elliptic.P256()))
		rc.dir.NewAccount = env.BaseURL + "/acme/partners/new-account"
		r := rc.post(rc.dir.NewAccount, map[string]any{"termsOfServiceAgreed": true,
			"externalAccountBinding": eabJWS(t, rc, alg, "kid-once", onceKey)})
		if i == 0 && r.status != http.StatusCreated {
			t.Fatalf("%s single-use binding: %s", alg, r)
		}
		if i == 1 && (r.status != http.StatusForbidden || r.problem().Type != cgacme.Unauthorized) {
			t.Errorf("second use of a single-use key: %s", r)
		}
	}
	rc := clNewRawClient(t, env, clEcKey(t, elliptic.P256()))
	rc.dir.NewAccount = env.BaseURL + "/acme/partners/new-account"
	r := rc.post(rc.dir.NewAccount, map[string]any{"externalAccountBinding": eabJWS(t, rc, "HS512", "kid-multi", hmacKey)})
	if r.status != http.StatusCreated {
		t.Errorf("HS512: %s", r)
	}
	// The EAB url must be the newAccount URL.
	rc = clNewRawClient(t, env, clEcKey(t, elliptic.P256()))
	rc.dir.NewAccount = env.BaseURL + "/acme/new-account"
	r = rc.post(env.BaseURL+"/acme/partners/new-account", map[string]any{"externalAccountBinding": eabJWS(t, rc, "HS256", "kid-multi", hmacKey)})
	if r.problem().Type != cgacme.Malformed {
		t.Errorf("EAB for another URL: %s", r)
	}

	// Only the flattened JWS (RFC 8555 §7.3.4): the general serialization
	// and an unprotected header were accepted (go-jose's ParseSignedJSON
	// takes both), and a JSON string got Go's decoder's words.
	rc = clNewRawClient(t, env, clEcKey(t, elliptic.P256()))
	rc.dir.NewAccount = env.BaseURL + "/acme/partners/new-account"
	var flat map[string]any
	if err := json.Unmarshal(eabJWS(t, rc, "HS256", "kid-multi", hmacKey), &flat); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		eab    any
		detail string
	}{
		{"general serialization", map[string]any{"payload": flat["payload"], "signatures": []any{map[string]any{"protected": flat["protected"], "signature": flat["signature"]}}}, `not the general serialization ("signatures")`},
		{"unprotected header", map[string]any{"protected": flat["protected"], "payload": flat["payload"], "signature": flat["signature"], "header": map[string]any{"kid": "kid-multi"}}, `must not have an unprotected header`},
		{"a JSON string", "abc", `must be a JSON object, a flattened JWS`},
		{"protected a number", map[string]any{"protected": 1, "payload": flat["payload"], "signature": flat["signature"]}, `member "protected" must be a string`},
		{"no signature", map[string]any{"protected": flat["protected"], "payload": flat["payload"]}, `needs "protected", "payload" and "signature"`},
		{"Protected in another case", map[string]any{"Protected": flat["protected"], "payload": flat["payload"], "signature": flat["signature"]}, `needs "protected", "payload" and "signature"`},
	} {
		r := rc.post(rc.dir.NewAccount, map[string]any{"externalAccountBinding": c.eab})
		if p := r.problem(); r.status != http.StatusBadRequest || p.Type != cgacme.Malformed || !strings.Contains(p.Detail, c.detail) || strings.Contains(p.Detail, "Go value") {
			t.Errorf("EAB %s: %s, want 400 malformed with %q", c.name, r, c.detail)
		}
	}
	// The flattened form itself still binds.
	if r := rc.post(rc.dir.NewAccount, map[string]any{"externalAccountBinding": flat}); r.status != http.StatusCreated {
		t.Errorf("flattened EAB after the refusals: %s", r)
	}
}

// TestApprovalOverHTTP: x/crypto/acme's CreateOrderCert waits (polling
// with Retry-After) while the order awaits approval and receives the
// certificate once approved; a rejected order reaches the client as an
// OrderError whose problem carries the comment.
func TestApprovalOverHTTP(t *testing.T) {
	env := newProfileEnv(t)
	putProfile(t, env, policy.Profile{Name: "signing", Validity: policy.Duration(30 * 24 * time.Hour), Approval: &policy.Approval{Always: true}})
	c, _ := clRegistered(t, env, nil)
	ctx := clTestCtx(t)
	st := env.Server.Store()
	run := func(name string, approve bool) ([][]byte, error) {
		ids := acme.DomainIDs(name)
		o, err := c.AuthorizeOrder(ctx, ids, acme.WithOrderIssuanceProfile("signing"))
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range o.AuthzURLs {
			clSolve(t, env, c, u, "http-01")
		}
		csr, _ := clCsrFor(t, ids, nil)
		type res struct {
			chain [][]byte
			err   error
		}
		done := make(chan res, 1)
		go func() {
			chain, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
			done <- res{chain, err}
		}()
		var ap *store.Approval
		for deadline := time.Now().Add(10 * time.Second); ap == nil; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no approval requested")
			}
			aps, _ := st.ListApprovals(context.Background(), store.ApprovalPending, 10)
			if len(aps) == 1 {
				ap = aps[0]
			}
		}
		got, err := c.GetOrder(ctx, o.URI)
		if err != nil || got.Status != acme.StatusProcessing {
			t.Fatalf("order while awaiting approval: %+v, %v", got, err)
		}
		select {
		case r := <-done:
			t.Fatalf("client finished before the decision: %v", r.err)
		default:
		}
		perr := ra.RejectionProblem("use the code-signing HSM")
		if _, err := st.DecideApproval(context.Background(), ap.ID, approve, "tester", "use the code-signing HSM", perr, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		r := <-done
		return r.chain, r.err
	}
	chain, err := run("approved.example.test", true)
	if err != nil || len(chain) < 2 {
		t.Fatalf("approved: %d certificates, %v", len(chain), err)
	}
	_, err = run("rejected.example.test", false)
	var oe *acme.OrderError
	if !errors.As(err, &oe) || oe.Status != acme.StatusInvalid {
		t.Fatalf("rejected: %v, want an invalid OrderError", err)
	}
	o, err := c.GetOrder(ctx, oe.OrderURL)
	if err != nil || o.Error == nil || o.Error.ProblemType != string(cgacme.Unauthorized) || !strings.Contains(o.Error.Detail, "use the code-signing HSM") {
		t.Errorf("rejected order: %+v, %v", o, err)
	}
}

// eabJWS builds an externalAccountBinding (RFC 8555 §7.3.4) for rc's key
// and rc.dir.NewAccount, MACed with alg.
func eabJWS(t *testing.T, rc *clRawClient, alg, kid string, key []byte) json.RawMessage {
	t.Helper()
	pub, err := (&jose.JSONWebKey{Key: rc.key.Public()}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: key},
		&jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{"kid": kid, "url": rc.dir.NewAccount}})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(pub)
	if err != nil {
		t.Fatal(err)
	}
	return json.RawMessage(jws.FullSerialize())
}

func mustThumbprint(t *testing.T, c *acme.Client) string {
	t.Helper()
	tp, err := (&jose.JSONWebKey{Key: c.Key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// TestExternalAccountRequiredStatus: newAccount without an external
// account binding at a directory that requires one is externalAccountRequired
// (RFC 8555 §7.3.4) with 403 Forbidden, with a nonce. It was 401, which
// RFC 9110 §15.5.2 reserves for HTTP authentication (a 401 MUST carry
// WWW-Authenticate, which ACME has none to offer); RFC 8555 names no status
// for this problem, and an "unauthorized" one is 403 too.
func TestExternalAccountRequiredStatus(t *testing.T) {
	env := newProfileEnv(t)
	putProfile(t, env, policy.Profile{Name: "partners", RequireEAB: true, Validity: policy.Duration(30 * 24 * time.Hour)})
	rc := clNewRawClient(t, env, clEcKey(t, elliptic.P256()))
	rc.dir.NewAccount = env.BaseURL + "/acme/partners/new-account"
	r := rc.post(rc.dir.NewAccount, map[string]any{"termsOfServiceAgreed": true})
	if r.status != http.StatusForbidden || r.problem().Type != cgacme.ExternalAccountRequired || r.problem().Status != http.StatusForbidden {
		t.Fatalf("newAccount without EAB: %s, want 403 externalAccountRequired", r)
	}
	if r.header.Get("Replay-Nonce") == "" {
		t.Error("no Replay-Nonce on the error response (RFC 8555 §6.5)")
	}
}
