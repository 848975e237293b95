package ra_test

import (
	"context"
	"testing"

	"github.com/certgate/certgate/internal/acme"
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
