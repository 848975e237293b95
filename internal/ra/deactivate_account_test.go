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
	"github.com/certgate/certgate/internal/store"
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

// TestExpiredAuthorizationNotDeactivated: a client's deactivation of an
// authorization (RFC 8555 §7.5.2) that has expired, pending or valid as
// stored, is refused (malformed) and the authorization stays expired, a
// final state (RFC 8555 §7.1.6); before, it became deactivated. An
// unexpired one is deactivated.
func TestExpiredAuthorizationNotDeactivated(t *testing.T) {
	e := newPolicyEnvWith(t, ra.Config{}, policy.Profile{Name: "pre", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30)})
	ctx := context.Background()
	a := e.account("", nil, nil)
	pending, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Identifiers: dnsIDs("p.test")})
	if err != nil {
		t.Fatal(err)
	}
	b := e.account("pre", nil, nil)
	_, valid := e.readyOrder(b, "pre", "v.pre.test")
	fresh, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Identifiers: dnsIDs("f.test")})
	if err != nil {
		t.Fatal(err)
	}
	if az, err := e.ra.DeactivateAuthorization(ctx, a, fresh.AuthzIDs[0]); err != nil || az.Status != acme.StatusDeactivated {
		t.Fatalf("deactivation of an unexpired pending authorization: %+v, %v", az, err)
	}
	for _, c := range []struct {
		acct *store.Account
		id   string
	}{{a, pending.AuthzIDs[0]}, {b, valid[0].ID}} {
		az, err := e.st.GetAuthorization(ctx, c.id)
		if err != nil {
			t.Fatal(err)
		}
		e.now = az.Expires.Add(time.Second)
		_, err = e.ra.DeactivateAuthorization(ctx, c.acct, c.id)
		wantProblem(t, err, acme.Malformed, "not expired")
		az, err = e.st.GetAuthorization(ctx, c.id)
		if err != nil {
			t.Fatal(err)
		}
		if st := ra.AuthorizationStatus(az, e.now); st != acme.StatusExpired {
			t.Errorf("expired %s authorization after a refused deactivation: %s, want expired", az.Status, st)
		}
	}
}
