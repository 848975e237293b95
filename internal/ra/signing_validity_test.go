package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
)

// TestNotBeforeRecheckedAtSigning: the order's notBefore is checked
// again against the signing time (CA/B BR 7.1.2.7: within 48 hours of
// signing) at finalize and when an approved order is issued: a notBefore
// that was fine at newOrder but is now more than 48 h in the past, or one
// still more than 48 h ahead, is refused with malformed and no
// certificate is signed. An order that can never be issued (notBefore too
// far back) becomes invalid; one that only came too early stays ready.
func TestNotBeforeRecheckedAtSigning(t *testing.T) {
	p := policy.Profile{Name: "long", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30), MaxValidity: days(90)}
	ap := policy.Profile{Name: "approved", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30), MaxValidity: days(90),
		Approval: &policy.Approval{Always: true}}
	e := newPolicyEnv(t, p, ap)
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	order := func(a *store.Account, profile, name string, nb time.Time) (*store.Order, []*store.Authorization) {
		t.Helper()
		o, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: profile, Identifiers: dnsIDs(name), NotBefore: nb.Format(time.RFC3339)})
		if err != nil {
			t.Fatalf("newOrder notBefore %s: %v", nb, err)
		}
		azs, err := e.st.GetAuthorizations(ctx, o.AuthzIDs)
		if err != nil {
			t.Fatal(err)
		}
		return o, azs
	}
	a := e.account("long", nil, nil)

	// Backdated 47 h at newOrder (allowed), finalized 2 h later: 49 h.
	o, azs := order(a, "long", "past.pre.test", e.now.Add(-47*time.Hour))
	e.now = e.now.Add(2 * time.Hour)
	_, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "past.pre.test"), nil)
	wantProblem(t, err, acme.Malformed, "more than 48 hours before the signing time")
	wantProblem(t, err, acme.Malformed, "CA/B BR 7.1.2.7")
	// It can never be issued now: invalid (RFC 8555 §7.1.6).
	e.wantInvalidOrder(o.ID, acme.Malformed)

	// 50 h ahead (newOrder allows up to the order lifetime): too early to
	// sign now; 3 h later it is within 48 h and issues with it.
	nb := e.now.Add(50 * time.Hour).Truncate(time.Second)
	o, azs = order(a, "long", "future.pre.test", nb)
	_, err = e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "future.pre.test"), nil)
	wantProblem(t, err, acme.Malformed, "finalize again")
	stored, err := e.st.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st := ra.OrderStatus(stored, azs, e.now); st != acme.StatusReady {
		t.Errorf("after the refusal the order is %s, want ready", st)
	}
	e.now = e.now.Add(3 * time.Hour)
	done, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "future.pre.test"), nil)
	if err != nil {
		t.Fatalf("finalize within 48 h of notBefore: %v", err)
	}
	rec, err := e.st.GetCertificate(ctx, done.CertSerial)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := x509.ParseCertificate(rec.DER); !c.NotBefore.Equal(nb) {
		t.Errorf("notBefore %s, want the order's %s", c.NotBefore, nb)
	}

	// Approved 10 h after a finalize with notBefore 40 h back: issuing
	// now would backdate 50 h; the order becomes invalid instead.
	b := e.account("approved", nil, nil)
	o, azs = order(b, "approved", "slow.pre.test", e.now.Add(-40*time.Hour))
	parked, err := e.ra.Finalize(ctx, b, o, azs, csrFor(t, key, "slow.pre.test"), nil)
	if err != nil || parked.Status != store.OrderAwaitingApproval {
		t.Fatalf("finalize: %v %v", parked, err)
	}
	apr, err := e.st.GetApprovalByOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.DecideApproval(ctx, apr.ID, true, "alice", "ok", nil, e.now); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(10 * time.Hour)
	_, err = e.ra.ResumeApproved(ctx, parked)
	wantProblem(t, err, acme.Malformed, "CA/B BR 7.1.2.7")
	e.wantInvalidOrder(o.ID, acme.Malformed)
}
