package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
)

// TestApprovedIssuanceInterrupted: a node that dies while it issues an
// approved order (after ResumeApproved moved it to processing, before the
// certificate was stored) leaves the order processing; the sweep then
// issues it, once, with a serial of its own, where it used to make the
// order invalid ("issuance was interrupted"): the client had to order
// again and an approver to decide again. A processing order without an
// approval still becomes invalid.
func TestApprovedIssuanceInterrupted(t *testing.T) {
	p := policy.Profile{Name: "gated", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30), Approval: &policy.Approval{Always: true}}
	e := newPolicyEnv(t, p)
	ctx := context.Background()
	a := e.account("gated", nil, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	o, azs := e.readyOrder(a, "gated", "s.pre.test")
	if _, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "s.pre.test"), nil); err != nil {
		t.Fatal(err)
	}
	ap, _ := e.st.GetApprovalByOrder(ctx, o.ID)
	if _, err := e.st.DecideApproval(ctx, ap.ID, true, "carol", "", nil, e.now); err != nil {
		t.Fatal(err)
	}
	// ResumeApproved's first write, then its process dies: the serial it
	// would reserve next is reserved too, as if it died after signing.
	if err := e.st.SetOrderStatus(ctx, o.ID, store.OrderAwaitingApproval, acme.StatusProcessing, nil, e.now); err != nil {
		t.Fatal(err)
	}
	lost, _ := store.NewSerial(e.now)
	if err := e.st.ReserveSerial(ctx, lost.Text(16), e.now); err != nil {
		t.Fatal(err)
	}
	// An order of the default profile interrupted between StartIssuance
	// and FinishOrder.
	plain, plainAzs := e.readyOrder(a, "gated", "t.pre.test")
	_ = plainAzs
	if err := e.st.StartIssuance(ctx, plain.ID, "00aa", e.now); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.GetApprovalByOrder(ctx, plain.ID); err == nil {
		t.Fatal("the plain order has an approval")
	}

	e.now = e.now.Add(2 * time.Minute) // past StuckAfter
	if err := e.ra.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := e.st.GetOrder(ctx, o.ID)
	if got.Status != acme.StatusValid || got.CertSerial == "" || got.CertSerial == lost.Text(16) {
		t.Fatalf("approved order after the sweep: status %s, serial %q, error %+v; want valid with a new serial", got.Status, got.CertSerial, got.Error)
	}
	if c, err := e.st.GetCertificate(ctx, got.CertSerial); err != nil || c.OrderID != o.ID {
		t.Fatalf("its certificate record: %+v, %v", c, err)
	}
	gotPlain, _ := e.st.GetOrder(ctx, plain.ID)
	if gotPlain.Status != acme.StatusInvalid || gotPlain.Error == nil {
		t.Errorf("order without approval after the sweep: %s %+v; want invalid", gotPlain.Status, gotPlain.Error)
	}
	// Another sweep issues nothing more.
	if err := e.ra.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if again, _ := e.st.GetOrder(ctx, o.ID); again.CertSerial != got.CertSerial {
		t.Errorf("the second sweep changed the certificate: %s, was %s", again.CertSerial, got.CertSerial)
	}
}
