package adminapi

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestEvery422NamesField walks the 422s the operations answer for input
// their schema admits — a profile body that fails validation, rule checks
// or the lint, a profile body naming another profile than the path, the
// certificate list's and the reports' filters, a token request the token
// service refuses — and checks that each carries the errors list naming
// the field or query parameter at fault, as huma's own 422s do.
func TestEvery422NamesField(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	admin := f.tokens[auth.RoleAdmin]
	name := f.storedProfile()
	for _, tc := range []struct {
		what, method, path string
		body               any
		location, want     string
	}{
		{"profile name", "POST", "/api/v1/profiles", map[string]any{"name": "Bad_Name", "validity": "30d"}, "body.name", "use 1-63 lower-case"},
		{"reserved profile name", "POST", "/api/v1/profiles", map[string]any{"name": "directory", "validity": "30d"}, "body.name", "reserved"},
		{"profile issuer", "POST", "/api/v1/profiles", map[string]any{"name": "web", "validity": "30d", "issuer": "acme"}, "body.issuer", "does not exist"},
		{"profile key type", "POST", "/api/v1/profiles", map[string]any{"name": "web", "validity": "30d", "keyTypes": []string{"rsa2048", "dsa"}}, "body.keyTypes[1]", `key type "dsa"`},
		{"profile validity missing", "POST", "/api/v1/profiles", map[string]any{"name": "web", "validity": "0d"}, "body.validity", "validity is missing"},
		{"profile maxValidity", "POST", "/api/v1/profiles", map[string]any{"name": "web", "validity": "30d", "maxValidity": "10d"}, "body.maxValidity", "below validity"},
		{"profile EKU", "POST", "/api/v1/profiles", map[string]any{"name": "web", "validity": "30d", "ekus": []string{"anyUsage"}}, "body.ekus[0]", `EKU "anyUsage"`},
		{"profile attribute regex", "POST", "/api/v1/profiles", map[string]any{"name": "web", "validity": "30d",
			"attributes": []map[string]any{{"name": "team"}, {"name": "cost", "regex": "("}}}, "body.attributes[1].regex", "regex"},
		{"profile allow rule (parse)", "POST", "/api/v1/profiles", map[string]any{"name": "web", "validity": "30d", "allow": []string{"a.example.com", "*.*.example.com"}}, "body.allow[1]", "allow: identifier rule"},
		{"profile allow rule (unmatchable)", "POST", "/api/v1/profiles", map[string]any{"name": "web", "validity": "30d", "allow": []string{"ok.example.com", "*..example.com"}}, "body.allow[1]", "can match no name"},
		{"profile approval rule", "POST", "/api/v1/profiles", map[string]any{"name": "web", "validity": "30d", "approval": map[string]any{"identifiers": []string{"a..example.com"}}}, "body.approval.identifiers[0]", "approval identifiers: identifier rule"},
		{"profile DNS resolver", "POST", "/api/v1/profiles", map[string]any{"name": "web", "validity": "30d", "validation": map[string]any{"dnsResolvers": []string{"127.0.0.1:53", "nope"}}}, "body.validation.dnsResolvers[1]", "is not host:port"},
		{"profile renewal window", "PUT", "/api/v1/profiles/" + name, map[string]any{"name": name, "validity": "30d", "renewalWindow": map[string]any{"start": 0.9, "end": 0.5}}, "body.renewalWindow", "renewalWindow"},
		{"profile body names another", "PUT", "/api/v1/profiles/" + name, map[string]any{"name": "other", "validity": "30d"}, "body.name", "the body names profile other"},
		{"certificates attr", "GET", "/api/v1/certificates?attr=noequals", nil, "query.attr", `attribute "noequals" is not key=value`},
		{"certificates suffix", "GET", "/api/v1/certificates?suffix=*.", nil, "query.suffix", "empty name suffix"},
		{"certificates suffix of an address", "GET", "/api/v1/certificates?suffix=0.0.1", nil, "query.suffix", "an IP address, not a domain"},
		{"certificates malformed suffix", "GET", "/api/v1/certificates?suffix=ex*ample.com", nil, "query.suffix", "a wildcard is a whole leading label"},
		{"certificates serial", "GET", "/api/v1/certificates?serial=xyz", nil, "query.serial", "not hexadecimal"},
		{"certificates fingerprint", "GET", "/api/v1/certificates?fingerprint=ab", nil, "query.fingerprint", "not a SHA-256 fingerprint"},
		{"certificates expiring_within", "GET", "/api/v1/certificates?expiring_within=soon", nil, "query.expiring_within", `duration "soon"`},
		{"certificates zero expiring_within", "GET", "/api/v1/certificates?expiring_within=0", nil, "query.expiring_within", `invalid duration "0" (use a positive one`},
		{"certificates negative expiring_within", "GET", "/api/v1/certificates?expiring_within=-0.5w", nil, "query.expiring_within", `invalid duration "-0.5w" (use a positive one`},
		{"certificates status with window", "GET", "/api/v1/certificates?expiring_within=30d&status=revoked", nil, "query.status", "an expiry window selects valid certificates"},
		{"certificates cursor", "GET", "/api/v1/certificates?cursor=e30", nil, "query.cursor", "malformed cursor"},
		{"expiring report window", "GET", "/api/v1/reports/expiring?within=0s", nil, "query.within", "use a positive one"},
		{"expiring report malformed window", "GET", "/api/v1/reports/expiring?within=x", nil, "query.within", `duration "x"`},
		{"expiring report attr", "GET", "/api/v1/reports/expiring?attr==v", nil, "query.attr", "is not key=value"},
		{"issued report window", "GET", "/api/v1/reports/issued?since=0d", nil, "query.since", "use a positive one"},
		{"issued report malformed window", "GET", "/api/v1/reports/issued?since=-1d", nil, "query.since", `duration "-1d"`},
		{"weak-keys report attr", "GET", "/api/v1/reports/weak-keys?attr=a=1&attr=a=2", nil, "query.attr", "given twice"},
		{"violations report attr", "GET", "/api/v1/reports/violations?attr=x", nil, "query.attr", "is not key=value"},
		{"token name", "POST", "/api/v1/tokens", map[string]string{"name": "0123456789abcdef", "role": "auditor"}, "body.name", "looks like a token ID"},
		{"token lifetime", "POST", "/api/v1/tokens", map[string]string{"name": "far", "role": "auditor", "expires": "100000d"}, "body.expires", "ends after 2262"},
	} {
		r := f.do(tc.method, tc.path, admin, tc.body)
		checkInvalidField(t, tc.what, r, tc.location, tc.want)
	}
}

// TestProfileLint422NamesField: a profile that fails the certificate
// lint (Deps.LintProfile) is a 422 naming the field its *policy.FieldError
// names, and the whole body for a lint error that names none.
func TestProfileLint422NamesField(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	lintErr := errors.New("profile web: sample certificate: would fail lint")
	h, _ := build(Deps{Store: f.st, Inventory: f.inv, Tokens: f.toks, Audit: f.log, Now: func() time.Time { return f.now },
		LintProfile: func(p *policy.Profile) error {
			if p.Description == "field" {
				return &policy.FieldError{Field: "maxValidity", Value: "500d", Err: lintErr}
			}
			return lintErr
		}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	f.srv = srv
	admin := f.tokens[auth.RoleAdmin]
	r := f.do("POST", "/api/v1/profiles", admin, map[string]any{"name": "web", "validity": "30d", "maxValidity": "500d", "description": "field"})
	checkInvalidField(t, "lint naming a field", r, "body.maxValidity", "would fail lint")
	r = f.do("POST", "/api/v1/profiles", admin, map[string]any{"name": "web", "validity": "30d"})
	checkInvalidField(t, "lint naming no field", r, "body", "would fail lint")
}

// TestNo422WithoutErrorsList reads the package's sources: a 422 is made
// only by invalidFields (invalidField's, which fill the errors list) or, in
// authenticate, with checkText's location, never by a bare
// huma.Error422UnprocessableEntity or huma.NewError(422, ...), so that a
// new 422 cannot lose the list.
func TestNo422WithoutErrorsList(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Name.Name == "invalidFields" {
				continue
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				callee := sel.Sel.Name
				bad := callee == "Error422UnprocessableEntity"
				if (callee == "NewError" || callee == "NewErrorWithContext") && len(call.Args) > 0 {
					arg := string(src[fset.Position(call.Args[0].Pos()).Offset:fset.Position(call.Args[0].End()).Offset])
					bad = arg == "422" || arg == "http.StatusUnprocessableEntity"
				}
				if bad {
					t.Errorf("%s: %s makes a 422 without the errors list; use invalidField", fset.Position(call.Pos()), fn.Name.Name)
				}
				return true
			})
		}
	}
}
