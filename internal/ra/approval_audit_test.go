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

// TestApprovedIssuanceAudited: a certificate issued after an approval is
// recorded as certificate.issue like any other (docs/api.md "Audit log"),
// with the ordering account as actor and the names in its after-state,
// whether the client's poll or the sweep issues it, and the chain
// verifies.
func TestApprovedIssuanceAudited(t *testing.T) {
	for _, via := range []string{"poll", "sweep"} {
		t.Run(via, func(t *testing.T) {
			p := policy.Profile{Name: "gated", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30), Approval: &policy.Approval{Always: true}}
			e := newPolicyEnv(t, p) // records into an audit log on e.st
			ctx := context.Background()
			a := e.account("gated", nil, nil)
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			o, azs := e.readyOrder(a, "gated", "s.pre.test")
			parked, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "s.pre.test"), nil)
			if err != nil {
				t.Fatal(err)
			}
			ap, _ := e.st.GetApprovalByOrder(ctx, o.ID)
			if _, err := e.st.DecideApproval(ctx, ap.ID, true, "carol", "", nil, e.now); err != nil {
				t.Fatal(err)
			}
			if via == "poll" {
				_, err = e.ra.ResumeApproved(ctx, parked)
			} else {
				err = e.ra.Sweep(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := e.st.GetOrder(ctx, o.ID)
			evs, err := e.st.ListAudit(ctx, store.AuditFilter{Action: audit.ActionCertificateIssue, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if got.CertSerial == "" || len(evs) != 1 || evs[0].ObjectID != got.CertSerial ||
				evs[0].Actor != audit.ACMEAccountActor(a.ID) || !strings.Contains(evs[0].After, `"s.pre.test"`) {
				t.Fatalf("serial %q, certificate.issue events %+v; want one for it by the account", got.CertSerial, evs)
			}
			if res, err := audit.New(e.st, nil).Verify(ctx); err != nil || !res.OK {
				t.Fatalf("verify: %+v %v", res, err)
			}
		})
	}
}
