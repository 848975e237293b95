package adminapi

import (
	"strings"
	"testing"
)

// TestAuthHeaderProblem: a 401 for a request without a bearer token says
// what the Authorization header lacks (nothing sent, a token without its
// scheme, another scheme, a scheme without a token) and never repeats a
// token sent without its scheme.
func TestAuthHeaderProblem(t *testing.T) {
	const tok = "cgt_0123456789abcdef_secretpart"
	for hdr, want := range map[string]string{
		"":                   "an API token is required: send Authorization: Bearer TOKEN",
		tok:                  "the Authorization header holds a token without the Bearer scheme: send Authorization: Bearer TOKEN",
		"Bearer":             "the Authorization header has the Bearer scheme but no token: send Authorization: Bearer TOKEN",
		"Bearer  ":           "the Authorization header has the Bearer scheme but no token: send Authorization: Bearer TOKEN",
		"Basic dXNlcjpwdw==": "the Authorization header uses the Basic scheme; certgate takes API tokens as bearer tokens: send Authorization: Bearer TOKEN",
		"eyJhbGciOi.x.y":     "the Authorization header holds no bearer token: send Authorization: Bearer TOKEN",
	} {
		got := authHeaderProblem(hdr)
		if got != want {
			t.Errorf("Authorization %q: %q, want %q", hdr, got, want)
		}
		if strings.Contains(got, "secretpart") {
			t.Errorf("Authorization %q: the detail repeats the token: %q", hdr, got)
		}
	}
}
