package adminapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestRevokeReasonByName: the revocation body's reason is an RFC 5280
// code or, as `certgate cert revoke --reason` takes it, a name
// (case-insensitive); codes still work; a name or code certgate does not
// accept is a 422 naming body.reason and the accepted reasons; the OpenAPI
// document admits a name.
func TestRevokeReasonByName(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	tok := f.tokens[auth.RoleAdmin]
	for _, tc := range []struct {
		reason any
		want   string
	}{
		{"keyCompromise", "keyCompromise"},
		{"SUPERSEDED", "superseded"},
		{"cessationOfOperation", "cessationOfOperation"},
		{4, "superseded"},
		{9, "privilegeWithdrawn"},
		{"5", "cessationOfOperation"},
	} {
		c := f.certificate()
		r := f.do("POST", "/api/v1/certificates/"+c.Serial+"/revoke", tok, map[string]any{"reason": tc.reason})
		if r.status != http.StatusOK {
			t.Errorf("reason %#v: %d %s", tc.reason, r.status, r.body)
			continue
		}
		if got := decode[inventory.Certificate](t, r).RevocationReason; got != tc.want {
			t.Errorf("reason %#v: revoked for %q, want %q", tc.reason, got, tc.want)
		}
	}
	for _, bad := range []any{"keyCompromised", "cACompromise", "certificateHold", 2, 7, -1, ""} {
		r := f.do("POST", "/api/v1/certificates/"+f.certificate().Serial+"/revoke", tok, map[string]any{"reason": bad})
		checkInvalidField(t, fmt.Sprintf("reason %#v", bad), r, "body.reason", "use unspecified (0), keyCompromise (1), affiliationChanged (3)")
	}

	doc, _ := f.loadDoc()
	op := doc.Paths.Find("/api/v1/certificates/{ref}/revoke").Post
	s := op.RequestBody.Value.Content.Get("application/json").Schema.Value
	for _, body := range []map[string]any{{"reason": "keyCompromise"}, {"reason": 1}} {
		if err := s.VisitJSON(body); err != nil {
			t.Errorf("OpenAPI document refuses %v: %v", body, err)
		}
	}
}

// TestRevokeReasonNullAndLargeNumber: a "reason" of null is no reason
// given (unspecified, 0), as it was while the field was a number
// (encoding/json leaves a null alone; the new parser refused it with a 422
// at "body" saying "want a code (number) or name (string)"); a whole
// number beyond any code is a 422 naming body.reason and the accepted
// reasons, like any other refused code (it was a 422 at "body" saying
// "1e+300 is not a whole number").
func TestRevokeReasonNullAndLargeNumber(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	tok := f.tokens[auth.RoleAdmin]
	r := f.do("POST", "/api/v1/certificates/"+f.certificate().Serial+"/revoke", tok, map[string]any{"reason": nil})
	if r.status != http.StatusOK {
		t.Fatalf("reason null: %d %s", r.status, r.body)
	}
	if got := decode[inventory.Certificate](t, r).RevocationReason; got != "unspecified" {
		t.Errorf("reason null: revoked for %q, want unspecified", got)
	}
	for _, big := range []any{json.RawMessage(`1e300`), json.RawMessage(`4294967297`), json.RawMessage(`-1e20`)} {
		r := f.do("POST", "/api/v1/certificates/"+f.certificate().Serial+"/revoke", tok, map[string]any{"reason": big})
		checkInvalidField(t, fmt.Sprintf("reason %s", big), r, "body.reason", "use unspecified (0), keyCompromise (1), affiliationChanged (3)")
	}
}
