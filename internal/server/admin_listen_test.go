package server_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv"
)

// answer is one HTTP answer: status, protocol, Content-Type and body.
type answer struct {
	status int
	proto  string
	ctype  string
	body   []byte
}

// problem decodes an RFC 9457 problem document (about:blank).
func (a answer) problem(t *testing.T) (typ string, status int, detail string) {
	t.Helper()
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if a.ctype != "application/problem+json" || json.Unmarshal(a.body, &p) != nil {
		t.Fatalf("answer %d %s %q is not a problem document", a.status, a.ctype, a.body)
	}
	return p.Type, p.Status, p.Detail
}

// do sends method url (with token as bearer token unless "", and body as
// JSON unless "") with c.
func do(t *testing.T, c *http.Client, method, url, token, body string) answer {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Proto, resp.Header.Get("Content-Type"), b}
}

// TestAdminListen: with admin-listen, the admin API answers there over
// HTTPS with the server's certificate and HTTP/1.1 only (also with
// --http2), its bearer tokens and permissions as on listen, and records
// the client's address in the audit log; the listen address answers every
// admin API path with a 404 RFC 9457 problem over HTTPS and plain HTTP
// that names no admin address, while ACME, the PKI files and the health
// endpoints stay there. Plain HTTP on admin-listen is refused with a 400
// problem naming the HTTPS URL, as on listen; ACME is not served on
// admin-listen.
func TestAdminListen(t *testing.T) {
	env := testenv.NewWithOptions(t, testenv.Options{AdminListen: true, HTTP2: true})
	if env.AdminURL == "" || env.AdminURL == env.BaseURL {
		t.Fatalf("admin-listen not served: AdminURL %q, BaseURL %q", env.AdminURL, env.BaseURL)
	}
	ctx := context.Background()
	st := env.Server.Store()
	tokens := auth.NewTokens(st, audit.New(st, nil), nil)
	admin, _, err := tokens.Create(ctx, auth.CreateRequest{Name: "admin", Role: auth.RoleAdmin, Actor: "cli:test"})
	if err != nil {
		t.Fatal(err)
	}
	auditor, _, err := tokens.Create(ctx, auth.CreateRequest{Name: "auditor", Role: auth.RoleAuditor, Actor: "cli:test"})
	if err != nil {
		t.Fatal(err)
	}
	// A client that would take HTTP/2 if offered, as on listen with --http2.
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: env.Roots}, ForceAttemptHTTP2: true}}
	adminAddr := env.Server.AdminAddr().String()
	_, adminPort, _ := net.SplitHostPort(adminAddr)

	// On admin-listen: the API with a valid token, HTTP/1.1.
	if a := do(t, c, "GET", env.AdminURL+"/api/v1/accounts", admin, ""); a.status != http.StatusOK || a.proto != "HTTP/1.1" {
		t.Errorf("admin-listen GET /api/v1/accounts with a token = %d %s %s, want 200 over HTTP/1.1", a.status, a.proto, a.body)
	}
	if a := do(t, c, "GET", env.AdminURL+"/api/v1/openapi.json", "", ""); a.status != http.StatusOK || !strings.Contains(string(a.body), `"openapi":"3.1.0"`) {
		t.Errorf("admin-listen openapi.json = %d %.80s", a.status, a.body)
	}
	// The token is still required, and its role still limits it.
	a := do(t, c, "GET", env.AdminURL+"/api/v1/accounts", "", "")
	if typ, status, _ := a.problem(t); a.status != http.StatusUnauthorized || status != 401 || typ != "about:blank" {
		t.Errorf("admin-listen without a token = %d %s, want a 401 problem", a.status, a.body)
	}
	a = do(t, c, "GET", env.AdminURL+"/api/v1/accounts", "cg_not-a-token", "")
	if _, status, _ := a.problem(t); status != http.StatusUnauthorized {
		t.Errorf("admin-listen with a wrong token = %d %s, want a 401 problem", a.status, a.body)
	}
	a = do(t, c, "POST", env.AdminURL+"/api/v1/tokens", auditor, `{"name":"ci","role":"auditor"}`)
	if _, status, _ := a.problem(t); status != http.StatusForbidden {
		t.Errorf("admin-listen POST /api/v1/tokens as an auditor = %d %s, want a 403 problem", a.status, a.body)
	}
	if a := do(t, c, "POST", env.AdminURL+"/api/v1/tokens", admin, `{"name":"ci","role":"auditor"}`); a.status != http.StatusOK && a.status != http.StatusCreated {
		t.Errorf("admin-listen POST /api/v1/tokens as an admin = %d %s, want it created", a.status, a.body)
	}
	evs, err := st.ListAudit(ctx, store.AuditFilter{ObjectType: audit.ObjectToken})
	if err != nil || len(evs) != 3 || !strings.HasPrefix(evs[2].Source, "127.0.0.1:") || evs[2].Action != audit.ActionTokenCreate {
		t.Errorf("audit of the token created over admin-listen: %v %+v, want its source 127.0.0.1:PORT", err, evs)
	}

	// On listen: every admin API path is 404, over HTTPS and plain HTTP,
	// with or without a token, and the answer names no admin address.
	plain := "http://" + env.Server.Addr().String()
	for _, u := range []string{env.BaseURL + "/api/v1/accounts", env.BaseURL + "/api/v1/openapi.json", env.BaseURL + "/api/v1",
		plain + "/api/v1/accounts", plain + "/api/v1/openapi.json"} {
		for _, tok := range []string{admin, ""} {
			a := do(t, c, "GET", u, tok, "")
			typ, status, detail := a.problem(t)
			if a.status != http.StatusNotFound || status != 404 || typ != "about:blank" || detail != "the admin API is not served on this address" {
				t.Errorf("listen GET %s = %d %s, want a 404 problem", u, a.status, a.body)
			}
			if strings.Contains(string(a.body), adminPort) || strings.Contains(a.ctype+string(a.body), "admin-listen") {
				t.Errorf("listen GET %s names the admin address: %s", u, a.body)
			}
		}
	}
	// ACME, the PKI files and health stay on listen, with HTTP/2 there.
	if a := do(t, c, "GET", env.DirectoryURL, "", ""); a.status != http.StatusOK || a.proto != "HTTP/2.0" {
		t.Errorf("listen directory = %d %s, want 200 over HTTP/2", a.status, a.proto)
	}
	for _, u := range []string{plain + "/pki/root.pem", env.BaseURL + "/readyz", plain + "/healthz", env.AdminURL + "/healthz", env.AdminURL + "/readyz"} {
		if a := do(t, c, "GET", u, "", ""); a.status != http.StatusOK {
			t.Errorf("GET %s = %d %s, want 200", u, a.status, a.body)
		}
	}

	// On admin-listen: no ACME; plain HTTP is refused, naming HTTPS.
	a = do(t, c, "GET", env.AdminURL+"/acme/directory", "", "")
	if _, status, detail := a.problem(t); status != http.StatusNotFound || !strings.Contains(detail, "admin API") {
		t.Errorf("admin-listen /acme/directory = %d %s, want a 404 problem", a.status, a.body)
	}
	plainAdmin := "http://" + adminAddr
	for path, want := range map[string]string{
		"/api/v1/accounts?limit=5": "certgate serves the admin API over HTTPS only: https://" + adminAddr + "/api/v1/accounts",
		"/acme/directory":          "certgate serves the admin API over HTTPS only: https://" + adminAddr + "/api/v1/openapi.json",
	} {
		a := do(t, c, "GET", plainAdmin+path, admin, "")
		if typ, status, detail := a.problem(t); a.status != http.StatusBadRequest || status != 400 || typ != "about:blank" || detail != want {
			t.Errorf("plain HTTP on admin-listen GET %s = %d %s, want 400 %q", path, a.status, a.body, want)
		}
	}
	if a := do(t, c, "GET", plainAdmin+"/readyz", "", ""); a.status != http.StatusOK {
		t.Errorf("plain HTTP on admin-listen /readyz = %d %s, want 200", a.status, a.body)
	}
}

// TestAdminAPIOnListenByDefault: without admin-listen the server has no
// admin address and the admin API answers on listen, over HTTPS, as it
// always did.
func TestAdminAPIOnListenByDefault(t *testing.T) {
	env := testenv.New(t)
	if a := env.Server.AdminAddr(); a != nil || env.AdminURL != "" {
		t.Fatalf("admin address without admin-listen: %v %q", a, env.AdminURL)
	}
	if a := do(t, env.HTTPClient, "GET", env.BaseURL+"/api/v1/openapi.json", "", ""); a.status != http.StatusOK {
		t.Errorf("listen openapi.json = %d %s, want 200", a.status, a.body)
	}
	if a := do(t, env.HTTPClient, "GET", env.BaseURL+"/api/v1/accounts", "", ""); a.status != http.StatusUnauthorized {
		t.Errorf("listen accounts without a token = %d %s, want 401", a.status, a.body)
	}
}
