package adminapi

import (
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/auth"
)

// TestNotificationsUnknownBefore: a before cursor that names no delivery
// is a 422 problem located at query.before, on both engines; it was
// answered with an empty page, as if the list had ended.
func TestNotificationsUnknownBefore(t *testing.T) {
	eachEngine(t, func(t *testing.T, f *fixture) {
		r := f.do("GET", "/api/v1/notifications?before=nosuchdelivery", f.tokens[auth.RoleAuditor], nil)
		if err := isProblem(r, 422); err != nil {
			t.Fatalf("unknown before: %v", err)
		}
		if !strings.Contains(string(r.body), `"location":"query.before"`) || !strings.Contains(string(r.body), "no delivery has that ID") {
			t.Errorf("unknown before: %s, want the problem to name query.before", r.body)
		}
		if r := f.do("GET", "/api/v1/notifications", f.tokens[auth.RoleAuditor], nil); r.status != 200 {
			t.Errorf("first page: %d %s", r.status, r.body)
		}
	})
}
