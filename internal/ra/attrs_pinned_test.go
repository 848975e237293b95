package ra_test

import (
	"context"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
)

// TestAdminAttributesNotOverridable: attributes the administrator set, on
// the account (certgate account set-attributes) or on its EAB key
// (certgate eab create --attr), cannot be overridden by the client's
// newOrder "certgate" object: another value is refused with malformed
// naming the attribute, the value and that the administrator set it; the
// same value is accepted, and attributes the administrator did not set
// stay the client's. The account's value wins over the key's. The former
// code let the order's value override both.
func TestAdminAttributesNotOverridable(t *testing.T) {
	e := newPolicyEnv(t, policy.Profile{Name: "web", Validity: days(30), Attributes: []policy.Attribute{
		{Name: "team"}, {Name: "billing_code"}, {Name: "environment"}}})
	ctx := context.Background()
	a := e.account("web", map[string]string{"billing_code": "PA-0042", "team": "from-key"}, nil)
	attrs := map[string]string{"team": "web-team"}
	if err := e.st.SetAccountAttributes(ctx, a.ID, attrs); err != nil {
		t.Fatal(err)
	}
	a.Attributes = attrs
	order := func(attrs map[string]string) (*acme.Problem, map[string]string) {
		t.Helper()
		o, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "web", Identifiers: dnsIDs("www.example.test"),
			Certgate: &acme.OrderExtension{Attributes: attrs}})
		if err != nil {
			p, ok := acme.AsProblem(err)
			if !ok {
				t.Fatal(err)
			}
			return p, nil
		}
		return nil, o.Attributes
	}
	p, _ := order(map[string]string{"team": "someone-else"})
	if p == nil || p.Type != acme.Malformed || p.Detail != `the order's "certgate" object cannot override attributes set by the administrator: `+
		`team (set to "web-team" by the administrator, in the account's attributes); leave them out of the newOrder payload or send the same values` {
		t.Errorf("order overriding the account's team: %v; want malformed naming team", p)
	}
	p, _ = order(map[string]string{"billing_code": "XX-9999", "team": "from-key"})
	if p == nil || p.Type != acme.Malformed ||
		p.Detail != `the order's "certgate" object cannot override attributes set by the administrator: `+
			`billing_code (set to "PA-0042" by the administrator, in the EAB key `+a.EABKid+` bound to the account); `+
			`team (set to "web-team" by the administrator, in the account's attributes); leave them out of the newOrder payload or send the same values` {
		t.Errorf("order overriding the key's billing_code and the account's team: %v; want malformed naming both", p)
	}
	p, got := order(map[string]string{"team": "web-team", "billing_code": "PA-0042", "environment": "prod"})
	if p != nil || got["team"] != "web-team" || got["billing_code"] != "PA-0042" || got["environment"] != "prod" {
		t.Errorf("order repeating the administrator's values: %v, %v; want accepted with team=web-team, billing_code=PA-0042, environment=prod", p, got)
	}
	p, got = order(nil)
	if p != nil || got["team"] != "web-team" || got["billing_code"] != "PA-0042" {
		t.Errorf("order without attributes: %v, %v; want the administrator's values", p, got)
	}
}
