package adminapi

import (
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestMalformedDurationNamesField: a profile duration that is not one
// (validity "x") is a 422 whose errors list names the field, at the top
// level and nested, for POST and PUT; before, the JSON decoder's error
// came back at location "body" with the whole body as its value. A
// well-formed duration in every such field is still accepted, weeks too.
func TestMalformedDurationNamesField(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	admin := f.tokens[auth.RoleAdmin]
	name := f.storedProfile()
	for _, tc := range []struct {
		what, method, path string
		body               map[string]any
		location           string
	}{
		{"validity", "POST", "/api/v1/profiles", map[string]any{"name": "web", "validity": "x"}, "body.validity"},
		{"maxValidity", "POST", "/api/v1/profiles", map[string]any{"name": "web", "validity": "30d", "maxValidity": "30 days"}, "body.maxValidity"},
		{"authzReuse", "POST", "/api/v1/profiles", map[string]any{"name": "web", "validity": "30d", "authzReuse": "1x"}, "body.authzReuse"},
		{"approval.escalateAfter", "POST", "/api/v1/profiles", map[string]any{"name": "web", "validity": "30d",
			"approval": map[string]any{"always": true, "escalateAfter": "soon"}}, "body.approval.escalateAfter"},
		{"validation.dnsTimeout", "POST", "/api/v1/profiles", map[string]any{"name": "web", "validity": "30d",
			"validation": map[string]any{"dnsTimeout": "5"}}, "body.validation.dnsTimeout"},
		{"validity (PUT)", "PUT", "/api/v1/profiles/" + name, map[string]any{"name": name, "validity": "1.5d"}, "body.validity"},
	} {
		checkInvalidField(t, tc.what, f.do(tc.method, tc.path, admin, tc.body), tc.location, "expected a duration such as 90d, 2w, 36h or 1d12h")
	}
	// Durations of the right form that the decoder refuses (beyond ~292
	// years, a negative week count): the 422 named "body" with the whole
	// body as its value.
	for _, tc := range []struct{ value, msg string }{
		{"9999999999h", `invalid duration "9999999999h"`},
		{"300000w", `duration "300000w" is too long`},
		{"-1w", `invalid duration "-1w"`},
	} {
		r := f.do("POST", "/api/v1/profiles", admin, map[string]any{"name": "web", "validity": "30d",
			"approval": map[string]any{"always": true, "escalateAfter": tc.value}})
		checkInvalidField(t, "escalateAfter "+tc.value, r, "body.approval.escalateAfter", tc.msg)
	}
	ok := map[string]any{"name": "web", "validity": "1d12h", "maxValidity": "2w", "authzReuse": "1w3d",
		"approval": map[string]any{"always": true, "escalateAfter": "36h"}, "validation": map[string]any{"dnsTimeout": "1.5s"}}
	if r := f.do("POST", "/api/v1/profiles", admin, ok); r.status != 201 {
		t.Errorf("well-formed durations: %d %s", r.status, r.body)
	}
}
