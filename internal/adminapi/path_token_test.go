package adminapi

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestProblemPathRedactsToken: an admin API problem about a request
// whose path holds an API token (cgt_ID_SECRET pasted into it) names the
// token as cgt_ID_... only, as the request log does, for every operation
// of the OpenAPI document with the token as each path parameter, each
// other method on those paths (405), paths the API does not route (404)
// and unclean paths (404). Before, the 404 and 405 problems echoed the
// whole path, and the 404s of accounts and approvals and the 422s of
// serials and profile names the whole parameter, secret included.
func TestProblemPathRedactsToken(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	_, ops := f.loadDoc()
	pasted := f.tokens[auth.RoleAuditor]
	secret := pasted[len(auth.TokenPrefix)+17:]
	param := regexp.MustCompile(`\{[^}]+\}`)
	type call struct{ method, path string }
	calls := []call{
		{http.MethodGet, "/api/v1/" + pasted},
		{http.MethodGet, "/api/v1/nothing/" + pasted + "/more"},
		{http.MethodGet, "/api/v1/tokens/" + pasted + "/"},
		{http.MethodGet, "/api/v1/tokens//" + pasted},
		{http.MethodPost, "/api/v1/x" + pasted},
	}
	for _, op := range ops {
		if !strings.Contains(op.path, "{") {
			continue
		}
		p := param.ReplaceAllString(op.path, pasted)
		for _, m := range []string{op.method, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			calls = append(calls, call{m, p})
		}
	}
	for _, c := range calls {
		r := f.do(c.method, c.path, f.tokens[auth.RoleAdmin], nil)
		if r.status < 400 {
			continue
		}
		if strings.Contains(string(r.body), secret) {
			t.Errorf("%s %s: %d problem holds the token's secret: %s", c.method, c.path, r.status, r.body)
		}
	}
}
