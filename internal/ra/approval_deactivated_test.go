package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
)

// TestDeactivatedAccountApprovalCancelled: the pending approval of an
// order whose account is deactivated while it waits is rejected by the
// sweep, as the system and audited, its order invalid with the
// unauthorized problem of a deactivated account (RFC 8555 §7.3.6: cancel
// the account's pending operations), and it is not escalated to an
// approver. The former code left it pending, in the approvers' queue and
// escalated, for a certificate ResumeApproved would refuse anyway.
func TestDeactivatedAccountApprovalCancelled(t *testing.T) {
	var escalations atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { escalations.Add(1) }))
	defer hook.Close()
	code := policy.Profile{Name: "code", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(365), EKUs: []string{"codeSigning"},
		Approval: &policy.Approval{EKUs: []string{"codeSigning"}, EscalateAfter: policy.Duration(2 * time.Hour)}}
	e := newPolicyEnvWith(t, ra.Config{ApprovalWebhook: hook.URL}, code)
	ctx := context.Background()
	a := e.account("code", nil, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	o, azs := e.readyOrder(a, "code", "d.pre.test")
	parked, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "d.pre.test"), nil)
	if err != nil || parked.Status != store.OrderAwaitingApproval {
		t.Fatalf("finalize: %+v, %v; want the order awaiting approval", parked, err)
	}
	if _, err := e.ra.UpdateAccount(ctx, a, acme.AccountUpdateRequest{Status: acme.StatusDeactivated}); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(3 * time.Hour) // past escalateAfter
	if err := e.ra.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	ap, err := e.st.GetApprovalByOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ap.Status != store.ApprovalRejected || ap.DecidedBy != audit.ActorSystem || ap.DecidedAt.IsZero() {
		t.Errorf("approval of the deactivated account's order after the sweep: %s by %q at %s; want rejected by %s", ap.Status, ap.DecidedBy, ap.DecidedAt, audit.ActorSystem)
	}
	got, err := e.st.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != acme.StatusInvalid || got.Error == nil || got.Error.Type != acme.Unauthorized {
		t.Errorf("order after the sweep: %s, error %+v; want invalid, unauthorized", got.Status, got.Error)
	}
	if n := escalations.Load(); n != 0 {
		t.Errorf("%d escalation(s) of the deactivated account's approval", n)
	}
	evs, err := audit.New(e.st, nil).List(ctx, store.AuditFilter{ObjectType: audit.ObjectApproval, ObjectID: ap.ID, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	rejected := false
	for _, ev := range evs {
		rejected = rejected || ev.Action == audit.ActionApprovalReject && ev.Actor == audit.ActorSystem
	}
	if !rejected {
		t.Errorf("audit events of the approval: %+v; want its rejection by %s", evs, audit.ActorSystem)
	}
}
