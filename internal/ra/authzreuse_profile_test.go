package ra_test

import (
	"context"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/store"
)

// TestAuthzReuseRespectsProfile: an authorization is reused for an order
// of another profile only when that profile would have accepted how it was
// validated: a challenge type the profile offers, or a pre-authorization
// of the profile itself (docs/profiles.md: "challenges", "preAuthorized").
func TestAuthzReuseRespectsProfile(t *testing.T) {
	e := newPolicyEnvWith(t, ra.Config{AuthzReuse: 24 * time.Hour},
		policy.Profile{Name: "eab", RequireEAB: true, Validity: days(30), PreAuthorized: []string{"*.pre.test"}},
		policy.Profile{Name: "dnsonly", Validity: days(30), Challenges: []string{acme.ChallengeDNS01}},
	)
	ctx := context.Background()
	bound := e.account("eab", nil, nil)
	plain := e.account("", nil, nil)

	// A pre-authorized authorization (no challenge) under profile eab.
	pre, err := e.ra.NewOrder(ctx, bound, acme.NewOrderRequest{Profile: "eab", Identifiers: dnsIDs("web.pre.test")})
	if err != nil {
		t.Fatal(err)
	}
	// An authorization validated with http-01 under the default profile.
	o, err := e.ra.NewOrder(ctx, plain, acme.NewOrderRequest{Identifiers: dnsIDs("h.test")})
	if err != nil {
		t.Fatal(err)
	}
	az, err := e.st.GetAuthorization(ctx, o.AuthzIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range az.Challenges {
		if c.Type == acme.ChallengeHTTP01 {
			if err := e.st.StartChallenge(ctx, c.ID, e.now); err != nil {
				t.Fatal(err)
			}
			if err := e.st.FinishChallenge(ctx, &c, nil, e.now, e.now.Add(30*24*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.now = e.now.Add(time.Minute)

	for _, tc := range []struct {
		name    string
		acct    *store.Account
		profile string
		ident   string
		old     string // the earlier authorization
		reuse   bool
	}{
		{"pre-authorization in its own profile", bound, "eab", "web.pre.test", pre.AuthzIDs[0], true},
		{"pre-authorization not in the default profile", bound, "", "web.pre.test", pre.AuthzIDs[0], false},
		{"http-01 authorization in the default profile", plain, "", "h.test", o.AuthzIDs[0], true},
		{"http-01 authorization not in a dns-01-only profile", plain, "dnsonly", "h.test", o.AuthzIDs[0], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			no, err := e.ra.NewOrder(ctx, tc.acct, acme.NewOrderRequest{Profile: tc.profile, Identifiers: dnsIDs(tc.ident)})
			if err != nil {
				t.Fatal(err)
			}
			if got := no.AuthzIDs[0] == tc.old; got != tc.reuse {
				t.Errorf("reused %v, want %v", got, tc.reuse)
			}
			if !tc.reuse {
				az, err := e.st.GetAuthorization(ctx, no.AuthzIDs[0])
				if err != nil {
					t.Fatal(err)
				}
				if az.Status != acme.StatusPending {
					t.Errorf("new authorization is %s, want pending", az.Status)
				}
			}
		})
	}
}

// TestPreAuthorizedAreNotPending: authorizations that a profile
// pre-authorizes are valid at once and do not count against
// pending-authorizations-per-account.
func TestPreAuthorizedAreNotPending(t *testing.T) {
	e := newPolicyEnvWith(t, ra.Config{RateLimits: ratelimit.Config{PendingAuthorizationsPerAccount: 1, PolicyURL: "https://ca.test/limits"}},
		policy.Profile{Name: "eab", RequireEAB: true, Validity: days(30), PreAuthorized: []string{"*.pre.test"}})
	ctx := context.Background()
	bound := e.account("eab", nil, nil)
	if _, err := e.ra.NewOrder(ctx, bound, acme.NewOrderRequest{Profile: "eab", Identifiers: dnsIDs("a.pre.test", "b.pre.test", "c.pre.test")}); err != nil {
		t.Fatalf("three pre-authorized names with a limit of 1 pending: %v", err)
	}
	_, err := e.ra.NewOrder(ctx, bound, acme.NewOrderRequest{Profile: "eab", Identifiers: dnsIDs("x.other.test", "y.other.test")})
	if !ratelimit.IsRateLimited(err) {
		t.Errorf("two pending authorizations with a limit of 1: %v, want rateLimited", err)
	}
}
