package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// boundApproval parks for approval the order of a new account bound with
// a new EAB key (owner "team-a"), the order with custom attributes and a
// requested validity, then escalates and approves it: every field of the
// approval's detail is set. It returns the approval's ID.
func (f *fixture) boundApproval() string {
	f.t.Helper()
	ctx := context.Background()
	f.codeProfile()
	f.n++
	id := fmt.Sprintf("b%03d", f.n)
	kid := "kid-" + id
	if err := f.st.CreateEABKey(ctx, &store.EABKey{KID: kid, HMACKey: []byte("k"), Profile: "code", Owner: "team-a", Status: store.EABActive,
		CreatedAt: f.now}); err != nil {
		f.t.Fatal(err)
	}
	if err := f.st.CreateAccount(ctx, &store.Account{ID: "acct-" + id, KeyThumbprint: "tp-" + id, JWK: []byte(`{}`), Status: acme.StatusValid,
		CreatedAt: f.now, EABKid: kid}); err != nil {
		f.t.Fatal(err)
	}
	o := &store.Order{ID: "order-" + id, AccountID: "acct-" + id, Status: acme.StatusPending, Expires: f.now.Add(time.Hour), Profile: "code",
		Identifiers: []acme.Identifier{{Type: "dns", Value: id + ".example.com"}}, AuthzIDs: []string{},
		Attributes: map[string]string{"billing_code": "CC-7"}, NotBefore: f.now.Add(time.Hour), NotAfter: f.now.Add(31 * 24 * time.Hour),
		CreatedAt: f.now, UpdatedAt: f.now}
	if err := f.st.CreateOrder(ctx, o, nil); err != nil {
		f.t.Fatal(err)
	}
	ap := "ap-" + id
	if err := f.st.RequestApproval(ctx, &store.Approval{ID: ap, OrderID: o.ID, AccountID: o.AccountID, Profile: "code", Identifiers: o.Identifiers,
		KeyType: "ecdsa-p384", Reason: "always", CSR: []byte{1}, Status: store.ApprovalPending, RequestedAt: f.now}, f.now); err != nil {
		f.t.Fatal(err)
	}
	if err := f.st.MarkApprovalEscalated(ctx, ap, f.now.Add(time.Minute)); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.st.DecideApproval(ctx, ap, true, "token:alice#t1", "fine", nil, f.now.Add(2*time.Minute)); err != nil {
		f.t.Fatal(err)
	}
	return ap
}

// TestApprovalShowAPI: GET /api/v1/approvals/{id} shows what an approver
// decides on: the order's identifiers, custom attributes and requested
// validity, the CSR's key type, the account's status and the EAB key and
// owner it was bound with, and the history (requested by the account,
// escalated by the system, decided by the approver); the list's items
// carry the attributes and the EAB key and owner. It showed the approval
// record only. An unknown ID is a 404 problem; an auditor (approvals:read
// as the list) may read it.
func TestApprovalShowAPI(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	id := f.boundApproval()
	plain := f.approval()
	r := f.do("GET", "/api/v1/approvals/"+id, f.tokens[auth.RoleAuditor], nil)
	if r.status != 200 {
		t.Fatalf("GET: %d %s", r.status, r.body)
	}
	var d ApprovalDetail
	if err := json.Unmarshal(r.body, &d); err != nil {
		t.Fatal(err)
	}
	want := []ApprovalEvent{
		{At: f.now, Event: "requested", Actor: "acme-account:acct-" + id[len("ap-"):]},
		{At: f.now.Add(time.Minute), Event: "escalated", Actor: "system"},
		{At: f.now.Add(2 * time.Minute), Event: "approved", Actor: "token:alice#t1", Comment: "fine"},
	}
	if d.ID != id || d.KeyType != "ecdsa-p384" || d.Identifiers[0].Value != id[len("ap-"):]+".example.com" ||
		!maps.Equal(d.Attributes, map[string]string{"billing_code": "CC-7"}) || d.EABKid != "kid-"+id[len("ap-"):] || d.EABOwner != "team-a" ||
		d.AccountStatus != acme.StatusValid || d.NotBefore == nil || !d.NotBefore.Equal(f.now.Add(time.Hour)) || d.NotAfter == nil ||
		!d.NotAfter.Equal(f.now.Add(31*24*time.Hour)) || d.OrderExpires == nil || !d.OrderExpires.Equal(f.now.Add(time.Hour)) || len(d.History) != len(want) {
		t.Fatalf("detail: %s", r.body)
	}
	for i, h := range d.History {
		if !h.At.Equal(want[i].At) || h.Event != want[i].Event || h.Actor != want[i].Actor || h.Comment != want[i].Comment {
			t.Errorf("history[%d] = %+v, want %+v", i, h, want[i])
		}
	}
	// A pending approval of an account without EAB: no EAB fields, no
	// requested validity, its request alone in the history.
	r = f.do("GET", "/api/v1/approvals/"+plain, f.tokens[auth.RoleAuditor], nil)
	var raw map[string]any
	if err := json.Unmarshal(r.body, &raw); r.status != 200 || err != nil {
		t.Fatalf("GET plain: %d %s", r.status, r.body)
	}
	for _, k := range []string{"eab_kid", "eab_owner", "attributes", "not_before", "not_after"} {
		if _, ok := raw[k]; ok {
			t.Errorf("plain approval has %s: %s", k, r.body)
		}
	}
	if h, _ := raw["history"].([]any); len(h) != 1 {
		t.Errorf("plain approval's history: %s, want its request only", r.body)
	}
	// Rejected, its order is invalid and deleted once expired
	// (DeleteStale): the approval is still shown, without the order's
	// fields (it was a 500).
	if _, err := f.st.DecideApproval(context.Background(), plain, false, "token:alice#t1", "no", nil, f.now); err != nil {
		t.Fatal(err)
	}
	if n, _, err := f.st.DeleteStale(context.Background(), f.now.Add(2*time.Hour)); err != nil || n == 0 {
		t.Fatalf("DeleteStale: %d orders, %v", n, err)
	}
	r = f.do("GET", "/api/v1/approvals/"+plain, f.tokens[auth.RoleAuditor], nil)
	raw = nil
	if err := json.Unmarshal(r.body, &raw); r.status != 200 || err != nil || raw["order_expires"] != nil || raw["status"] != "rejected" {
		t.Errorf("GET the approval of a deleted order: %d %s", r.status, r.body)
	}
	r = f.do("GET", "/api/v1/approvals/nope", f.tokens[auth.RoleAuditor], nil)
	if err := isProblem(r, 404); err != nil {
		t.Errorf("unknown ID: %v", err)
	}
	r = f.do("GET", "/api/v1/approvals?status=all", f.tokens[auth.RoleAuditor], nil)
	var list struct{ Items []ApprovalItem }
	if err := json.Unmarshal(r.body, &list); r.status != 200 || err != nil || len(list.Items) != 2 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	for _, it := range list.Items {
		if it.ID == id && (it.EABOwner != "team-a" || it.Attributes["billing_code"] != "CC-7") {
			t.Errorf("list item %+v, want the attributes and the EAB owner", it)
		}
	}
}
