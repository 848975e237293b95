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
	f := newFixture(t, storetest.OpenSQLite(t))
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
	if d := detail(r); d != "the request body is not valid JSON: it ends at line 1, column 14 before the JSON text is complete" {
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
	f := newFixture(t, storetest.OpenSQLite(t))
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

// TestMalformedJSONDetailPlain: a body that is not JSON, or that holds a
// number no double can hold, is a 400 whose detail and errors say in plain
// words where it goes wrong (line and column, or the field); they were
// encoding/json's wording ("invalid character 'x' looking for beginning of
// value", "json: cannot unmarshal number 1e400 into Go struct field
// .reason of type float64"), which named Go's types and parser states.
func TestMalformedJSONDetailPlain(t *testing.T) {
	f := newFixture(t, storetest.OpenSQLite(t))
	tok := f.tokens[auth.RoleAdmin]
	serial := f.certificate().Serial
	for _, tc := range []struct {
		path, body, location, msg string
	}{
		{Prefix + "/tokens", `x`, "body", "unexpected character 'x' at line 1, column 1"},
		{Prefix + "/tokens", `{"name":"ci",}`, "body", "unexpected character '}' at line 1, column 14"},
		{Prefix + "/tokens", "{\n  \"name\": \"ci\"\n  \"role\": \"admin\"\n}", "body", `unexpected character '"' at line 3, column 3`},
		{Prefix + "/tokens", `{"name":"é",é}`, "body", "unexpected character 'é' at line 1, column 13"},
		{Prefix + "/tokens", `{"name":"ci","role":"admin"} x`, "body", "unexpected character 'x' at line 1, column 30"},
		{Prefix + "/tokens", "{\"name\":\"ci\",\n", "body", "it ends at line 2, column 1 before the JSON text is complete"},
		{Prefix + "/certificates/" + serial + "/revoke", `{"reason":1e400}`, "body.reason", "number 1e400 is out of range"},
		// The place is found by certgate: Go 1.26's encoding/json names
		// no field when decoding into an interface (the location was
		// "body" there, "body.reason" with Go 1.27).
		{Prefix + "/certificates/" + serial + "/revoke", `{"reason":1,"extra":{"n":[0,-1e400]}}`, "body.extra.n[1]", "number -1e400 is out of range"},
	} {
		r := f.rawDo(http.MethodPost, tc.path, tok, "application/json", []byte(tc.body))
		if err := isProblem(r, http.StatusBadRequest); err != nil {
			t.Errorf("%q: %v", tc.body, err)
			continue
		}
		var pb struct {
			Detail string `json:"detail"`
			Errors []struct {
				Message  string `json:"message"`
				Location string `json:"location"`
			} `json:"errors"`
		}
		if err := json.Unmarshal(r.body, &pb); err != nil {
			t.Fatal(err)
		}
		if want := "the request body is not valid JSON: " + tc.msg; pb.Detail != want {
			t.Errorf("%q: detail %q, want %q", tc.body, pb.Detail, want)
		}
		if len(pb.Errors) != 1 || pb.Errors[0].Message != tc.msg || pb.Errors[0].Location != tc.location {
			t.Errorf("%q: errors %+v, want %s: %s", tc.body, pb.Errors, tc.location, tc.msg)
		}
		for _, bad := range []string{"json:", "Go ", "float64", "looking for", "invalid character"} {
			if strings.Contains(string(r.body), bad) {
				t.Errorf("%q: problem holds %q: %s", tc.body, bad, r.body)
			}
		}
	}
}
