package adminapi

import (
	"net/http"
	"strings"
	"testing"
)

// TestNameQueryWhiteSpace, on both engines: a ?name= or ?suffix= filter
// with white space or a control character around or in it is a 422 naming
// query.name or query.suffix, as ?serial= and ?fingerprint= are; it was
// trimmed, and the filter answered as if the name were written without it.
func TestNameQueryWhiteSpace(t *testing.T) {
	for _, env := range newFuzzQueryEnvs(t) {
		for _, tc := range []struct{ query, location string }{
			{"/certificates?name=%20a.example.com", "query.name"},
			{"/certificates?name=a.example.com%09", "query.name"},
			{"/certificates?name=a.example%C2%A0.com", "query.name"},
			{"/certificates?suffix=%20example.com", "query.suffix"},
			{"/certificates?suffix=example.com%0A", "query.suffix"},
		} {
			checkSpaceRefused(t, env, tc.query, tc.location)
		}
		for _, q := range []string{"/certificates?name=A.example.com.", "/certificates?suffix=*.example.com"} {
			rec := env.get(t, Prefix+q)
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), env.serial) {
				t.Errorf("%s: GET %s: %d %s, want the certificates", env.engine, q, rec.Code, rec.Body)
			}
		}
	}
}
