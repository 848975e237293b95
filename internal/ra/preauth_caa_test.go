package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/testenv/testdns"
)

// TestPreAuthorizedCAA: a pre-authorized name skips the challenge, not
// CAA. Its authorization is checked when it is created (newOrder) and
// again at a finalize more than caa-recheck-after later, always the same
// way: issue/issuewild and accounturi apply, and any validationmethods
// parameter refuses it, as it was validated by no method (RFC 8657 §4).
// Before, a fresh one was never checked and only a reused old one was, so
// a renewal could fail where the first issuance succeeded.
func TestPreAuthorizedCAA(t *testing.T) {
	e := newPolicyEnvWith(t, ra.Config{AuthzReuse: 72 * time.Hour},
		policy.Profile{Name: "eab", RequireEAB: true, Wildcard: true, Validity: days(30), PreAuthorized: []string{"*.pre.test"}})
	ctx := context.Background()
	a := e.account("eab", nil, nil)
	order := func(names ...string) error {
		_, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "eab", Identifiers: dnsIDs(names...)})
		return err
	}

	for _, tc := range []struct {
		name   string
		caa    []testdns.CAA
		ok     bool
		detail string
	}{
		{"no records", nil, true, ""},
		{"this CA", []testdns.CAA{{Tag: "issue", Value: "ca.test"}}, true, ""},
		{"this account", []testdns.CAA{{Tag: "issue", Value: "ca.test; accounturi=https://ca.test/acct/" + a.ID}}, true, ""},
		{"another CA", []testdns.CAA{{Tag: "issue", Value: "other.example"}}, false, "names another CA"},
		{"another account", []testdns.CAA{{Tag: "issue", Value: "ca.test; accounturi=https://ca.test/acct/other"}}, false, "accounturi is not this account's URL"},
		{"validationmethods", []testdns.CAA{{Tag: "issue", Value: "ca.test; validationmethods=dns-01,http-01"}}, false,
			"validationmethods allows only dns-01,http-01, and the name was pre-authorized without a validation method (RFC 8657 §4)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.ReplaceAll(strings.ToLower(tc.name), " ", "-") + ".pre.test"
			e.dns.SetCAA(name, tc.caa...)
			err := order(name)
			if tc.ok {
				if err != nil {
					t.Fatalf("newOrder: %v", err)
				}
				return
			}
			p := wantProblem(t, err, acme.CAA, "CAA checked for a pre-authorized name: ")
			if !strings.Contains(p.Detail, tc.detail) || p.Identifier == nil || p.Identifier.Value != name {
				t.Fatalf("problem %+v, want identifier %s and %q", p, name, tc.detail)
			}
		})
	}

	// Several refused names: one subproblem each.
	e.dns.SetCAA("x.pre.test", testdns.CAA{Tag: "issue", Value: ";"})
	e.dns.SetCAA("y.pre.test", testdns.CAA{Tag: "issue", Value: "ca.test; validationmethods=http-01"})
	p := wantProblem(t, order("x.pre.test", "y.pre.test", "z.pre.test"), acme.CAA, "2 identifiers")
	if len(p.Subproblems) != 2 {
		t.Fatalf("subproblems %+v", p.Subproblems)
	}

	// A wildcard is checked against issuewild.
	e.dns.SetCAA("w.pre.test", testdns.CAA{Tag: "issue", Value: "ca.test"}, testdns.CAA{Tag: "issuewild", Value: "ca.test; validationmethods=dns-01"})
	wantProblem(t, order("*.w.pre.test"), acme.CAA, "pre-authorized without a validation method")
	if err := order("w.pre.test"); err != nil {
		t.Fatalf("non-wildcard under issue %q: %v", "ca.test", err)
	}

	// A renewal with the authorization reused after caa-recheck-after (24
	// h) gets the same answer as the first order: it passes with the same
	// records, and is refused at finalize once validationmethods appears.
	e.dns.SetCAA("r.pre.test", testdns.CAA{Tag: "issue", Value: "ca.test"})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	o, azs := e.readyOrder(a, "eab", "r.pre.test")
	if _, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "r.pre.test"), nil); err != nil {
		t.Fatalf("first finalize: %v", err)
	}
	e.now = e.now.Add(25 * time.Hour)
	o2, azs2 := e.readyOrder(a, "eab", "r.pre.test")
	if o2.AuthzIDs[0] != o.AuthzIDs[0] {
		t.Fatal("authorization not reused")
	}
	if _, err := e.ra.Finalize(ctx, a, o2, azs2, csrFor(t, key, "r.pre.test"), nil); err != nil {
		t.Fatalf("renewal finalize, same records: %v", err)
	}
	e.dns.SetCAA("r.pre.test", testdns.CAA{Tag: "issue", Value: "ca.test; validationmethods=dns-01"})
	o3, azs3 := e.readyOrder(a, "eab", "r.pre.test")
	_, err := e.ra.Finalize(ctx, a, o3, azs3, csrFor(t, key, "r.pre.test"), nil)
	wantProblem(t, err, acme.CAA, "CAA re-checked at finalize: ")
	wantProblem(t, err, acme.CAA, "pre-authorized without a validation method")
	// And a new order for it is refused at once, the same way.
	wantProblem(t, order("r2.r.pre.test"), acme.CAA, "pre-authorized without a validation method")
}
