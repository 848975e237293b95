package adminapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/getkin/kin-openapi/openapi3"
)

// docResponse returns the documented response of op for status, or nil.
func docResponse(op *openapi3.Operation, status int) *openapi3.Response {
	if r := op.Responses.Status(status); r != nil && r.Value != nil {
		return r.Value
	}
	return nil
}

// rawDo sends body as is with content type ct ("" for none), and does not
// follow redirects.
func (f *fixture) rawDo(method, path, token, ct string, body []byte) response {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	client := *f.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

// documentedProblem checks that r is an RFC 9457 problem document (with
// its type, §3.1.1) whose status op documents, and not a 500.
func documentedProblem(op *openapi3.Operation, r response) error {
	if r.status == http.StatusInternalServerError {
		return fmt.Errorf("500: %s", r.body)
	}
	if err := isProblem(r, r.status); err != nil {
		return err
	}
	var p struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(r.body, &p)
	if p.Type == "" {
		return fmt.Errorf("problem without a type: %s", r.body)
	}
	if docResponse(op, r.status) == nil {
		return fmt.Errorf("status %d is not among the operation's documented responses: %s", r.status, r.body)
	}
	return nil
}

// TestResponsesMatchOpenAPI: for every operation of the served document,
// the successful call of requests() answers a status the operation
// documents, and a body (for JSON) that validates against the documented
// schema, whose objects admit no property they do not name, so a field
// the code sends under another name than the document's fails.
func TestResponsesMatchOpenAPI(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	doc, ops := f.loadDoc()
	reqs := requests()
	for _, o := range ops {
		t.Run(o.id, func(t *testing.T) {
			op := doc.Paths.Find(o.path).GetOperation(o.method)
			path, body := reqs[o.id].setup(f, auth.RoleAdmin)
			r := f.do(o.method, path, f.tokens[auth.RoleAdmin], body)
			resp := docResponse(op, r.status)
			if resp == nil {
				t.Fatalf("%s %s: status %d not documented: %s", o.method, path, r.status, r.body)
			}
			mt := resp.Content.Get("application/json")
			if mt == nil {
				return // 204, PEM
			}
			var v any
			if err := json.Unmarshal(r.body, &v); err != nil {
				t.Fatalf("%s %s: not JSON: %v: %s", o.method, path, err, r.body)
			}
			if err := mt.Schema.Value.VisitJSON(v); err != nil {
				t.Fatalf("%s %s: answer does not match the documented schema: %v\n%s", o.method, path, err, r.body)
			}
		})
	}
}

// TestBadInputIsDocumentedProblem walks every operation of the served
// document with bad input: unknown IDs in its path, malformed, mistyped,
// empty, oversized and non-JSON bodies, and bad cursor and limit values.
// Every answer must be an RFC 9457 problem (with a type) whose status the
// operation documents, never a 500.
func TestBadInputIsDocumentedProblem(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	doc, ops := f.loadDoc()
	tok := f.tokens[auth.RoleAdmin]
	param := regexp.MustCompile(`\{[a-z]+\}`)
	huge := []byte(`{"name":"` + strings.Repeat("a", 2<<20) + `"}`)
	for _, o := range ops {
		if o.method == http.MethodGet && o.permission == "" {
			continue
		}
		t.Run(o.id, func(t *testing.T) {
			op := doc.Paths.Find(o.path).GetOperation(o.method)
			check := func(what string, r response) {
				t.Helper()
				if err := documentedProblem(op, r); err != nil {
					t.Errorf("%s %s (%s): %v", o.method, o.path, what, err)
				}
			}
			if strings.Contains(o.path, "{") {
				path := param.ReplaceAllString(o.path, "nope")
				check("unknown ID", f.rawDo(o.method, path, tok, "application/json", []byte(`{"comment":"x"}`)))
				path = param.ReplaceAllString(o.path, "0ab1")
				check("unknown serial", f.rawDo(o.method, path, tok, "application/json", []byte(`{"comment":"x"}`)))
			}
			// Bodies go to the successful request's path (a real object).
			path, _ := requests()[o.id].setup(f, auth.RoleAdmin)
			if op.RequestBody != nil {
				for what, b := range map[string]string{"malformed JSON": `{bad`, "array": `[]`, "unknown field": `{"zz_unknown":1}`,
					"wrong type": `{"name":5,"reason":"x","comment":7,"profile":1}`, "null": `null`} {
					check(what, f.rawDo(o.method, path, tok, "application/json", []byte(b)))
				}
				check("huge body", f.rawDo(o.method, path, tok, "application/json", huge))
				check("text/plain", f.rawDo(o.method, path, tok, "text/plain", []byte(`{}`)))
			}
			// A query parameter the operation does not take (a misspelt
			// filter answered the unfiltered list): 422 naming it.
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			r := f.rawDo(o.method, path+sep+"statu=valid", tok, "", nil)
			if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), `"location":"query.statu"`) ||
				!strings.Contains(string(r.body), `unknown query parameter \"statu\"`) {
				t.Errorf("%s %s%sstatu=valid: %d, want a 422 naming query.statu: %s", o.method, path, sep, r.status, r.body)
			}
			check("unknown query parameter", r)
			for _, p := range op.Parameters {
				if p.Value.In != "query" {
					continue
				}
				path, _, _ := strings.Cut(path, "?")
				sep := "?"
				switch p.Value.Name {
				case "cursor", "before":
					for _, bad := range []string{"!!!", "%00", "a+b"} {
						r := f.rawDo(o.method, path+sep+p.Value.Name+"="+bad, tok, "", nil)
						if r.status != http.StatusUnprocessableEntity {
							t.Errorf("%s?%s=%s: %d, want 422: %s", o.path, p.Value.Name, bad, r.status, r.body)
						}
						check(p.Value.Name+"="+bad, r)
					}
				case "limit":
					for _, bad := range []string{"0", "-1", "abc", strconv.Itoa(1 << 40)} {
						r := f.rawDo(o.method, path+sep+"limit="+bad, tok, "", nil)
						if r.status != http.StatusUnprocessableEntity {
							t.Errorf("%s?limit=%s: %d, want 422: %s", o.path, bad, r.status, r.body)
						}
						check("limit="+bad, r)
					}
				}
			}
		})
	}
}

// TestDecisionBodyOptional: approving needs no body (the comment is
// optional), and a rejection without one is the 422 that asks for a
// comment, not a 400 about a missing body.
func TestDecisionBodyOptional(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	tok := f.tokens[auth.RoleAdmin]
	if r := f.rawDo("POST", "/api/v1/approvals/"+f.approval()+"/approve", tok, "", nil); r.status != 200 {
		t.Fatalf("approve without a body: %d: %s", r.status, r.body)
	}
	r := f.rawDo("POST", "/api/v1/approvals/"+f.approval()+"/reject", tok, "", nil)
	if err := isProblem(r, 422); err != nil || !strings.Contains(string(r.body), "comment") {
		t.Fatalf("reject without a body: %v: %s", err, r.body)
	}
}

// TestUncleanPathIsProblem: a path with "//", "." or ".." segments is a 404
// problem, not ServeMux's 307 redirect with an HTML body.
func TestUncleanPathIsProblem(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	tok := f.tokens[auth.RoleAdmin]
	for _, p := range []string{"/api/v1", "/api/v1//tokens", "/api/v1/tokens/./x", "/api/v1/accounts/../tokens", "/api/v1/tokens//"} {
		r := f.rawDo("GET", p, tok, "", nil)
		if err := isProblem(r, 404); err != nil {
			t.Errorf("GET %s: %v (Location %q)", p, err, r.header.Get("Location"))
		}
	}
}

// TestFieldNamesSnakeCase: every property of every object the API sends
// or takes is snake_case, except in a profile, which is the JSON form of
// the profile file format (camelCase, docs/profiles.md) and of the
// schemas it uses.
func TestFieldNamesSnakeCase(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	doc, _ := f.loadDoc()
	profileDoc := map[string]bool{}
	var walk func(name string)
	walk = func(name string) {
		if profileDoc[name] {
			return
		}
		profileDoc[name] = true
		var refs func(s *openapi3.SchemaRef)
		refs = func(s *openapi3.SchemaRef) {
			if s == nil {
				return
			}
			if s.Ref != "" {
				walk(strings.TrimPrefix(s.Ref, "#/components/schemas/"))
				return
			}
			for _, p := range s.Value.Properties {
				refs(p)
			}
			refs(s.Value.Items)
			if s.Value.AdditionalProperties.Schema != nil {
				refs(s.Value.AdditionalProperties.Schema)
			}
		}
		for _, p := range doc.Components.Schemas[name].Value.Properties {
			refs(p)
		}
	}
	walk("Profile")
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	for name, s := range doc.Components.Schemas {
		if profileDoc[name] {
			continue
		}
		for prop := range s.Value.Properties {
			if !snake.MatchString(prop) {
				t.Errorf("schema %s: property %q is not snake_case", name, prop)
			}
		}
	}
	if len(profileDoc) < 2 {
		t.Fatalf("profile schemas %v: the walk found no schema the profile uses", profileDoc)
	}
}

// TestNULAndInvalidUTF8, on both engines: a NUL character or invalid UTF-8
// in a path ID is a 404, in a query parameter a 422, a \u0000 escape in
// a JSON body a 422 and invalid UTF-8 in a body a 400, as documented, on SQLite as on PostgreSQL (whose text
// type refuses NUL: those were 500s there, and SQLite stored them); the
// text "\u0000" (an escaped backslash) is fine.
func TestNULAndInvalidUTF8(t *testing.T) {
	eachEngine(t, func(t *testing.T, f *fixture) {
		doc, _ := f.loadDoc()
		tok := f.tokens[auth.RoleAdmin]
		for _, c := range []struct {
			method, path, body string
			status             int
		}{
			{"GET", "/api/v1/accounts/a%00b", "", 404},
			{"GET", "/api/v1/accounts/a%FFb/orders", "", 404},
			{"GET", "/api/v1/orders/%00", "", 404},
			{"GET", "/api/v1/profiles/%00", "", 404},
			{"POST", "/api/v1/tokens/%00/revoke", "", 404},
			{"POST", "/api/v1/eab-keys/%FF/revoke", "", 404},
			{"POST", "/api/v1/approvals/%00/approve", "", 404},
			// An ID longer than the schema's bound names no object: 404
			// (it was 422 path.id); a PUT, which may create, keeps the 422.
			{"GET", "/api/v1/approvals/" + strings.Repeat("a", 65), "", 404},
			{"POST", "/api/v1/approvals/" + strings.Repeat("a", 65) + "/approve", "", 404},
			{"GET", "/api/v1/accounts/" + strings.Repeat("a", 65), "", 404},
			{"GET", "/api/v1/certificates/" + strings.Repeat("a", 201), "", 404},
			{"GET", "/api/v1/profiles/" + strings.Repeat("a", 64), "", 404},
			{"PUT", "/api/v1/profiles/" + strings.Repeat("a", 64), `{"name":"` + strings.Repeat("a", 64) + `","validity":"30d"}`, 422},
			{"GET", "/api/v1/certificates?name=a%00b", "", 422},
			{"GET", "/api/v1/certificates?issuer=%FF", "", 422},
			{"GET", "/api/v1/certificates?attr=a%3D%00", "", 422},
			{"GET", "/api/v1/audit/events?object_id=%00", "", 422},
			{"GET", "/api/v1/audit/events?object_type=certificate&object_id=zz", "", 422}, // not a serial: matched nothing (200)
			{"GET", "/api/v1/approvals?limit=1&limit=5", "", 422},                         // the first was taken, the second dropped
			{"GET", "/api/v1/audit/events?action=token.create&action=token.revoke", "", 422},
			{"GET", "/api/v1/audit/events?object_type=certificate&object_id=0A:7f", "", 200},
			{"GET", "/api/v1/audit/events?object_type=account&object_id=zz", "", 200},
			{"GET", "/api/v1/reports/violations?profile=%00", "", 422},
			{"POST", "/api/v1/eab-keys", `{"profile":"default","owner":"a\u0000b"}`, 422},
			{"POST", "/api/v1/eab-keys", `{"profile":"default","owner":"a\\\u0000b"}`, 422},
			{"POST", "/api/v1/eab-keys", `{"profile":"default","owner":"a\\u0000b"}`, 201},
			{"POST", "/api/v1/profiles", `{"name":"nul","validity":"30d","description":"\u0000"}`, 422},
			// Not UTF-8: not JSON text (RFC 8259 §8.1); it was stored
			// with U+FFFD in place of the bytes.
			{"POST", "/api/v1/eab-keys", "{\"profile\":\"default\",\"owner\":\"a\xffb\"}", 400},
			{"POST", "/api/v1/profiles", "{\"name\":\"bad\",\"validity\":\"30d\",\"description\":\"caf\xe9\"}", 400},
			{"POST", "/api/v1/approvals/x/reject", "{\"comment\":\"\xc3\"}", 400},
		} {
			ct := ""
			var body []byte
			if c.body != "" {
				ct, body = "application/json", []byte(c.body)
			}
			r := f.rawDo(c.method, c.path, tok, ct, body)
			if r.status != c.status {
				t.Errorf("%s %s %s: %d, want %d: %s", c.method, c.path, c.body, r.status, c.status, r.body)
				continue
			}
			if c.status >= 400 {
				path, _, _ := strings.Cut(c.path, "?")
				if op := findOperation(doc, c.method, path); op == nil {
					t.Errorf("%s %s: no operation", c.method, path)
				} else if err := documentedProblem(op, r); err != nil {
					t.Errorf("%s %s: %v", c.method, c.path, err)
				}
			}
		}
	})
}

// findOperation returns the operation of doc that serves method on the
// concrete path (its parameters filled in), or nil.
func findOperation(doc *openapi3.T, method, path string) *openapi3.Operation {
	segs := strings.Split(path, "/")
	for tmpl, item := range doc.Paths.Map() {
		ts := strings.Split(tmpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		match := true
		for i := range ts {
			if ts[i] != segs[i] && !strings.HasPrefix(ts[i], "{") {
				match = false
				break
			}
		}
		if op := item.GetOperation(method); match && op != nil {
			return op
		}
	}
	return nil
}
