package adminapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// fieldProblem is a 422 problem document with its errors list (huma's
// ErrorModel: RFC 9457 §3.2 extension member).
type fieldProblem struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
		Value    any    `json:"value"`
	} `json:"errors"`
}

// checkInvalidField checks that r is a 422 problem whose errors list names the
// field at location with a message containing want, as huma's own
// validation 422s do (e.g. a comment over its maxLength).
func checkInvalidField(t *testing.T, what string, r response, location, want string) {
	t.Helper()
	if err := isProblem(r, 422); err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	var p fieldProblem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Errorf("%s: %v: %s", what, err, r.body)
		return
	}
	for _, e := range p.Errors {
		if e.Location == location && strings.Contains(e.Message, want) {
			return
		}
	}
	t.Errorf("%s: 422 without an errors entry at %s saying %q: %s", what, location, want, r.body)
}

// TestRejectWithoutCommentNamesField: a rejection without a comment is a
// 422 whose errors list names body.comment, like the 422 of a comment
// that is too long (huma's schema check), with or without a body, and so
// is one of white space only.
func TestRejectWithoutCommentNamesField(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	tok := f.tokens[auth.RoleAdmin]
	long := f.do("POST", "/api/v1/approvals/"+f.approval()+"/reject", tok, map[string]any{"comment": strings.Repeat("x", 1001)})
	checkInvalidField(t, "comment too long (huma's check, the model)", long, "body.comment", "")
	checkInvalidField(t, "empty comment", f.do("POST", "/api/v1/approvals/"+f.approval()+"/reject", tok, map[string]any{}),
		"body.comment", "a rejection needs a comment")
	checkInvalidField(t, "no body", f.rawDo("POST", "/api/v1/approvals/"+f.approval()+"/reject", tok, "", nil),
		"body.comment", "a rejection needs a comment")
	// White space only says nothing either, as 'certgate approval reject
	// --comment " "' is refused; it was recorded and shown to the client.
	checkInvalidField(t, "blank comment", f.do("POST", "/api/v1/approvals/"+f.approval()+"/reject", tok, map[string]any{"comment": " \t\n "}),
		"body.comment", "a rejection needs a comment")
}

// TestEABUnknownProfileIs422: creating an EAB key for a profile that does
// not exist is a 422 naming body.profile (the request's content is wrong;
// the URL names a resource that exists), not a 404.
func TestEABUnknownProfileIs422(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	r := f.do("POST", "/api/v1/eab-keys", f.tokens[auth.RoleAdmin], map[string]any{"profile": "nosuch"})
	checkInvalidField(t, "unknown profile", r, "body.profile", `no profile "nosuch"`)
	if r := f.do("POST", "/api/v1/eab-keys", f.tokens[auth.RoleAdmin], map[string]any{"profile": f.storedProfile()}); r.status != 201 {
		t.Errorf("known profile: %d %s", r.status, r.body)
	}
}

// TestUnmatchableRulesRefused: an EAB key's allow rule or a profile's
// identifier rule that no name can match (an empty label, a character
// not allowed in DNS names) is refused with a 422 naming the rule, at
// creation and on replacement; a profile stored with such a rule before
// still loads.
func TestUnmatchableRulesRefused(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	admin := f.tokens[auth.RoleAdmin]
	r := f.do("POST", "/api/v1/eab-keys", admin, map[string]any{"profile": "default", "allow": []string{"ok.example.com", "a..example.com"}})
	checkInvalidField(t, "EAB allow", r, "body.allow[1]", `identifier rule "a..example.com" can match no name: empty label`)
	r = f.do("POST", "/api/v1/eab-keys", admin, map[string]any{"profile": "default", "allow": []string{"*.ex_ample.com"}})
	checkInvalidField(t, "EAB allow", r, "body.allow[0]", `"*.ex_ample.com" can match no name`)

	r = f.do("POST", "/api/v1/profiles", admin, map[string]any{"name": "web", "validity": "30d", "allow": []string{"*..example.com"}})
	if err := isProblem(r, 422); err != nil || !strings.Contains(string(r.body), `allow: identifier rule \"*..example.com\" can match no name`) {
		t.Errorf("profile create with an unmatchable allow rule: %v: %s", err, r.body)
	}
	name := f.storedProfile()
	r = f.do("PUT", "/api/v1/profiles/"+name, admin, map[string]any{"name": name, "validity": "30d", "deny": []string{"bad name.example.com"}})
	if err := isProblem(r, 422); err != nil || !strings.Contains(string(r.body), `deny: identifier rule \"bad name.example.com\" can match no name`) {
		t.Errorf("profile replace with an unmatchable deny rule: %v: %s", err, r.body)
	}
	if r := f.do("PUT", "/api/v1/profiles/"+name, admin, map[string]any{"name": name, "validity": "30d", "deny": []string{"*.bad.example.com"}}); r.status != 200 {
		t.Errorf("profile replace with a good rule: %d %s", r.status, r.body)
	}

	// Stored before the check existed: it loads, and an EAB key can
	// still be made for it.
	old := `{"name":"legacy","validity":"30d","allow":["a..example.com"]}`
	if err := f.st.PutProfile(t.Context(), &store.Profile{Name: "legacy", Spec: []byte(old), CreatedAt: f.now, UpdatedAt: f.now}, false); err != nil {
		t.Fatal(err)
	}
	if r := f.do("GET", "/api/v1/profiles/legacy", admin, nil); r.status != 200 {
		t.Errorf("GET of a stored profile with an old unmatchable rule: %d %s", r.status, r.body)
	}
	if r := f.do("POST", "/api/v1/eab-keys", admin, map[string]any{"profile": "legacy"}); r.status != 201 {
		t.Errorf("EAB key for a stored profile with an old unmatchable rule: %d %s", r.status, r.body)
	}
}

// TestRuleOfOtherTypeRefused: a profile's rule, or an EAB key's allow
// rule, of an identifier type the profile does not allow matches nothing
// the profile accepts and is refused with a 422 naming it (both were
// stored before, and every newOrder they concerned refused).
func TestRuleOfOtherTypeRefused(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	admin := f.tokens[auth.RoleAdmin]
	r := f.do("POST", "/api/v1/profiles", admin, map[string]any{"name": "devices", "validity": "30d", "identifierTypes": []string{"ip"},
		"allow": []string{"10.0.0.0/8", "*.example.com"}})
	checkInvalidField(t, "profile allow", r, "body.allow[1]", `identifier rule "*.example.com" can match no name: it matches dns identifiers, and the profile's identifierTypes allow only ip`)
	r = f.do("POST", "/api/v1/profiles", admin, map[string]any{"name": "devices", "validity": "30d", "identifierTypes": []string{"ip"}, "allow": []string{"10.0.0.0/8"}})
	if r.status != 201 {
		t.Fatalf("profile create: %d %s", r.status, r.body)
	}
	r = f.do("POST", "/api/v1/eab-keys", admin, map[string]any{"profile": "devices", "allow": []string{"device1.example.com"}})
	checkInvalidField(t, "EAB allow", r, "body.allow[0]", `identifier rule "device1.example.com" can match no name: it matches dns identifiers`)
	if r := f.do("POST", "/api/v1/eab-keys", admin, map[string]any{"profile": "devices", "allow": []string{"10.1.0.0/16"}}); r.status != 201 {
		t.Errorf("EAB key with an ip rule: %d %s", r.status, r.body)
	}
	// Outside the profile's allow list: the key could order nothing.
	r = f.do("POST", "/api/v1/eab-keys", admin, map[string]any{"profile": "devices", "allow": []string{"10.1.0.0/16", "192.168.0.0/16"}})
	checkInvalidField(t, "EAB allow", r, "body.allow[1]", `identifier rule "192.168.0.0/16" can match no name: no name it matches is in profile devices's allowed names (10.0.0.0/8)`)
}

// TestInvalidTextNamesField: the 422s of a malformed cursor, of a query
// parameter that is not UTF-8 and of a \u0000 in a body carry the errors
// list too, naming the parameter (or the body).
func TestInvalidTextNamesField(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	admin := f.tokens[auth.RoleAdmin]
	acct, _ := f.account()
	checkInvalidField(t, "malformed cursor", f.rawDo("GET", "/api/v1/accounts/"+acct+"/orders?cursor=!!!", admin, "", nil), "query.cursor", "malformed cursor")
	checkInvalidField(t, "query NUL", f.rawDo("GET", "/api/v1/certificates?profile=a%00", admin, "", nil), "query.profile", "NUL")
	checkInvalidField(t, "body NUL", f.rawDo("POST", "/api/v1/approvals/"+f.approval()+"/reject", admin, "application/json",
		[]byte(`{"comment":"a\u0000"}`)), "body", "NUL")
}

// TestAuditListUnknownActionIs422: listing audit events by an action that
// certgate does not record (a typo) is a 422 naming query.action and the
// actions, not an empty list; a known action still lists.
func TestAuditListUnknownActionIs422(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	tok := f.tokens[auth.RoleAdmin]
	r := f.do("GET", "/api/v1/audit/events?action=certificate.revoked", tok, nil)
	checkInvalidField(t, "unknown action", r, "query.action", `unknown audit action "certificate.revoked" (the actions: account.create, `)
	if r := f.do("GET", "/api/v1/audit/events?action=certificate.revoke", tok, nil); r.status != 200 {
		t.Errorf("known action: %d %s", r.status, r.body)
	}
}

// TestCertificateRefNamesPathField: a certificate {ref} in the path that
// is neither a serial nor a fingerprint (not hexadecimal) is a 422 whose
// errors list names path.ref, the parameter the client sent, with the ref
// as value, for show, download and revoke. Before, it named query.serial,
// a query parameter these requests do not have.
func TestCertificateRefNamesPathField(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	tok := f.tokens[auth.RoleAdmin]
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/certificates/xyz"},
		{"GET", "/api/v1/certificates/xyz/pem"},
		{"POST", "/api/v1/certificates/xyz/revoke"},
	} {
		r := f.do(c.method, c.path, tok, nil)
		checkInvalidField(t, c.method+" "+c.path, r, "path.ref", `serial "xyz" is not hexadecimal`)
		var p fieldProblem
		if err := json.Unmarshal(r.body, &p); err != nil || len(p.Errors) != 1 || p.Errors[0].Value != "xyz" {
			t.Errorf("%s %s: errors %+v (%v), want one entry with value xyz", c.method, c.path, p.Errors, err)
		}
	}
}

// TestAuditListUnknownObjectTypeIs422: listing audit events by an object
// type certgate does not record (a typo) is a 422 naming
// query.object_type and the object types, not an empty list; a known type
// still lists.
func TestAuditListUnknownObjectTypeIs422(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	tok := f.tokens[auth.RoleAdmin]
	r := f.do("GET", "/api/v1/audit/events?object_type=cert", tok, nil)
	checkInvalidField(t, "unknown object type", r, "query.object_type", `unknown audit object type "cert" (the object types: account, approval, certificate, `)
	if r := f.do("GET", "/api/v1/audit/events?object_type=certificate", tok, nil); r.status != 200 {
		t.Errorf("known object type: %d %s", r.status, r.body)
	}
}
