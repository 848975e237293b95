package adminapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestCreateTokenRefusals: token requests the token service refuses are
// 422 problem documents naming the reason and, in their errors list, the
// field (as every 422 of a field, docs/api.md, Errors), never 500.
func TestCreateTokenRefusals(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	for _, tc := range []struct {
		body           map[string]string
		want, location string
	}{
		{map[string]string{"name": "0123456789abcdef", "role": "auditor"}, "looks like a token ID", "body.name"},
		{map[string]string{"name": "far", "role": "auditor", "expires": "100000d"}, "ends after 2262-04-11T23:47:16Z", "body.expires"},
	} {
		r := f.do(http.MethodPost, "/api/v1/tokens", f.tokens[auth.RoleAdmin], tc.body)
		if r.status != http.StatusUnprocessableEntity || r.header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%v: %d %s, want 422 problem containing %q", tc.body, r.status, r.body, tc.want)
		}
		var p struct {
			Errors []struct{ Location, Message string }
		}
		if err := json.Unmarshal(r.body, &p); err != nil || len(p.Errors) != 1 || p.Errors[0].Location != tc.location || !strings.Contains(p.Errors[0].Message, tc.want) {
			t.Errorf("%v: errors %+v (%v), want one at %s containing %q", tc.body, p.Errors, err, tc.location, tc.want)
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
