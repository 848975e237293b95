package adminapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv/testlog"
)

// TestRequestLog: every admin API request is logged as one "request" line
// (docs/operations.md, Logs) with its status and, once a token is
// accepted, the token as actor, also when its role is refused (403); never
// the token itself, not even one pasted into the path. Before, the admin
// API logged no request at all: failed and refused attempts left no trace.
func TestRequestLog(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	var buf testlog.Buffer
	h, _ := build(Deps{Store: f.st, Inventory: f.inv, Tokens: f.toks, Audit: f.log, Log: slog.New(slog.NewTextHandler(&buf, nil))})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	auditor, admin := f.tokens[auth.RoleAuditor], f.tokens[auth.RoleAdmin]
	for _, tc := range []struct {
		method, path, token, want string
	}{
		{http.MethodGet, "/api/v1/tokens", "", `method=GET path=/api/v1/tokens status=401 actor="" remote=127.0.0.1:`},
		{http.MethodGet, "/api/v1/tokens", admin[:len(admin)-1] + "x", `method=GET path=/api/v1/tokens status=401 actor="" remote=127.0.0.1:`},
		{http.MethodPost, "/api/v1/tokens/x/revoke", auditor, `method=POST path=/api/v1/tokens/x/revoke status=403 actor=` + f.actor(auth.RoleAuditor) + ` remote=`},
		{http.MethodGet, "/api/v1/tokens", auditor, `method=GET path=/api/v1/tokens status=200 actor=` + f.actor(auth.RoleAuditor) + ` remote=`},
		{http.MethodPost, "/api/v1/tokens/" + auditor + "/revoke", admin,
			`method=POST path=/api/v1/tokens/` + auditor[:21] + `.../revoke status=200 actor=` + f.actor(auth.RoleAdmin) + ` remote=`},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if !strings.Contains(buf.String(), `msg=request `+tc.want) {
			t.Errorf("%s %s: no log line with %q in\n%s", tc.method, tc.path, tc.want, buf.String())
		}
	}
	for _, tok := range f.tokens {
		if strings.Contains(buf.String(), tok[21:]) {
			t.Errorf("the log holds a token's secret:\n%s", buf.String())
		}
	}
}
