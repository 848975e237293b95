package adminapi

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestApproveDeactivatedAuthz: approving a request whose order's
// authorization was deactivated since finalize answers 409 saying so
// and that no certificate is issued (RFC 8555 §7.1.6), and leaves the
// approval pending for the server's rejection; the former code answered
// 200 with the approval approved, and the certificate was issued.
func TestApproveDeactivatedAuthz(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	ctx := context.Background()
	f.codeProfile()
	acct, _ := f.account()
	az := &store.Authorization{ID: "az-deact", AccountID: acct, Identifier: acme.Identifier{Type: "dns", Value: "b.example.com"},
		Status: acme.StatusValid, Expires: f.now.Add(24 * time.Hour), ValidatedAt: f.now, CreatedAt: f.now}
	o := &store.Order{ID: "order-deact", AccountID: acct, Status: acme.StatusPending, Expires: f.now.Add(time.Hour),
		Identifiers: []acme.Identifier{az.Identifier}, AuthzIDs: []string{az.ID}, CreatedAt: f.now, UpdatedAt: f.now}
	if err := f.st.CreateOrder(ctx, o, []*store.Authorization{az}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.RequestApproval(ctx, &store.Approval{ID: "ap-deact", OrderID: o.ID, AccountID: acct, Profile: "code",
		Identifiers: o.Identifiers, KeyType: "ecdsa-p256", Reason: "always", CSR: []byte{1},
		Status: store.ApprovalPending, RequestedAt: f.now}, f.now); err != nil {
		t.Fatal(err)
	}
	if err := f.st.DeactivateAuthorization(ctx, az.ID, f.now); err != nil {
		t.Fatal(err)
	}
	r := f.do("POST", "/api/v1/approvals/ap-deact/approve", f.tokens[auth.RoleApprover], map[string]any{})
	if r.status != 409 || !strings.Contains(string(r.body), "authorization") || !strings.Contains(string(r.body), "no certificate is issued") {
		t.Errorf("approve: %d %s; want 409 naming the authorization and that no certificate is issued", r.status, r.body)
	}
	if ap, err := f.st.GetApproval(ctx, "ap-deact"); err != nil || ap.Status != store.ApprovalPending {
		t.Errorf("approval after the refused approve: %+v, %v; want pending", ap, err)
	}
}
