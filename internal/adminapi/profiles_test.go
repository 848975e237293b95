package adminapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// storedProfile stores a new profile and returns its name.
func (f *fixture) storedProfile() string {
	f.t.Helper()
	f.n++
	name := fmt.Sprintf("p%03d", f.n)
	spec := fmt.Sprintf(`{"name":%q,"validity":"30d","wildcard":true}`, name)
	if err := f.st.PutProfile(context.Background(), &store.Profile{Name: name, Spec: []byte(spec), CreatedAt: f.now, UpdatedAt: f.now}, false); err != nil {
		f.t.Fatal(err)
	}
	return name
}

// eabKey stores a new active EAB key and returns its kid.
func (f *fixture) eabKey() string {
	f.t.Helper()
	f.n++
	kid := fmt.Sprintf("kid%03d", f.n)
	if err := f.st.CreateEABKey(context.Background(), &store.EABKey{KID: kid, HMACKey: []byte("k"), Profile: "default", Status: store.EABActive,
		CreatedAt: f.now}); err != nil {
		f.t.Fatal(err)
	}
	return kid
}

// codeProfile stores the profile "code" the fixture's approvals name,
// unless it is stored: approving an approval of a deleted profile is
// refused (store.ErrProfileDeleted).
func (f *fixture) codeProfile() {
	f.t.Helper()
	ctx := context.Background()
	if _, err := f.st.GetProfile(ctx, "code"); err == nil {
		return
	}
	spec := `{"name":"code","validity":"30d","approval":{"always":true}}`
	if err := f.st.PutProfile(ctx, &store.Profile{Name: "code", Spec: []byte(spec), CreatedAt: f.now, UpdatedAt: f.now}, false); err != nil {
		f.t.Fatal(err)
	}
}

// approval parks a new account's order for approval and returns the
// approval's ID.
func (f *fixture) approval() string {
	f.t.Helper()
	f.codeProfile()
	acct, oid := f.account()
	id := "ap-" + oid
	if err := f.st.RequestApproval(context.Background(), &store.Approval{ID: id, OrderID: oid, AccountID: acct, Profile: "code",
		Identifiers: []acme.Identifier{{Type: "dns", Value: "a.example.com"}}, KeyType: "ecdsa-p256", Reason: "always", CSR: []byte{1},
		Status: store.ApprovalPending, RequestedAt: f.now}, f.now); err != nil {
		f.t.Fatal(err)
	}
	return id
}

// TestProfilesEABApprovalsAPI: what the profile, EAB and approval
// operations do beyond their status codes: validation (422), conflicts,
// the HMAC key shown once and never listed, decisions recorded with the
// token as approver and audited, a rejection's comment on the order.
func TestProfilesEABApprovalsAPI(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	admin := f.tokens[auth.RoleAdmin]
	for _, bad := range []map[string]any{
		{"name": "new-order", "validity": "30d", "wildcard": false},
		{"name": "x", "validity": "30d", "wildcard": false, "ekus": []string{"timeStamping"}},
		{"name": "x", "validity": "30d", "wildcard": false, "maxValidity": "10d"},
		{"name": "x", "validity": "30d", "approval": map[string]any{"escalateAfter": "4h"}}, // no rule: nothing to escalate
	} {
		if r := f.do("POST", "/api/v1/profiles", admin, bad); r.status != 422 {
			t.Errorf("invalid profile %v: %d %s", bad, r.status, r.body)
		}
	}
	body := map[string]any{"name": "billing", "validity": "30d", "wildcard": false,
		"attributes": []map[string]any{{"name": "billing_code", "required": true, "regex": "[A-Z]+-[0-9]+"}}}
	if r := f.do("POST", "/api/v1/profiles", admin, body); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := f.do("POST", "/api/v1/profiles", admin, body); r.status != 409 {
		t.Errorf("duplicate: %d", r.status)
	}
	if r := f.do("GET", "/api/v1/profiles/nope", admin, nil); r.status != 404 {
		t.Errorf("unknown profile: %d", r.status)
	}
	r := f.do("POST", "/api/v1/eab-keys", admin, map[string]any{"profile": "billing", "attributes": map[string]string{"colour": "red"}})
	if r.status != 422 || !strings.Contains(string(r.body), "colour (in the EAB key being created") || strings.Contains(string(r.body), "newOrder") {
		t.Errorf("undeclared attribute: %d %s", r.status, r.body)
	}
	r = f.do("POST", "/api/v1/eab-keys", admin, map[string]any{"profile": "billing", "attributes": map[string]string{"billing_code": ""}})
	if r.status != 422 || !strings.Contains(string(r.body), "empty attribute values: billing_code") {
		t.Errorf("empty attribute value: %d %s", r.status, r.body)
	}
	r = f.do("POST", "/api/v1/eab-keys", admin, map[string]any{"profile": "billing", "attributes": map[string]string{"billing_code": "CC-1"}, "single_use": true})
	var created struct {
		KID, HMAC string
		Status    string
	}
	if r.status != 201 || json.Unmarshal(r.body, &created) != nil || created.Status != "active" {
		t.Fatalf("create EAB key: %d %s", r.status, r.body)
	}
	if key, err := base64.RawURLEncoding.DecodeString(created.HMAC); err != nil || len(key) != 64 {
		t.Errorf("HMAC key %q", created.HMAC)
	}
	if r := f.do("GET", "/api/v1/eab-keys", admin, nil); strings.Contains(string(r.body), created.HMAC) || !strings.Contains(string(r.body), created.KID) {
		t.Errorf("EAB list: %s", r.body)
	}
	if r := f.do("POST", "/api/v1/eab-keys/"+created.KID+"/revoke", admin, nil); r.status != 200 {
		t.Errorf("revoke: %d", r.status)
	}
	if r := f.do("POST", "/api/v1/eab-keys/"+created.KID+"/revoke", admin, nil); r.status != 409 ||
		!strings.Contains(string(r.body), "EAB key "+created.KID+" is already revoked") {
		t.Errorf("revoke twice: %d %s, want a 409 saying the key is already revoked", r.status, r.body)
	}

	ap := f.approval()
	approver := f.tokens[auth.RoleApprover]
	if r := f.do("POST", "/api/v1/approvals/"+ap+"/reject", approver, map[string]any{}); r.status != 422 {
		t.Errorf("reject without comment: %d", r.status)
	}
	if r := f.do("POST", "/api/v1/approvals/"+ap+"/reject", approver, map[string]any{"comment": "wrong team"}); r.status != 200 {
		t.Fatalf("reject: %d %s", r.status, r.body)
	}
	if r := f.do("POST", "/api/v1/approvals/"+ap+"/approve", approver, map[string]any{}); r.status != 409 {
		t.Errorf("decide twice: %d", r.status)
	}
	got, _ := f.st.GetApproval(context.Background(), ap)
	o, _ := f.st.GetOrder(context.Background(), got.OrderID)
	if got.Status != store.ApprovalRejected || got.DecidedBy != f.actor(auth.RoleApprover) || o.Status != acme.StatusInvalid || !strings.Contains(o.Error.Detail, "wrong team") {
		t.Errorf("approval %+v, order %+v", got, o)
	}
	r = f.do("GET", "/api/v1/audit/events?limit=100", admin, nil)
	for _, want := range []string{"profile.create", "eab_key.create", "eab_key.revoke", "approval.reject"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("audit log lacks %s", want)
		}
	}
	if strings.Contains(string(r.body), created.HMAC) {
		t.Error("the audit log holds the HMAC key")
	}
}

// TestBuiltInDefaultPutDelete: while no profile named default is stored,
// GET /profiles/default answers the built-in default, and PUT and DELETE of
// it are 404 problems that say so and what to do instead (as 'certgate
// profile update|delete default'), not "profile default not found".
func TestBuiltInDefaultPutDelete(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	admin := f.tokens[auth.RoleAdmin]
	if r := f.do("GET", "/api/v1/profiles/default", admin, nil); r.status != 200 {
		t.Fatalf("GET default: %d %s", r.status, r.body)
	}
	for _, c := range []struct {
		method, want string
		body         any
	}{
		{"PUT", "POST /api/v1/profiles a profile named default to store one in its place", map[string]any{"name": "default", "validity": "30d"}},
		{"DELETE", "it cannot be deleted", nil},
	} {
		r := f.do(c.method, "/api/v1/profiles/default", admin, c.body)
		if err := isProblem(r, 404); err != nil || !strings.Contains(string(r.body), `no profile \"default\" is stored, so the built-in default applies`) ||
			!strings.Contains(string(r.body), c.want) {
			t.Errorf("%s default: %v %s", c.method, err, r.body)
		}
	}
	if r := f.do("PUT", "/api/v1/profiles/nope", admin, map[string]any{"name": "nope", "validity": "30d"}); r.status != 404 ||
		!strings.Contains(string(r.body), "profile nope not found") {
		t.Errorf("PUT of an unknown profile: %d %s", r.status, r.body)
	}
}
