package adminapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestCreateTokenRefusals: token requests the token service refuses are
// 422 problem documents naming the reason, never 500.
func TestCreateTokenRefusals(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	for _, tc := range []struct {
		body map[string]string
		want string
	}{
		{map[string]string{"name": "0123456789abcdef", "role": "auditor"}, "looks like a token ID"},
	} {
		r := f.do(http.MethodPost, "/api/v1/tokens", f.tokens[auth.RoleAdmin], tc.body)
		if r.status != http.StatusUnprocessableEntity || r.header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%v: %d %s, want 422 problem containing %q", tc.body, r.status, r.body, tc.want)
		}
	}
}
