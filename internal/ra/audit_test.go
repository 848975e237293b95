package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
)

// TestApprovedIssuanceIsAudited: a certificate issued once its approval
// is granted (order resumed by the sweep) is recorded as certificate.issue
// with the ordering account as actor, like a direct issuance, and the
// chain verifies.
func TestApprovedIssuanceIsAudited(t *testing.T) {
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
	if err := e.st.DecideApproval(ctx, ap.ID, true, "carol", "", nil, e.now); err != nil {
		t.Fatal(err)
	}
	if err := e.ra.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := e.st.GetOrder(ctx, o.ID)
	evs, err := e.st.ListAudit(ctx, store.AuditFilter{Action: audit.ActionCertificateIssue})
	if err != nil {
		t.Fatal(err)
	}
	if got.CertSerial == "" || len(evs) != 1 || evs[0].ObjectID != got.CertSerial || evs[0].Actor != audit.ACMEAccountActor(a.ID) ||
		!strings.Contains(evs[0].After, `"s.pre.test"`) {
		t.Fatalf("order %+v, issuance events %+v", got, evs)
	}
	if res, err := audit.New(e.st, nil).Verify(ctx); err != nil || !res.OK {
		t.Fatalf("verify: %+v %v", res, err)
	}
}
