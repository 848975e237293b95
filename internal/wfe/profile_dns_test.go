package wfe_test

// Per-profile DNS resolvers (policy.Validation): two in-process DNS
// servers that answer differently; a profile that names the second one
// validates dns-01 (TXT), http-01 (A/AAAA) and checks CAA through it, the
// default profile through the server's resolver, and authorizations are
// only reused within their profile.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/crypto/acme"

	cgacme "github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/testenv"
	"github.com/certgate/certgate/internal/testenv/testdns"
)

// orderAuthz creates an order for name in profile ("" for none) and
// returns the order and its single authorization.
func orderAuthz(t *testing.T, c *acme.Client, profile, name string) (*acme.Order, *acme.Authorization) {
	t.Helper()
	ctx := clTestCtx(t)
	var opts []acme.OrderOption
	if profile != "" {
		opts = append(opts, acme.WithOrderIssuanceProfile(acme.ProfileName(profile)))
	}
	o, err := c.AuthorizeOrder(ctx, acme.DomainIDs(name), opts...)
	if err != nil {
		t.Fatalf("order %s in profile %q: %v", name, profile, err)
	}
	z, err := c.GetAuthorization(ctx, o.AuthzURLs[0])
	if err != nil {
		t.Fatal(err)
	}
	return o, z
}

// answer accepts challenge typ of z, with the TXT record (dns-01) published
// only on srv, and returns the authorization's final state: nil when valid,
// else the challenge's problem.
func answer(t *testing.T, env *testenv.Env, c *acme.Client, srv *testdns.Server, z *acme.Authorization, typ string) *acme.Error {
	t.Helper()
	ctx := clTestCtx(t)
	chal := clFindChallenge(t, z, typ)
	switch typ {
	case "dns-01":
		rec, err := c.DNS01ChallengeRecord(chal.Token)
		if err != nil {
			t.Fatal(err)
		}
		srv.SetTXT("_acme-challenge."+z.Identifier.Value, rec)
	default:
		clPrepareChallenge(t, env, c, z, chal)
	}
	if _, err := c.Accept(ctx, chal); err != nil {
		t.Fatalf("accept: %v", err)
	}
	_, err := c.WaitAuthorization(ctx, z.URI)
	if err == nil {
		return nil
	}
	var ae *acme.AuthorizationError
	if !errors.As(err, &ae) {
		t.Fatalf("wait authorization: %v", err)
	}
	got, err := c.GetAuthorization(ctx, z.URI)
	if err != nil {
		t.Fatal(err)
	}
	var pe *acme.Error
	if ch := clFindChallenge(t, got, typ); !errors.As(ch.Error, &pe) {
		t.Fatalf("invalid authorization without a problem: %+v", ch)
	}
	return pe
}

func TestProfileDNSResolvers(t *testing.T) {
	env := newProfileEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	alt, err := testdns.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alt.Close() })
	putProfile(t, env, policy.Profile{Name: "alt-dns", Validity: policy.Duration(24 * time.Hour),
		Validation: &policy.Validation{DNSResolvers: []string{alt.Addr()}, DNSTimeout: policy.Duration(2 * time.Second)}})
	c, _ := clRegistered(t, env, nil)

	t.Run("dns-01 TXT only on the profile's resolver", func(t *testing.T) {
		_, z := orderAuthz(t, c, "", "one.example.test")
		if pe := answer(t, env, c, alt, z, "dns-01"); pe == nil || pe.ProblemType != string(cgacme.IncorrectResponse) && pe.ProblemType != string(cgacme.Unauthorized) {
			t.Errorf("default profile validated a TXT record only the other resolver has: %v", pe)
		}
		o, z := orderAuthz(t, c, "alt-dns", "two.example.test")
		if pe := answer(t, env, c, alt, z, "dns-01"); pe != nil {
			t.Fatalf("alt-dns profile: dns-01 through its resolver failed: %v", pe)
		}
		// The certificate is issued under the profile.
		csr, _ := clCsrFor(t, acme.DomainIDs("two.example.test"), nil)
		if _, _, err := c.CreateOrderCert(clTestCtx(t), o.FinalizeURL, csr, true); err != nil {
			t.Fatalf("finalize: %v", err)
		}
	})

	t.Run("dns-01 TXT only on the server's resolver", func(t *testing.T) {
		_, z := orderAuthz(t, c, "alt-dns", "three.example.test")
		if pe := answer(t, env, c, env.DNS, z, "dns-01"); pe == nil {
			t.Error("alt-dns profile validated a TXT record only the server's resolver has")
		}
		_, z = orderAuthz(t, c, "", "four.example.test")
		if pe := answer(t, env, c, env.DNS, z, "dns-01"); pe != nil {
			t.Fatalf("default profile: dns-01 through the server's resolver failed: %v", pe)
		}
	})

	t.Run("http-01 addresses from the profile's resolver", func(t *testing.T) {
		// Both resolvers answer 127.0.0.1 for any name, except where
		// one says NXDOMAIN.
		alt.SetRcode("noaddr.example.test", dns.RcodeNameError)
		_, z := orderAuthz(t, c, "alt-dns", "noaddr.example.test")
		pe := answer(t, env, c, nil, z, "http-01")
		if pe == nil || pe.ProblemType != string(cgacme.DNS) || !strings.Contains(pe.Detail, "NXDOMAIN") {
			t.Errorf("alt-dns http-01, NXDOMAIN on its resolver: %v, want a dns problem", pe)
		}
		env.DNS.SetRcode("altonly.example.test", dns.RcodeNameError)
		_, z = orderAuthz(t, c, "alt-dns", "altonly.example.test")
		if pe := answer(t, env, c, nil, z, "http-01"); pe != nil {
			t.Errorf("alt-dns http-01, NXDOMAIN only on the server's resolver: %v", pe)
		}
		_, z = orderAuthz(t, c, "", "altonly.example.test")
		if pe := answer(t, env, c, nil, z, "http-01"); pe == nil || pe.ProblemType != string(cgacme.DNS) {
			t.Errorf("default http-01, NXDOMAIN on the server's resolver: %v, want a dns problem", pe)
		}
	})

	t.Run("CAA from the profile's resolver", func(t *testing.T) {
		alt.SetCAA("caa.example.test", testdns.CAA{Tag: "issue", Value: "other-ca.example"})
		_, z := orderAuthz(t, c, "alt-dns", "caa.example.test")
		if pe := answer(t, env, c, alt, z, "dns-01"); pe == nil || pe.ProblemType != string(cgacme.CAA) || !strings.Contains(pe.Detail, "other-ca.example") {
			t.Errorf("alt-dns with a forbidding CAA record on its resolver: %v, want a caa problem", pe)
		}
		// The server's resolver has no CAA record: the default profile issues.
		_, z = orderAuthz(t, c, "", "caa.example.test")
		if pe := answer(t, env, c, env.DNS, z, "dns-01"); pe != nil {
			t.Errorf("default profile without CAA on its resolver: %v", pe)
		}
	})

	t.Run("authorizations are reused within their profile only", func(t *testing.T) {
		// two.example.test is valid in alt-dns (first subtest).
		_, z := orderAuthz(t, c, "alt-dns", "two.example.test")
		if z.Status != acme.StatusValid {
			t.Errorf("alt-dns order did not reuse its profile's valid authorization: %s", z.Status)
		}
		_, z = orderAuthz(t, c, "", "two.example.test")
		if z.Status != acme.StatusPending {
			t.Errorf("default-profile order reused the alt-dns authorization: %s", z.Status)
		}
	})
}
