package ra_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
)

// wantInvalidUnissued checks that order o is invalid with an unauthorized
// problem naming name's authorization as deactivated, and has no
// certificate.
func wantInvalidUnissued(t *testing.T, st *store.Store, o *store.Order, name string) {
	t.Helper()
	got, err := st.GetOrder(context.Background(), o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != acme.StatusInvalid || got.CertSerial != "" || got.Error == nil || got.Error.Type != acme.Unauthorized ||
		!strings.Contains(got.Error.Detail, "authorization for "+name+" is deactivated") {
		t.Errorf("order: %s, certificate %q, error %+v; want invalid, none, unauthorized naming %s's deactivated authorization",
			got.Status, got.CertSerial, got.Error, name)
	}
}

// TestApprovedOrderAuthzDeactivatedNotIssued: an order waiting for
// approval whose authorization the client deactivates (RFC 8555 §7.5.2)
// after the approval is not issued when the approval is picked up
// (ResumeApproved, the client's poll or the sweep, also after a
// restart): the order becomes invalid with unauthorized (RFC 8555
// §7.1.6). The former code signed its certificate.
func TestApprovedOrderAuthzDeactivatedNotIssued(t *testing.T) {
	e, a, o, _, _ := parkedForApproval(t, "z.pre.test")
	ctx := context.Background()
	ap, err := e.st.GetApprovalByOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ra.Decide(ctx, e.st, nil, ap.ID, true, "cli:alice", "", e.now); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ra.DeactivateAuthorization(ctx, a, o.AuthzIDs[0]); err != nil {
		t.Fatal(err)
	}
	parked, err := e.st.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.ra.ResumeApproved(ctx, parked)
	if p, ok := acme.AsProblem(err); !ok || p.Type != acme.Unauthorized {
		t.Errorf("ResumeApproved: %v; want unauthorized", err)
	}
	wantInvalidUnissued(t, e.st, o, "z.pre.test")
	// Nothing left for the sweep to issue.
	if err := e.ra.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	wantInvalidUnissued(t, e.st, o, "z.pre.test")
}

// TestPendingApprovalAuthzDeactivated: once an authorization of an order
// waiting for approval is deactivated, an approver's approval is refused
// (store.ErrAuthzNotValid: the admin API answers 409, not an approval
// that claims issuance), and the sweep rejects the approval as the system
// with a comment naming the authorization, the order invalid with
// unauthorized and no certificate.
func TestPendingApprovalAuthzDeactivated(t *testing.T) {
	e, a, o, _, _ := parkedForApproval(t, "y.pre.test")
	ctx := context.Background()
	ap, err := e.st.GetApprovalByOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ra.DeactivateAuthorization(ctx, a, o.AuthzIDs[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := ra.Decide(ctx, e.st, nil, ap.ID, true, "cli:alice", "", e.now); !errors.Is(err, store.ErrAuthzNotValid) {
		t.Fatalf("approve after the deactivation: %v; want store.ErrAuthzNotValid", err)
	}
	swept := sweptApproval(t, e, o, "the order with a deactivated authorization")
	if want := "the order's authorization for y.pre.test is deactivated"; swept.Comment != want {
		t.Errorf("comment of the system's rejection: %q; want %q", swept.Comment, want)
	}
	wantInvalidUnissued(t, e.st, o, "y.pre.test")
}
