package adminapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestWWWAuthenticate: every 401 carries a Bearer challenge (RFC 6750
// §3: none with no credentials, error="invalid_token" for a token that
// is not accepted), and a 403 for a token whose role lacks the
// permission carries error="insufficient_scope" with the permission as
// scope (§3.1); the 403 had no WWW-Authenticate at all.
func TestWWWAuthenticate(t *testing.T) {
	f := newFixture(t, storetest.OpenSQLite(t))
	for _, tc := range []struct {
		name, method, path, token, body string
		status                          int
		want                            string
	}{
		{"no token", http.MethodGet, Prefix + "/tokens", "", "", http.StatusUnauthorized, `Bearer realm="certgate"`},
		{"basic", http.MethodGet, Prefix + "/tokens", "Basic dXNlcjpwYXNz", "", http.StatusUnauthorized, `Bearer realm="certgate"`},
		{"unknown token", http.MethodGet, Prefix + "/tokens", "Bearer cgt_0123456789abcdef_" + strings.Repeat("A", 43), "", http.StatusUnauthorized,
			`Bearer realm="certgate", error="invalid_token"`},
		{"auditor writes", http.MethodPost, Prefix + "/tokens", "Bearer " + f.tokens[auth.RoleAuditor], `{"name":"x","role":"admin"}`, http.StatusForbidden,
			`Bearer realm="certgate", error="insufficient_scope", scope="tokens:write"`},
		{"approver revokes", http.MethodPost, Prefix + "/certificates/01/revoke", "Bearer " + f.tokens[auth.RoleApprover], `{}`, http.StatusForbidden,
			`Bearer realm="certgate", error="insufficient_scope", scope="certificates:revoke"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, f.srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.token != "" {
				req.Header.Set("Authorization", tc.token)
			}
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != tc.want {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.want)
			}
		})
	}
	// Every operation's 403 says so: the role matrix of TestRoutesAndRoles
	// checks it per operation too.
}
