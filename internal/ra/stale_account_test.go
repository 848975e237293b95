package ra_test

import (
	"context"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
)

// TestStaleAccountRefusedEverywhere: a request authenticated with a
// cached copy of an account (the front end trusts its account cache for a
// few seconds) that another node or the CLI deactivated meanwhile can
// neither revoke the account's certificate, nor respond to a challenge,
// nor deactivate an authorization: each re-reads the account and answers
// 401 unauthorized (RFC 8555 §7.3.6), as newOrder and finalize do, and
// changes nothing.
func TestStaleAccountRefusedEverywhere(t *testing.T) {
	e := newPolicyEnvWith(t, ra.Config{}, policy.Profile{Name: "pre", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30)})
	ctx := context.Background()
	a := e.account("pre", nil, nil)
	cert, _, azs := e.issued(a, "pre", "s.pre.test")
	// A second order of the default profile: a pending authorization
	// with challenges.
	pending, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "pre", Identifiers: dnsIDs("p.test")})
	if err != nil {
		t.Fatal(err)
	}
	paz, err := e.st.GetAuthorization(ctx, pending.AuthzIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	// Deactivated behind the RA's back: a still says valid.
	if err := e.st.DeactivateAccount(ctx, a.ID, nil); err != nil {
		t.Fatal(err)
	}
	want401 := func(what string, err error) {
		t.Helper()
		p, ok := acme.AsProblem(err)
		if !ok || p.Type != acme.Unauthorized || p.HTTPStatus() != 401 {
			t.Errorf("%s by a deactivated account: %v, want 401 unauthorized", what, err)
		}
	}
	want401("revocation", e.ra.Revoke(ctx, ra.RevokeRequest{CertDER: cert.Raw, Account: a}))
	if rec, err := e.st.GetCertificate(ctx, cert.SerialNumber.Text(16)); err != nil || rec.Status != acme.StatusValid {
		t.Errorf("certificate after the refused revocation: %+v, %v; want valid", rec, err)
	}
	_, _, err = e.ra.RespondChallengeID(ctx, a, paz.Challenges[0].ID)
	want401("challenge response", err)
	_, err = e.ra.DeactivateAuthorization(ctx, a, azs[0].ID)
	want401("authorization deactivation", err)
	if az, err := e.st.GetAuthorization(ctx, azs[0].ID); err != nil || az.Status != acme.StatusValid {
		t.Errorf("authorization after the refused deactivation: %+v, %v; want valid", az, err)
	}
}
