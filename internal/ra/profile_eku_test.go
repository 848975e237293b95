package ra_test

import (
	"context"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
)

// TestNewOrderProfileEKUsRefusedByCA: a profile of the built-in CA stored
// before certgate checked its EKUs against the CA's chain (or kept
// through a CA rotation) whose EKUs the intermediate allows none of
// (serverAuth and clientAuth only: emailProtection, codeSigning) is
// refused at newOrder with a serverInternal problem naming the profile
// and the cause: every certificate would fail to verify for its purpose.
// One with an allowed EKU besides is served (its certificates verify
// for that one).
func TestNewOrderProfileEKUsRefusedByCA(t *testing.T) {
	e := newPolicyEnv(t) // the CA certgate makes: the profiles are stored after
	for _, p := range []policy.Profile{
		{Name: "smime", Validity: days(30), EKUs: []string{"emailProtection"}},
		{Name: "signing", Validity: days(30), EKUs: []string{"codeSigning", "emailProtection"}},
		{Name: "mixed", Validity: days(30), EKUs: []string{"clientAuth", "emailProtection"}},
	} {
		e.putProfile(p)
	}
	ctx := context.Background()
	a := e.account("", nil, nil)
	_, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "smime", Identifiers: dnsIDs("mail.example.test")})
	wantProblem(t, err, acme.ServerInternal, "profile smime cannot issue usable certificates: the built-in CA's intermediate allows only serverAuth, clientAuth (EKU); "+
		"leaf certificates with emailProtection would not verify for that purpose")
	_, err = e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "signing", Identifiers: dnsIDs("build.example.test")})
	wantProblem(t, err, acme.ServerInternal, "codeSigning, emailProtection would not verify for those purposes")
	if _, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "mixed", Identifiers: dnsIDs("www.example.test")}); err != nil {
		t.Errorf("newOrder under clientAuth+emailProtection: %v, want it served", err)
	}
	if _, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Identifiers: dnsIDs("www.example.test")}); err != nil {
		t.Errorf("newOrder under the default profile: %v", err)
	}
}
