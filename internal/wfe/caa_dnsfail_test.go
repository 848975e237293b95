package wfe_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/crypto/acme"

	cgacme "github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/testenv"
	"github.com/certgate/certgate/internal/testenv/testdns"
)

// TestCAALookupFailureIsRetried: a CAA lookup that fails (SERVFAIL) is a
// dns problem — "There was a problem with a DNS query during identifier
// validation" (RFC 8555 §6.7) — not caa, which says the records forbid
// issuance: nothing is known of the owner's policy yet. Issuance is still
// refused while the records cannot be read (RFC 8659 §3), but like any
// failed attempt the validation is tried again (RFC 8555 §8.2): once the
// name's server answers again, the authorization turns valid. A real
// refusal stays final (TestCAA).
func TestCAALookupFailureIsRetried(t *testing.T) {
	env := testenv.NewWithOptions(t, testenv.Options{CAAIdentities: []string{"certgate.test"}})
	ctx := clTestCtx(t)
	c, _ := clRegistered(t, env, nil)
	name := "flaky.caa.example.test"
	env.DNS.SetCAA(name, testdns.CAA{Tag: "issue", Value: "certgate.test"})
	env.DNS.SetRcode(name, dns.RcodeServerFailure)
	// The name's server recovers after its first CAA query.
	go func() {
		for ctx.Err() == nil {
			if slices.ContainsFunc(env.DNS.Queries(), func(q testdns.Query) bool { return q.Name == name && q.Type == "CAA" }) {
				env.DNS.SetRcode(name, dns.RcodeSuccess)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	o, err := c.AuthorizeOrder(ctx, acme.DomainIDs(name))
	if err != nil {
		t.Fatal(err)
	}
	z, err := c.GetAuthorization(ctx, o.AuthzURLs[0])
	if err != nil {
		t.Fatal(err)
	}
	chal := clFindChallenge(t, z, "dns-01")
	clPrepareChallenge(t, env, c, z, chal)
	if _, err := c.Accept(ctx, chal); err != nil {
		t.Fatal(err)
	}
	z, err = c.WaitAuthorization(ctx, o.AuthzURLs[0])
	if err != nil {
		var ae *acme.AuthorizationError
		if errors.As(err, &ae) {
			z, _ = c.GetAuthorization(ctx, o.AuthzURLs[0])
			if ch := clFindChallenge(t, z, "dns-01"); ch.Error != nil {
				t.Fatalf("authorization invalid after the CAA lookup failed once: %v", ch.Error)
			}
		}
		t.Fatal(err)
	}
	if z.Status != acme.StatusValid {
		t.Fatalf("authorization %s, want valid", z.Status)
	}

	// While it fails, the attempt's problem is a dns problem.
	other := "down.caa.example.test"
	env.DNS.SetRcode(other, dns.RcodeServerFailure)
	o, err = c.AuthorizeOrder(ctx, acme.DomainIDs(other))
	if err != nil {
		t.Fatal(err)
	}
	z, _ = c.GetAuthorization(ctx, o.AuthzURLs[0])
	chal = clFindChallenge(t, z, "dns-01")
	clPrepareChallenge(t, env, c, z, chal)
	if _, err := c.Accept(ctx, chal); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitAuthorization(ctx, o.AuthzURLs[0]); err == nil {
		t.Fatal("authorization valid while its CAA records cannot be read")
	}
	z, _ = c.GetAuthorization(ctx, o.AuthzURLs[0])
	var pe *acme.Error
	if ch := clFindChallenge(t, z, "dns-01"); !errors.As(ch.Error, &pe) || pe.ProblemType != string(cgacme.DNS) ||
		pe.StatusCode != http.StatusBadRequest && pe.StatusCode != 0 || !strings.Contains(pe.Detail, "SERVFAIL looking up CAA for down.caa.example.test") {
		t.Fatalf("challenge error %v, want a dns problem naming the failed CAA lookup", ch.Error)
	}
	if n := caaQueriesAt(env.DNS, other); n < 3 {
		t.Fatalf("%d CAA queries for %s: the failed lookup was not retried (3 attempts)", n, other)
	}
}

func caaQueriesAt(s *testdns.Server, name string) int {
	n := 0
	for _, q := range s.Queries() {
		if q.Name == name && q.Type == "CAA" {
			n++
		}
	}
	return n
}
