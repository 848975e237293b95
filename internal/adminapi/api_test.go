package adminapi

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/getkin/kin-openapi/openapi3"
)

// fixture is an API over a fresh store with one token per role.
type fixture struct {
	t      testing.TB
	st     *store.Store
	srv    *httptest.Server
	mux    *routeMux
	tokens map[auth.Role]string
	toks   *auth.Tokens
	log    *audit.Log
	now    time.Time
	n      int // fixture counter
	inv    *inventory.Service
	// rsaBits > 0 makes certificate() use an RSA key of that size, and
	// sigAlg its signature algorithm (0: default).
	rsaBits int
	sigAlg  x509.SignatureAlgorithm
	// serial, when set, is the serial of the next certificate
	// selfSigned makes (then incremented), for fixtures on two engines
	// that must hold the same serials; else serials are random.
	serial *big.Int
	// meanwhile, when set, runs once at the next audit event's Prepare
	// (without an audit log, newFixtureUnaudited: at the API's next
	// reading of its clock): after a handler has read what it changes and
	// before its change, as a concurrent change would (then it is
	// cleared).
	meanwhile func()
}

func newFixture(t testing.TB, st *store.Store) *fixture {
	t.Helper()
	return newFixtureAudit(t, st, true)
}

// newFixtureUnaudited is newFixture whose API has no audit log (Deps.Audit
// nil); the fixture's audit log still records token changes.
func newFixtureUnaudited(t *testing.T, st *store.Store) *fixture {
	t.Helper()
	return newFixtureAudit(t, st, false)
}

func newFixtureAudit(t testing.TB, st *store.Store, audited bool) *fixture {
	t.Helper()
	f := &fixture{t: t, st: st, tokens: map[auth.Role]string{}, now: time.Now().UTC().Truncate(time.Second)}
	clock := func() time.Time { return f.now }
	meanwhileClock := func() time.Time {
		if m := f.meanwhile; m != nil {
			f.meanwhile = nil
			m()
		}
		return f.now
	}
	f.log = audit.New(st, meanwhileClock)
	f.toks = auth.NewTokens(st, f.log, clock)
	r := ra.New(ra.Config{Audit: f.log}, st, nil, nil, clock, slog.New(slog.DiscardHandler))
	f.inv = inventory.New(st, clock)
	deps := Deps{Store: st, Inventory: f.inv, Tokens: f.toks, Audit: f.log, Now: clock, Revoker: r}
	if !audited {
		deps.Audit, deps.Now = nil, meanwhileClock
	}
	h, mux := build(deps)
	f.mux = mux
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	for _, r := range auth.Roles() {
		tok, _, err := f.toks.Create(context.Background(), auth.CreateRequest{Name: "test-" + string(r), Role: r, Actor: "cli:test"})
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[r] = tok
	}
	return f
}

// actor is the audit actor of role's test token: "token:test-ROLE#ID"
// (the ID is the token's characters 4 to 20, "cgt_" + ID + "_" + secret).
func (f *fixture) actor(r auth.Role) string {
	return "token:test-" + string(r) + "#" + f.tokens[r][4:20]
}

// eachEngine runs test once per store engine with a fixture over a fresh
// store of that engine: storetest.EachStore's parallel subtests, named
// after the engine (PostgreSQL required).
func eachEngine(t *testing.T, test func(t *testing.T, f *fixture)) {
	t.Helper()
	storetest.EachStore(t, func(t *testing.T, s *store.Store) { test(t, newFixture(t, s)) })
}

// eachEngineUnaudited is eachEngine with newFixtureUnaudited.
func eachEngineUnaudited(t *testing.T, test func(t *testing.T, f *fixture)) {
	t.Helper()
	storetest.EachStore(t, func(t *testing.T, s *store.Store) { test(t, newFixtureUnaudited(t, s)) })
}

// account stores a new valid account with one order and returns both IDs.
func (f *fixture) account() (string, string) {
	f.t.Helper()
	f.n++
	ctx := context.Background()
	id := fmt.Sprintf("acct%03d", f.n)
	if err := f.st.CreateAccount(ctx, &store.Account{ID: id, KeyThumbprint: "tp-" + id, JWK: []byte(`{}`), Status: acme.StatusValid,
		Contact: []string{"mailto:a@example.com"}, CreatedAt: f.now}); err != nil {
		f.t.Fatal(err)
	}
	oid := "order-" + id
	if err := f.st.CreateOrder(ctx, &store.Order{ID: oid, AccountID: id, Status: acme.StatusPending, Expires: f.now.Add(time.Hour),
		Identifiers: []acme.Identifier{{Type: "dns", Value: "a.example.com"}}, AuthzIDs: []string{}, CreatedAt: f.now, UpdatedAt: f.now}, nil); err != nil {
		f.t.Fatal(err)
	}
	return id, oid
}

// certificate stores an issued certificate (a real self-signed one) for a
// new account's order and returns its record.
func (f *fixture) certificate() *store.Certificate {
	f.t.Helper()
	var key crypto.Signer
	if f.rsaBits > 0 {
		key, _ = rsa.GenerateKey(rand.Reader, f.rsaBits)
	} else {
		key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return f.certificateWithKey(key)
}

// certificateWithKey is certificate for the public key of key (which also
// signs it).
func (f *fixture) certificateWithKey(key crypto.Signer) *store.Certificate {
	f.t.Helper()
	ctx := context.Background()
	acct, oid := f.account()
	c := f.selfSigned(key, "a.example.com", store.SourceIssued)
	c.Issuer, c.OrderID, c.AccountID, c.CreatedAt = "local", oid, acct, f.now
	if err := f.st.SetOrderStatus(ctx, oid, acme.StatusPending, acme.StatusProcessing, nil, f.now); err != nil {
		f.t.Fatal(err)
	}
	if err := f.st.ReserveSerial(ctx, c.Serial, f.now); err != nil {
		f.t.Fatal(err)
	}
	if err := f.st.FinishOrder(ctx, oid, c, f.now); err != nil {
		f.t.Fatal(err)
	}
	return c
}

// importedWithKey stores, as imported (source imported), a certificate of
// another CA for the public key of key: self-signed by key, so neither
// issued here nor signed by this CA.
func (f *fixture) importedWithKey(key crypto.Signer) *store.Certificate {
	f.t.Helper()
	c := f.selfSigned(key, "elsewhere.example.com", store.SourceImported)
	if err := f.st.InsertCertificates(context.Background(), []*store.Certificate{c}); err != nil {
		f.t.Fatal(err)
	}
	return c
}

// selfSigned is the inventory record (source) of a certificate for name
// and the public key of key, signed by key, valid for 90 days from f.now.
func (f *fixture) selfSigned(key crypto.Signer, name, source string) *store.Certificate {
	f.t.Helper()
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if f.serial != nil {
		serial = new(big.Int).Set(f.serial)
		f.serial.Add(f.serial, big.NewInt(1))
	}
	tmpl := &x509.Certificate{SerialNumber: serial, SignatureAlgorithm: f.sigAlg, Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: f.now.Add(-time.Minute), NotAfter: f.now.Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		f.t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		f.t.Fatal(err)
	}
	return inventory.Record(leaf, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), source)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (f *fixture) do(method, path, token string, body any) response {
	f.t.Helper()
	return f.doWith(method, path, token, nil, body)
}

// doWith is do with the request header fields hdr (nil for none).
func (f *fixture) doWith(method, path, token string, hdr http.Header, body any) response {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	for k, v := range hdr {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

// request is one call of an operation; setup (may be nil) prepares fresh
// objects for it and returns the path and body to use.
type request struct {
	setup func(f *fixture, role auth.Role) (path string, body any)
	want  int // status when allowed
}

// requests has one entry per operation ID of the OpenAPI document; a
// missing entry fails TestEveryOperationEveryRole.
func requests() map[string]request {
	fixed := func(path string) func(*fixture, auth.Role) (string, any) {
		return func(*fixture, auth.Role) (string, any) { return path, nil }
	}
	return map[string]request{
		"list-accounts": {fixed("/api/v1/accounts?limit=2"), 200},
		"get-account": {func(f *fixture, _ auth.Role) (string, any) {
			id, _ := f.account()
			return "/api/v1/accounts/" + id, nil
		}, 200},
		"deactivate-account": {func(f *fixture, _ auth.Role) (string, any) {
			id, _ := f.account()
			return "/api/v1/accounts/" + id + "/deactivate", nil
		}, 200},
		"list-account-orders": {func(f *fixture, _ auth.Role) (string, any) {
			id, _ := f.account()
			return "/api/v1/accounts/" + id + "/orders", nil
		}, 200},
		"get-order": {func(f *fixture, _ auth.Role) (string, any) {
			_, oid := f.account()
			return "/api/v1/orders/" + oid, nil
		}, 200},
		"get-certificate": {func(f *fixture, _ auth.Role) (string, any) {
			return "/api/v1/certificates/" + f.certificate().Serial, nil
		}, 200},
		"download-certificate": {func(f *fixture, _ auth.Role) (string, any) {
			return "/api/v1/certificates/" + f.certificate().Serial + "/pem", nil
		}, 200},
		"revoke-certificate": {func(f *fixture, _ auth.Role) (string, any) {
			return "/api/v1/certificates/" + f.certificate().Serial + "/revoke", map[string]int{"reason": 4}
		}, 200},
		"list-certificates": {func(f *fixture, _ auth.Role) (string, any) {
			f.certificate()
			return "/api/v1/certificates?suffix=example.com&status=valid&attr=env%3Dprod&limit=5", nil
		}, 200},
		"report-expiring":  {fixed("/api/v1/reports/expiring?within=90d"), 200},
		"report-issued":    {fixed("/api/v1/reports/issued?by=issuer&since=7d"), 200},
		"report-weak-keys": {fixed("/api/v1/reports/weak-keys"), 200},
		"report-violations": {func(f *fixture, _ auth.Role) (string, any) {
			f.certificate()
			return "/api/v1/reports/violations?limit=5", nil
		}, 200},
		"list-tokens": {fixed("/api/v1/tokens"), 200},
		// scans.go (scans_test.go has the fixture)
		"list-scans": {func(f *fixture, _ auth.Role) (string, any) {
			f.scan()
			return "/api/v1/scans?limit=5", nil
		}, 200},
		"get-scan": {func(f *fixture, _ auth.Role) (string, any) {
			id, _ := f.scan()
			return "/api/v1/scans/" + id + "?errors=true", nil
		}, 200},
		"list-certificate-endpoints": {func(f *fixture, _ auth.Role) (string, any) {
			_, serial := f.scan()
			return "/api/v1/certificates/" + serial + "/endpoints", nil
		}, 200},
		"report-shadow": {func(f *fixture, _ auth.Role) (string, any) {
			f.scan()
			return "/api/v1/reports/shadow?limit=5", nil
		}, 200},
		"create-token": {func(f *fixture, r auth.Role) (string, any) {
			return "/api/v1/tokens", map[string]string{"name": "made-by-" + string(r), "role": "auditor", "expires": "30d"}
		}, 201},
		"revoke-token": {func(f *fixture, r auth.Role) (string, any) {
			f.n++
			_, rec, err := f.toks.Create(context.Background(), auth.CreateRequest{Name: fmt.Sprintf("victim%d", f.n), Role: auth.RoleAuditor})
			if err != nil {
				f.t.Fatal(err)
			}
			return "/api/v1/tokens/" + rec.ID + "/revoke", nil
		}, 200},
		"list-audit-events": {fixed("/api/v1/audit/events"), 200},
		"list-notifications": {func(f *fixture, _ auth.Role) (string, any) {
			c := f.certificate()
			if _, err := f.st.AddNotifications(context.Background(), []*store.Notification{{Serial: c.Serial, ThresholdDays: 30, Channel: "email",
				Recipient: "ops@example.com", Rule: "ops", NextAttemptAt: f.now}}, f.now); err != nil {
				f.t.Fatal(err)
			}
			return "/api/v1/notifications?status=pending&limit=5&serial=" + strings.ToUpper(c.Serial), nil
		}, 200},
		// profiles.go (profiles_test.go has the fixtures)
		"list-profiles": {fixed("/api/v1/profiles"), 200},
		"get-profile":   {fixed("/api/v1/profiles/default"), 200},
		"create-profile": {func(f *fixture, r auth.Role) (string, any) {
			return "/api/v1/profiles", map[string]any{"name": "made-by-" + string(r), "validity": "30d", "wildcard": true}
		}, 201},
		"replace-profile": {func(f *fixture, _ auth.Role) (string, any) {
			name := f.storedProfile()
			return "/api/v1/profiles/" + name, map[string]any{"name": name, "validity": "10d", "wildcard": false}
		}, 200},
		"delete-profile": {func(f *fixture, _ auth.Role) (string, any) { return "/api/v1/profiles/" + f.storedProfile(), nil }, 204},
		"list-eab-keys":  {fixed("/api/v1/eab-keys"), 200},
		"create-eab-key": {func(f *fixture, _ auth.Role) (string, any) {
			return "/api/v1/eab-keys", map[string]any{"profile": "default", "owner": "team", "expires": "30d"}
		}, 201},
		"revoke-eab-key": {func(f *fixture, _ auth.Role) (string, any) { return "/api/v1/eab-keys/" + f.eabKey() + "/revoke", nil }, 200},
		// With an approval whose every field is set (boundApproval), so
		// that the contract test checks each against the document.
		"list-approvals": {func(f *fixture, _ auth.Role) (string, any) {
			f.boundApproval()
			return "/api/v1/approvals?status=all", nil
		}, 200},
		"get-approval": {func(f *fixture, _ auth.Role) (string, any) { return "/api/v1/approvals/" + f.boundApproval(), nil }, 200},
		"approve": {func(f *fixture, _ auth.Role) (string, any) {
			return "/api/v1/approvals/" + f.approval() + "/approve", map[string]any{}
		}, 200},
		"reject": {func(f *fixture, _ auth.Role) (string, any) {
			return "/api/v1/approvals/" + f.approval() + "/reject", map[string]any{"comment": "no"}
		}, 200},
		"verify-audit-log": {fixed("/api/v1/audit/verify"), 200},
	}
}

// operation is one operation of the served OpenAPI document.
type operation struct {
	id, method, path, permission, summary string
	roles                                 []string
}

// loadDoc fetches the OpenAPI document, checks that it validates
// (kin-openapi) and returns its operations.
func (f *fixture) loadDoc() (*openapi3.T, []operation) {
	f.t.Helper()
	resp := f.do("GET", OpenAPIPath, "", nil)
	if resp.status != 200 {
		f.t.Fatalf("GET %s: %d", OpenAPIPath, resp.status)
	}
	doc, err := openapi3.NewLoader().LoadFromData(resp.body)
	if err != nil {
		f.t.Fatalf("load OpenAPI document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		f.t.Fatalf("OpenAPI document does not validate: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		f.t.Fatalf("OpenAPI version %s", doc.OpenAPI)
	}
	var ops []operation
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			perm, _ := op.Extensions["x-permission"].(string)
			var roles []string
			if rs, ok := op.Extensions["x-roles"].([]any); ok {
				for _, r := range rs {
					roles = append(roles, r.(string))
				}
			}
			ops = append(ops, operation{op.OperationID, method, path, perm, op.Summary, roles})
		}
	}
	slices.SortFunc(ops, func(a, b operation) int { return strings.Compare(a.id, b.id) })
	return doc, ops
}

func isProblem(r response, status int) error {
	if r.status != status {
		return fmt.Errorf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		return fmt.Errorf("content type %q, want application/problem+json", ct)
	}
	var p struct {
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(r.body, &p); err != nil || p.Status != status || p.Title == "" {
		return fmt.Errorf("not an RFC 9457 problem: %s", r.body)
	}
	return nil
}

// TestEveryOperationEveryRole, on both engines: for every operation of the
// OpenAPI document and every role, a token of an allowed role (per auth.Table) gets the
// operation's success status and any other gets a 403 problem; no token,
// a malformed, unknown, revoked or expired token get a 401 problem.
func TestEveryOperationEveryRole(t *testing.T) {
	eachEngine(t, testEveryOperationEveryRole)
}

func testEveryOperationEveryRole(t *testing.T, f *fixture) {
	_, ops := f.loadDoc()
	reqs := requests()
	if len(ops) != len(reqs) {
		t.Errorf("document has %d operations, the test table %d", len(ops), len(reqs))
	}
	ctx := context.Background()
	revoked, _, _ := f.toks.Create(ctx, auth.CreateRequest{Name: "revoked", Role: auth.RoleAdmin})
	if _, err := f.toks.Revoke(ctx, "revoked", "cli:test"); err != nil {
		t.Fatal(err)
	}
	expired, _, _ := f.toks.Create(ctx, auth.CreateRequest{Name: "expired", Role: auth.RoleAdmin, TTL: time.Minute})
	f.now = f.now.Add(2 * time.Minute)
	for _, op := range ops {
		rq, ok := reqs[op.id]
		if !ok {
			t.Errorf("operation %s (%s %s) has no entry in requests()", op.id, op.method, op.path)
			continue
		}
		perm := auth.Permission(op.permission)
		var allowedRoles []string
		for _, role := range auth.Roles() {
			if auth.Allowed(role, perm) {
				allowedRoles = append(allowedRoles, string(role))
			}
		}
		if op.permission == "" || !slices.Equal(allowedRoles, op.roles) {
			t.Errorf("%s: x-permission %q, x-roles %v; table roles %v", op.id, op.permission, op.roles, allowedRoles)
		}
		for _, role := range auth.Roles() {
			t.Run(op.id+"/"+string(role), func(t *testing.T) {
				path, body := rq.setup(f, role)
				r := f.do(op.method, path, f.tokens[role], body)
				if auth.Allowed(role, perm) {
					if r.status != rq.want {
						t.Fatalf("%s %s as %s: %d, want %d: %s", op.method, path, role, r.status, rq.want, r.body)
					}
					return
				}
				if err := isProblem(r, 403); err != nil {
					t.Fatalf("%s %s as %s: %v", op.method, path, role, err)
				}
				if got, want := r.header.Get("WWW-Authenticate"), `Bearer realm="certgate", error="insufficient_scope", scope="`+string(perm)+`"`; got != want {
					t.Errorf("%s %s as %s: WWW-Authenticate %q, want %q", op.method, path, role, got, want)
				}
			})
		}
		t.Run(op.id+"/unauthenticated", func(t *testing.T) {
			path, body := rq.setup(f, auth.RoleAdmin)
			for name, tok := range map[string]string{"none": "", "malformed": "hello", "unknown": "cgt_0123456789abcdef_" + strings.Repeat("A", 43),
				"revoked": revoked, "expired": expired} {
				r := f.do(op.method, path, tok, body)
				if err := isProblem(r, 401); err != nil {
					t.Errorf("%s token: %v", name, err)
				}
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s token: WWW-Authenticate %q", name, r.header.Get("WWW-Authenticate"))
				}
			}
		})
	}
}

// TestOpenAPIMatchesRoutes: the document validates, every operation in it
// is routed (and the mux has no route the document lacks, beside the
// documents themselves), unknown paths under the prefix get a 404
// problem, and a routed path asked with another method a 405 with Allow.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	_, ops := f.loadDoc()
	var fromDoc []string
	for _, op := range ops {
		fromDoc = append(fromDoc, op.method+" "+op.path)
	}
	var routed []string
	for _, p := range f.mux.patterns {
		if strings.HasPrefix(p, "GET "+strings.TrimSuffix(OpenAPIPath, ".json")) || p == Prefix+"/" {
			continue // the OpenAPI document in its forms; the 404 fallback
		}
		routed = append(routed, p)
	}
	slices.Sort(fromDoc)
	slices.Sort(routed)
	if !slices.Equal(fromDoc, routed) {
		t.Fatalf("document operations %q\nrouted %q", fromDoc, routed)
	}
	for _, op := range ops {
		// A request on the route reaches huma (401 from its middleware),
		// not the fallback's 404.
		path := strings.NewReplacer("{id}", "x", "{serial}", "1f").Replace(op.path)
		if r := f.do(op.method, path, "", nil); r.status != 401 {
			t.Errorf("%s %s: %d, want 401 from the routed operation", op.method, path, r.status)
		}
	}
	if err := isProblem(f.do("GET", "/api/v1/nothing", f.tokens[auth.RoleAdmin], nil), 404); err != nil {
		t.Error(err)
	}
	// A routed path with a method it does not have: 405, with Allow naming
	// the methods it has.
	methods := map[string][]string{}
	for _, op := range ops {
		path := strings.NewReplacer("{id}", "x", "{serial}", "1f").Replace(op.path)
		methods[path] = append(methods[path], op.method)
	}
	for path, have := range methods {
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if slices.Contains(have, m) {
				continue
			}
			r := f.do(m, path, f.tokens[auth.RoleAdmin], nil)
			if err := isProblem(r, 405); err != nil {
				t.Errorf("%s %s: %v", m, path, err)
				continue
			}
			for _, h := range have {
				if !strings.Contains(r.header.Get("Allow"), h) {
					t.Errorf("%s %s: Allow %q lacks %s", m, path, r.header.Get("Allow"), h)
				}
			}
		}
	}
}
