package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/ratelimit"
)

// TestReplacesExemptsOnlyRenewedDomains: an order naming the certificate
// it replaces (RFC 9773 §5) is exempt from certificates-per-domain for
// the registered domains that certificate names (a renewal), not for
// registered domains the order adds: sharing one name with an earlier
// certificate must not carry new domains past their limit, at newOrder
// or at finalize.
func TestReplacesExemptsOnlyRenewedDomains(t *testing.T) {
	e := newPolicyEnvWith(t, ra.Config{RateLimits: ratelimit.Config{
		CertificatesPerDomain: ratelimit.Rate{Count: 1, Period: 7 * 24 * time.Hour},
		PolicyURL:             "https://ca.test/limits",
	}}, policy.Profile{Name: "pre", RequireEAB: true, Validity: days(30), PreAuthorized: []string{"*.one.test", "*.two.test"}})
	ctx := context.Background()
	a := e.account("pre", nil, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	issue := func(names ...string) *x509.Certificate {
		t.Helper()
		o, azs := e.readyOrder(a, "pre", names...)
		done, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, names...), nil)
		if err != nil {
			t.Fatalf("finalize %v: %v", names, err)
		}
		rec, err := e.st.GetCertificate(ctx, done.CertSerial)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(rec.DER)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	// Both registered domains spend their one certificate.
	old := issue("a.one.test")
	issue("x.two.test")
	e.now = e.now.Add(time.Minute)
	certID := base64.RawURLEncoding.EncodeToString(old.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(old.SerialNumber.Bytes())

	// A "renewal" that adds a name of two.test: refused at newOrder.
	_, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "pre", Identifiers: dnsIDs("a.one.test", "b.two.test"), Replaces: certID})
	if !ratelimit.IsRateLimited(err) {
		t.Errorf("replacement adding an exhausted registered domain: %v, want rateLimited", err)
	}

	// The same order made while two.test still had room, finalized after
	// it ran out: refused at finalize.
	e2 := newPolicyEnvWith(t, ra.Config{RateLimits: ratelimit.Config{
		CertificatesPerDomain: ratelimit.Rate{Count: 1, Period: 7 * 24 * time.Hour},
		PolicyURL:             "https://ca.test/limits",
	}}, policy.Profile{Name: "pre", RequireEAB: true, Validity: days(30), PreAuthorized: []string{"*.one.test", "*.two.test"}})
	e, a = e2, e2.account("pre", nil, nil)
	old = issue("a.one.test")
	certID = base64.RawURLEncoding.EncodeToString(old.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(old.SerialNumber.Bytes())
	o, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "pre", Identifiers: dnsIDs("a.one.test", "b.two.test"), Replaces: certID})
	if err != nil {
		t.Fatalf("replacement while two.test has room: %v", err)
	}
	issue("x.two.test")
	azs, err := e.st.GetAuthorizations(ctx, o.AuthzIDs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "a.one.test", "b.two.test"), nil); !ratelimit.IsRateLimited(err) {
		t.Errorf("finalize of a replacement adding an exhausted registered domain: %v, want rateLimited", err)
	}

	// A renewal of the names of the replaced certificate (one.test is
	// exhausted) stays exempt, at newOrder and at finalize.
	if err := e.st.SetOrderStatus(ctx, o.ID, acme.StatusPending, acme.StatusInvalid, acme.NewProblem(acme.Malformed, "test: given up"), e.now); err != nil {
		t.Fatal(err)
	}
	renew, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "pre", Identifiers: dnsIDs("a.one.test", "c.one.test"), Replaces: certID})
	if err != nil {
		t.Fatalf("renewal within the replaced certificate's registered domain: %v", err)
	}
	azs, err = e.st.GetAuthorizations(ctx, renew.AuthzIDs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ra.Finalize(ctx, a, renew, azs, csrFor(t, key, "a.one.test", "c.one.test"), nil); err != nil {
		t.Errorf("finalize of the renewal: %v", err)
	}
}
