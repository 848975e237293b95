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

// TestExpiresPastStoreRefused: a token or EAB key whose lifetime would end
// after store.MaxTime (2262) is refused with a 422 problem document stating
// the latest expiry and the longest lifetime, not created with an earlier
// expiry than asked.
func TestExpiresPastStoreRefused(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	want := "lifetime 100000d ends after 2262-04-11T23:47:16Z, the latest expiry certgate stores: at most "
	for path, body := range map[string]map[string]string{
		"/api/v1/tokens":   {"name": "far", "role": "auditor", "expires": "100000d"},
		"/api/v1/eab-keys": {"profile": "default", "expires": "100000d"},
	} {
		r := f.do(http.MethodPost, path, f.tokens[auth.RoleAdmin], body)
		if r.status != http.StatusUnprocessableEntity || r.header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(r.body), want) {
			t.Errorf("POST %s %v: %d %s, want 422 problem containing %q", path, body, r.status, r.body, want)
		}
	}
}
