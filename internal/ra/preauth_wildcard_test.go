package ra_test

import (
	"context"
	"slices"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
)

// TestPreAuthorizedWildcard: a pre-authorization rule for one host
// ("db.corp.test") does not pre-authorize the wildcard below it
// ("*.db.corp.test", every name under that host): its authorization stays
// pending with a dns-01 challenge. It was valid at once, because the rule
// was matched against the authorization's identifier (the wildcard's base
// name), so an EAB-bound account got a wildcard certificate for names
// nobody had pre-authorized, without any validation. A rule that covers
// the wildcard name ("*.svc.corp.test") still pre-authorizes it, also when
// its authorization is reused by a later order.
func TestPreAuthorizedWildcard(t *testing.T) {
	e := newPolicyEnv(t, policy.Profile{Name: "corp", RequireEAB: true, Wildcard: true, Allow: []string{"*.corp.test"},
		PreAuthorized: []string{"db.corp.test", "*.svc.corp.test"}, Validity: days(30)})
	ctx := context.Background()
	a := e.account("corp", nil, nil)
	for _, c := range []struct {
		name string
		pre  bool
	}{
		{"db.corp.test", true},
		{"*.db.corp.test", false},
		{"*.svc.corp.test", true},
		{"*.api.svc.corp.test", true},
		{"api.svc.corp.test", true},
		{"*.corp.test", false},
	} {
		for range 2 { // the second order reuses the first one's authorization
			o, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "corp", Identifiers: dnsIDs(c.name)})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			azs, err := e.st.GetAuthorizations(ctx, o.AuthzIDs)
			if err != nil {
				t.Fatal(err)
			}
			az, err := e.st.GetAuthorization(ctx, azs[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, ch := range az.Challenges {
				types = append(types, ch.Type)
			}
			if pre := az.Status == acme.StatusValid; pre != c.pre {
				t.Errorf("%s: authorization %s (challenges %v), want pre-authorized %v", c.name, az.Status, types, c.pre)
			}
			if !c.pre && (az.Status != acme.StatusPending || !slices.Contains(types, acme.ChallengeDNS01)) {
				t.Errorf("%s: authorization %s with challenges %v, want pending with dns-01", c.name, az.Status, types)
			}
		}
	}
}
