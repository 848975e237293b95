package ra_test

import (
	"context"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
)

// TestAccountAttributesOnlyWhereDeclared: an account's attributes
// (certgate account set-attributes), here owner, declared by profile web,
// apply to the account's orders under web and are left out of its orders
// under profiles that do not declare them, the built-in default (which
// cannot declare any) included. The former code merged them into every
// order, so that every order outside web failed with malformed
// ("attributes not defined by the profile: owner"). Attributes the order
// itself sends that its profile does not declare are still refused.
func TestAccountAttributesOnlyWhereDeclared(t *testing.T) {
	e := newPolicyEnv(t,
		policy.Profile{Name: "web", Validity: days(30), Attributes: []policy.Attribute{{Name: "owner", Required: true}}},
		policy.Profile{Name: "billing", Validity: days(30), Attributes: []policy.Attribute{{Name: "billing_code"}}},
	)
	ctx := context.Background()
	a := e.account("", nil, nil)
	attrs := map[string]string{"owner": "web-team"}
	if err := e.st.SetAccountAttributes(ctx, a.ID, attrs); err != nil {
		t.Fatal(err)
	}
	a.Attributes = attrs
	for _, prof := range []string{"", policy.DefaultName, "billing"} {
		o, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: prof, Identifiers: dnsIDs("a.example.test")})
		if err != nil {
			t.Errorf("order under profile %q: %v; want the account's owner attribute left out", prof, err)
			continue
		}
		if len(o.Attributes) != 0 {
			t.Errorf("order under profile %q: attributes %v; want none", prof, o.Attributes)
		}
	}
	o, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "web", Identifiers: dnsIDs("w.example.test")})
	if err != nil {
		t.Fatal(err)
	}
	if o.Attributes["owner"] != "web-team" {
		t.Errorf("order under web: attributes %v; want owner=web-team from the account", o.Attributes)
	}
	_, err = e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Identifiers: dnsIDs("b.example.test"),
		Certgate: &acme.OrderExtension{Attributes: map[string]string{"owner": "web-team"}}})
	wantProblem(t, err, acme.Malformed, `attributes not defined by the profile: owner; owner from the order's "certgate" object`)
}
