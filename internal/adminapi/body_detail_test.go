package adminapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestBodyProblemsSayWhatToSend: a body sent without Content-Type:
// application/json (curl -d sends application/x-www-form-urlencoded) is
// answered 415 with a detail that names the header to send, and a body
// that is not JSON 400 with a detail saying so. Both said only
// "validation failed", which reads as a problem with the fields.
func TestBodyProblemsSayWhatToSend(t *testing.T) {
	f := newFixture(t, storetest.OpenDSN(t, storetest.SQLiteDSN(t)))
	tok := f.tokens[auth.RoleAdmin]
	detail := func(r response) string {
		t.Helper()
		var pb struct {
			Detail string `json:"detail"`
		}
		if err := json.Unmarshal(r.body, &pb); err != nil {
			t.Fatalf("%d %s: %v", r.status, r.body, err)
		}
		return pb.Detail
	}

	r := f.rawDo(http.MethodPost, Prefix+"/tokens", tok, "application/x-www-form-urlencoded", []byte(`{"name":"ci","role":"operator"}`))
	if err := isProblem(r, http.StatusUnsupportedMediaType); err != nil {
		t.Fatal(err)
	}
	if d := detail(r); d != "the request body must be JSON sent with Content-Type: application/json, not application/x-www-form-urlencoded (curl -d sends that unless given -H 'Content-Type: application/json')" {
		t.Errorf("415 detail %q", d)
	}
	r = f.rawDo(http.MethodPost, Prefix+"/tokens", tok, "text/plain", []byte(`{}`))
	if d := detail(r); r.status != http.StatusUnsupportedMediaType || !strings.HasPrefix(d, "the request body must be JSON sent with Content-Type: application/json, not text/plain") {
		t.Errorf("text/plain: %d %q", r.status, d)
	}

	r = f.rawDo(http.MethodPost, Prefix+"/tokens", tok, "application/json", []byte(`{"name":"ci",`))
	if err := isProblem(r, http.StatusBadRequest); err != nil {
		t.Fatal(err)
	}
	if d := detail(r); d != "the request body is not valid JSON: unexpected end of JSON input" {
		t.Errorf("400 detail %q", d)
	}

	// Field errors keep their list; the detail says what they are.
	r = f.rawDo(http.MethodPost, Prefix+"/tokens", tok, "application/json", []byte(`{"name":"ci","role":"boss"}`))
	if d := detail(r); r.status != http.StatusUnprocessableEntity || d == "validation failed" || !strings.Contains(string(r.body), `"location":"body.role"`) {
		t.Errorf("422: %d %s", r.status, r.body)
	}
}

// TestValidationDetailNamesFields: a 422 that huma's schema check answers
// (a wrong type, a value outside an enum, a missing field) has as detail
// each error with the field it names, joined with "; " as the operations'
// own checks join theirs; it was "validation failed", which told a client
// that shows only the detail nothing.
func TestValidationDetailNamesFields(t *testing.T) {
	f := newFixture(t, storetest.OpenDSN(t, storetest.SQLiteDSN(t)))
	tok := f.tokens[auth.RoleAdmin]
	for _, tc := range []struct {
		name, method, path, body, want string
	}{
		{"query", http.MethodGet, Prefix + "/certificates?limit=abc&status=x", "",
			`query.limit: invalid integer; query.status: expected value to be one of "valid, revoked, expired"`},
		{"enum in the body", http.MethodPost, Prefix + "/tokens", `{"name":"ci","role":"boss"}`,
			`body.role: expected value to be one of "admin, approver, operator, auditor"`},
		{"missing field", http.MethodPost, Prefix + "/tokens", `{"role":"admin"}`,
			`body: expected required property name to be present`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			ct := ""
			if body != nil {
				ct = "application/json"
			}
			r := f.rawDo(tc.method, tc.path, tok, ct, body)
			if err := isProblem(r, http.StatusUnprocessableEntity); err != nil {
				t.Fatal(err)
			}
			var pb struct {
				Detail string            `json:"detail"`
				Errors []json.RawMessage `json:"errors"`
			}
			if err := json.Unmarshal(r.body, &pb); err != nil {
				t.Fatal(err)
			}
			if pb.Detail != tc.want || len(pb.Errors) == 0 {
				t.Errorf("detail %q (errors %d), want %q", pb.Detail, len(pb.Errors), tc.want)
			}
		})
	}
}
