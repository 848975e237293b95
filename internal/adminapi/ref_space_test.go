package adminapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestCertificateRefWhiteSpace: a certificate reference with white space
// or a control character around or in the serial (TAB, CR, VT, FF, NBSP,
// NEL, space; found by FuzzAdminRef) is a malformed reference, an RFC 9457
// problem of 422 naming path.ref, on SQLite and PostgreSQL alike; the
// inventory trimmed it and answered with the certificate. The serial alone
// is still found.
func TestCertificateRefWhiteSpace(t *testing.T) {
	for _, env := range newFuzzQueryEnvs(t) {
		for _, op := range []string{"/certificates/{}", "/certificates/{}/pem"} {
			target := Prefix + strings.Replace(op, "{}", env.serial, 1)
			if rec := env.get(t, target); rec.Code != http.StatusOK {
				t.Fatalf("%s: GET %s: %d %s", env.engine, target, rec.Code, rec.Body)
			}
			for _, ws := range []string{"%09", "%0D", "%0B", "%0C", "%C2%A0", "%C2%85", "%20", "%0A"} {
				for _, ref := range []string{ws + env.serial, env.serial + ws, env.serial[:4] + ws + env.serial[4:]} {
					target := Prefix + strings.Replace(op, "{}", ref, 1)
					rec := env.get(t, target)
					if rec.Code != http.StatusUnprocessableEntity {
						t.Errorf("%s: GET %s: %d %s, want 422", env.engine, target, rec.Code, rec.Body)
						continue
					}
					checkQueryAnswer(t, env.engine, target, rec)
					var p struct {
						Detail string `json:"detail"`
						Errors []struct {
							Location string `json:"location"`
						} `json:"errors"`
					}
					if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || len(p.Errors) != 1 || p.Errors[0].Location != "path.ref" ||
						!strings.Contains(p.Detail, "white space or a control character") {
						t.Errorf("%s: GET %s: %s, want a problem naming path.ref", env.engine, target, rec.Body)
					}
				}
			}
		}
	}
}

// TestSerialQueryWhiteSpace: a serial with white space or a control
// character around or in it is refused, as the path's {ref} is, wherever
// the admin API takes one: the certificate list's ?serial= and
// ?fingerprint= (422 naming query.serial, query.fingerprint) and the audit
// list's object_id of a certificate (422 naming query.object_id). The
// inventory trimmed the serial, so ?serial=%20SERIAL found the
// certificate, and the audit list trimmed an untyped serial written as
// openssl prints it; the serial alone still finds it.
func TestSerialQueryWhiteSpace(t *testing.T) {
	for _, env := range newFuzzQueryEnvs(t) {
		colons := strings.ToUpper(env.serial[:2]) + ":" + strings.ToUpper(env.serial[2:4])
		for _, tc := range []struct{ query, location string }{
			{"/certificates?serial=%20" + env.serial, "query.serial"},
			{"/certificates?serial=" + env.serial + "%09", "query.serial"},
			{"/certificates?serial=" + env.serial[:4] + "%C2%A0" + env.serial[4:], "query.serial"},
			{"/certificates?fingerprint=%20" + strings.Repeat("ab", 32), "query.fingerprint"},
			{"/audit/events?object_type=certificate&object_id=%20" + env.serial, "query.object_id"},
			{"/audit/events?object_id=%20" + colons, "query.object_id"},
		} {
			checkSpaceRefused(t, env, tc.query, tc.location)
		}
		rec := env.get(t, Prefix+"/certificates?serial="+env.serial)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), env.serial) {
			t.Errorf("%s: ?serial=%s: %d %s", env.engine, env.serial, rec.Code, rec.Body)
		}
	}
}

// checkSpaceRefused asserts that GET query answers 422 with one error at
// location and a detail saying the value holds white space or a control
// character.
func checkSpaceRefused(t *testing.T, env *fuzzQueryEnv, query, location string) {
	t.Helper()
	rec := env.get(t, Prefix+query)
	if rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("%s: GET %s: %d %s, want 422", env.engine, query, rec.Code, rec.Body)
		return
	}
	var p struct {
		Detail string `json:"detail"`
		Errors []struct {
			Location string `json:"location"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || len(p.Errors) != 1 || p.Errors[0].Location != location ||
		!strings.Contains(p.Detail, "white space or a control character") {
		t.Errorf("%s: GET %s: %s, want a problem naming %s", env.engine, query, rec.Body, location)
	}
}
