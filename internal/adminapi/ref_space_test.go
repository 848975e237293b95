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
