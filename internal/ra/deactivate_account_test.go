package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
)

// TestAccountDeactivationCancelsPendingOrders: deactivating an account
// (RFC 8555 §7.3.6) cancels its pending operations: its pending
// authorizations become deactivated and its pending orders invalid, so
// that nothing is validated or left pending for an account that can no
// longer act.
func TestAccountDeactivationCancelsPendingOrders(t *testing.T) {
	e := newPolicyEnvWith(t, ra.Config{})
	ctx := context.Background()
	a := e.account("", nil, nil)
	o, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Identifiers: dnsIDs("p.test", "q.test")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.ra.UpdateAccount(ctx, a, acme.AccountUpdateRequest{Status: acme.StatusDeactivated})
	if err != nil || got.Status != acme.StatusDeactivated {
		t.Fatalf("deactivation: %+v %v", got, err)
	}
	azs, err := e.st.GetAuthorizations(ctx, o.AuthzIDs)
	if err != nil {
		t.Fatal(err)
	}
	for _, az := range azs {
		if az.Status != acme.StatusDeactivated {
			t.Errorf("authorization %s of the deactivated account is %s, want deactivated", az.Identifier.Value, az.Status)
		}
	}
	stored, err := e.st.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st := ra.OrderStatus(stored, azs, e.now); st != acme.StatusInvalid {
		t.Errorf("pending order of the deactivated account is %s, want invalid", st)
	}
}

// TestStaleAccountDeactivated: a request authenticated with a cached
// account (the front end trusts its cache for a few seconds) whose account
// another node or the CLI deactivated meanwhile can neither create an
// order nor have one finalized: unauthorized (RFC 8555 §7.3.6), and the
// ready order is invalid (the deactivation cancelled it), nothing issued.
func TestStaleAccountDeactivated(t *testing.T) {
	e := newPolicyEnvWith(t, ra.Config{}, policy.Profile{Name: "pre", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30)})
	ctx := context.Background()
	a := e.account("pre", nil, nil)
	o, azs := e.readyOrder(a, "pre", "s.pre.test")
	// Deactivated behind the RA's back: a still says valid.
	if err := e.st.DeactivateAccount(ctx, a.ID, nil); err != nil {
		t.Fatal(err)
	}
	wantUnauthorized := func(what string, err error) {
		t.Helper()
		p, ok := acme.AsProblem(err)
		if !ok || p.Type != acme.Unauthorized {
			t.Errorf("%s for a deactivated account: %v, want an unauthorized problem", what, err)
		}
	}
	_, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "pre", Identifiers: dnsIDs("t.pre.test")})
	wantUnauthorized("newOrder", err)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, err = e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "s.pre.test"), nil)
	wantUnauthorized("finalize", err)
	stored, err := e.st.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st := ra.OrderStatus(stored, azs, e.now); st != acme.StatusInvalid || stored.CertSerial != "" {
		t.Errorf("order after the refused finalize: %s, certificate %q; want invalid (cancelled by the deactivation), none", st, stored.CertSerial)
	}
}
