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
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/store"
)

// TestApprovalFinalizeRaceSpendsOnce: of two finalizes of one order that
// waits for approval, the one that loses (orderNotReady: the other parked
// the order) spends no certificates-per-domain: the spend is made in the
// transaction that requests the approval. It was spent in a transaction of
// its own before, so the loser used up a certificate of the domain's limit
// that no certificate ever took, and the next order of the domain was
// refused.
func TestApprovalFinalizeRaceSpendsOnce(t *testing.T) {
	cfg := ra.Config{RateLimits: ratelimit.Config{CertificatesPerDomain: ratelimit.Rate{Count: 2, Period: 7 * 24 * time.Hour},
		PolicyURL: "https://ca.test/limits"}}
	p := policy.Profile{Name: "gated", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30),
		Approval: &policy.Approval{Always: true}}
	e := newPolicyEnvWith(t, cfg, p)
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	a := e.account("gated", nil, nil)

	// All orders are made first: newOrder checks the limit too.
	o, azs := e.readyOrder(a, "gated", "a.pre.test")
	o2, azs2 := e.readyOrder(a, "gated", "b.pre.test")
	o3, azs3 := e.readyOrder(a, "gated", "c.pre.test")
	parked, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "a.pre.test"), nil)
	if err != nil || parked.Status != store.OrderAwaitingApproval {
		t.Fatalf("first finalize: %v %v", parked, err)
	}
	// The second finalize of the race: it read the order while it was
	// still ready.
	_, err = e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "a.pre.test"), nil)
	wantProblem(t, err, acme.OrderNotReady, "already being finalized")

	// One certificate of pre.test is spent, so another order may wait
	// for approval; the limit (2) is reached after it.
	if parked, err := e.ra.Finalize(ctx, a, o2, azs2, csrFor(t, key, "b.pre.test"), nil); err != nil || parked.Status != store.OrderAwaitingApproval {
		t.Fatalf("second order: %v %v, want it awaiting approval", parked, err)
	}
	_, err = e.ra.Finalize(ctx, a, o3, azs3, csrFor(t, key, "c.pre.test"), nil)
	wantProblem(t, err, acme.RateLimited, "certificates-per-domain")
	cur, err := e.st.GetOrder(ctx, o3.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st := ra.OrderStatus(cur, azs3, time.Now()); st != acme.StatusReady {
		t.Errorf("the refused order is %s, want ready", st)
	}
	if _, err := e.st.GetApprovalByOrder(ctx, o3.ID); err == nil {
		t.Error("the refused order has an approval request")
	}
}
