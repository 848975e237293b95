package adminapi

import (
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestTrailingSlashNamesTheResource: a routed path asked with a trailing
// slash (a newcomer's `curl .../api/v1/certificates/`) is a 404 RFC 9457
// problem naming the resource without it, as ACME's 404 names the
// directory; an unknown path with one gets no such hint, nor does a path
// whose trimmed form is the bare prefix.
func TestTrailingSlashNamesTheResource(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	admin := f.tokens[auth.RoleAdmin]
	for _, c := range []struct{ path, hint string }{
		{"/api/v1/certificates/", "(the resource is /api/v1/certificates, without the trailing slash)"},
		{"/api/v1/reports/expiring/", "(the resource is /api/v1/reports/expiring, without the trailing slash)"},
		{"/api/v1/nothing/", ""},
		{"/api/v1/", ""},
	} {
		r := f.do("GET", c.path, admin, nil)
		if err := isProblem(r, 404); err != nil {
			t.Errorf("GET %s: %v", c.path, err)
			continue
		}
		body := string(r.body)
		if c.hint != "" && !strings.Contains(body, c.hint) {
			t.Errorf("GET %s: %s, want the hint %q", c.path, body, c.hint)
		}
		if c.hint == "" && strings.Contains(body, "trailing slash") {
			t.Errorf("GET %s: %s, want no hint", c.path, body)
		}
	}
}
