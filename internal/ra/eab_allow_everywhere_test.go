package ra_test

import (
	"context"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
)

// TestEABAllowlistInEveryProfile: the allowlist of the EAB key an account
// is bound to (certgate eab create --allow) bounds the account's orders
// under every profile, not only the key's own: the account bound to a
// key of profile mtls allowing *.payments.svc.corp.test cannot order
// other names under the built-in default profile (which requires no EAB)
// or another profile; the problem is rejectedIdentifier naming the key and
// its allowlist. The former code applied the allowlist only under the
// key's profile. Names within it are still accepted everywhere, and the
// binding itself (pre-authorization) still counts only under the key's
// profile, and after an account key rollover.
func TestEABAllowlistInEveryProfile(t *testing.T) {
	e := newPolicyEnv(t,
		policy.Profile{Name: "mtls", RequireEAB: true, Validity: days(7), PreAuthorized: []string{"*.svc.corp.test"}},
		policy.Profile{Name: "web", Validity: days(30)},
	)
	ctx := context.Background()
	a := e.account("mtls", nil, []string{"*.payments.svc.corp.test"})
	for _, prof := range []string{"", "web", "mtls"} {
		_, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: prof, Identifiers: dnsIDs("www.example.test")})
		p := wantProblem(t, err, acme.RejectedIdentifier, "the allowlist of EAB key "+a.EABKid+" (profile mtls) is *.payments.svc.corp.test")
		if len(p.Subproblems) != 1 || p.Subproblems[0].Identifier == nil || p.Subproblems[0].Identifier.Value != "www.example.test" {
			t.Errorf("profile %q: subproblems %+v; want one for www.example.test", prof, p.Subproblems)
		}
	}
	o, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "web", Identifiers: dnsIDs("api.payments.svc.corp.test")})
	if err != nil {
		t.Fatalf("a name within the allowlist under another profile: %v", err)
	}
	azs, err := e.st.GetAuthorizations(ctx, o.AuthzIDs)
	if err != nil {
		t.Fatal(err)
	}
	if azs[0].Status != acme.StatusPending {
		t.Errorf("authorization under web: %s; want pending (pre-authorization is the key's profile's)", azs[0].Status)
	}
	if o, azs := e.readyOrder(a, "mtls", "api.payments.svc.corp.test"); o == nil || azs[0].Status != acme.StatusValid {
		t.Errorf("order under the key's profile: want ready, pre-authorized")
	}
	// An account key rollover (RFC 8555 §7.3.5) keeps the account, so its
	// binding and the key's allowlist.
	if err := e.st.ChangeAccountKey(ctx, a.ID, a.KeyThumbprint, "tp-rolled-"+a.ID, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	rolled, err := e.st.GetAccount(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.ra.NewOrder(ctx, rolled, acme.NewOrderRequest{Identifiers: dnsIDs("www.example.test")})
	wantProblem(t, err, acme.RejectedIdentifier, "the allowlist of EAB key "+a.EABKid)
}
