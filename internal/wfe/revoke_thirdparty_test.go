package wfe_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/acme"

	cgacme "github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv"
)

// TestThirdPartyKeyCompromiseRefused: an account that did not request a
// certificate but holds valid authorizations for all its names may revoke
// it (RFC 8555 §7.6), but not for keyCompromise: that reason blocks the
// certificate's key and revokes every other certificate with it, and such
// an account has shown control of the names only, not of the key nor of
// the other certificates. The former code accepted it, and the victim's
// certificate for a name the requester never validated was revoked with
// it. The requester may still revoke (then for cessationOfOperation),
// and the subscriber for keyCompromise.
func TestThirdPartyKeyCompromiseRefused(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := clTestCtx(t)
	victim, _ := clRegistered(t, env, nil)
	idsA := acme.DomainIDs("kc3p-a.example.test")
	idsB := acme.DomainIDs("kc3p-b.example.test")
	a := clIssue(t, env, victim, idsA, "http-01")
	// A second certificate of the same key, for another name.
	o := clReadyOrder(t, env, victim, idsB, "http-01")
	csr, _ := clCsrFor(t, idsB, a.key)
	chainB, _, err := victim.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	if err != nil {
		t.Fatalf("finalize B: %v", err)
	}

	other, _ := clRegistered(t, env, nil)
	clReadyOrder(t, env, other, idsA, "http-01") // valid authorizations for A's name
	err = other.RevokeCert(ctx, nil, a.chain[0], acme.CRLReasonKeyCompromise)
	clWantACMEError(t, err, http.StatusBadRequest, cgacme.BadRevocationReason)

	status := func(der []byte) *store.Certificate {
		t.Helper()
		c, err := env.Server.Store().GetCertificate(context.Background(), leafSerial(t, der))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for name, der := range map[string][]byte{"A": a.chain[0], "B (same key)": chainB[0]} {
		if c := status(der); c.Status != cgacme.StatusValid {
			t.Errorf("certificate %s after a refused third-party keyCompromise revocation: %s (reason %d)", name, c.Status, c.RevocationReason)
		}
	}
	// Another reason is still the third party's to ask (recorded as
	// cessationOfOperation: TestThirdPartyRevocationIsCessationOfOperation).
	if err := other.RevokeCert(ctx, nil, a.chain[0], acme.CRLReasonCessationOfOperation); err != nil {
		t.Fatalf("third-party revocation for cessationOfOperation: %v", err)
	}
	if c := status(a.chain[0]); c.Status != cgacme.StatusRevoked || c.RevocationReason != 5 {
		t.Errorf("A: %s reason %d, want revoked for cessationOfOperation (5)", c.Status, c.RevocationReason)
	}
	if c := status(chainB[0]); c.Status != cgacme.StatusValid {
		t.Errorf("B after A's revocation for cessationOfOperation: %s", c.Status)
	}
	// The subscriber may still say keyCompromise (B, and with it the key).
	if err := victim.RevokeCert(ctx, nil, chainB[0], acme.CRLReasonKeyCompromise); err != nil {
		t.Fatalf("subscriber's keyCompromise revocation: %v", err)
	}
	if c := status(chainB[0]); c.Status != cgacme.StatusRevoked || c.RevocationReason != cgacme.ReasonKeyCompromise {
		t.Errorf("B: %s reason %d, want revoked for keyCompromise", c.Status, c.RevocationReason)
	}
}

// leafSerial is the serial of the DER certificate der as certgate stores
// it (lower-case hex).
func leafSerial(t *testing.T, der []byte) string {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.Text(16)
}

// TestThirdPartyRevocationIsCessationOfOperation: an account that did not
// request a certificate but holds valid authorizations for all its names
// has shown one thing only, that the subscriber no longer controls them,
// for which the CRLReason is cessationOfOperation (Mozilla Root Store
// Policy §6.1.1; Let's Encrypt's Boulder records it so). Whatever other
// reason it asks (unspecified, affiliationChanged, superseded:
// statements about the subscriber it cannot make), the certificate is
// revoked with reason 5; the former code recorded the reason asked. The
// subscriber's own reason is kept. privilegeWithdrawn (9) is refused to
// every ACME requester, the subscriber included: the CA decides on it
// (CA/B BR §7.2.2); it was accepted.
func TestThirdPartyRevocationIsCessationOfOperation(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := clTestCtx(t)
	subscriber, _ := clRegistered(t, env, nil)
	other, _ := clRegistered(t, env, nil)
	status := func(der []byte) *store.Certificate {
		t.Helper()
		c, err := env.Server.Store().GetCertificate(context.Background(), leafSerial(t, der))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for i, reason := range []acme.CRLReasonCode{acme.CRLReasonUnspecified, acme.CRLReasonAffiliationChanged,
		acme.CRLReasonSuperseded} {
		ids := acme.DomainIDs(fmt.Sprintf("cessation-%d.example.test", i))
		c := clIssue(t, env, subscriber, ids, "http-01")
		clReadyOrder(t, env, other, ids, "http-01")
		if err := other.RevokeCert(ctx, nil, c.chain[0], reason); err != nil {
			t.Fatalf("third-party revocation asking reason %d: %v", reason, err)
		}
		if got := status(c.chain[0]); got.Status != cgacme.StatusRevoked || got.RevocationReason != 5 {
			t.Errorf("third party asked reason %d: %s reason %d, want revoked for cessationOfOperation (5)", reason, got.Status, got.RevocationReason)
		}
	}
	ids := acme.DomainIDs("cessation-own.example.test")
	c := clIssue(t, env, subscriber, ids, "http-01")
	if err := subscriber.RevokeCert(ctx, nil, c.chain[0], acme.CRLReasonSuperseded); err != nil {
		t.Fatalf("subscriber's revocation: %v", err)
	}
	if got := status(c.chain[0]); got.RevocationReason != 4 {
		t.Errorf("subscriber asked superseded: reason %d, want 4", got.RevocationReason)
	}
	ids = acme.DomainIDs("privilege-withdrawn.example.test")
	c = clIssue(t, env, subscriber, ids, "http-01")
	clReadyOrder(t, env, other, ids, "http-01")
	for who, cl := range map[string]*acme.Client{"subscriber": subscriber, "third party": other} {
		err := cl.RevokeCert(ctx, nil, c.chain[0], acme.CRLReasonPrivilegeWithdrawn)
		if e := clAsACMEError(t, err); e.ProblemType != string(cgacme.BadRevocationReason) || !strings.Contains(e.Detail, "CA/B BR §7.2.2") {
			t.Errorf("%s asked privilegeWithdrawn: %+v, want badRevocationReason", who, e)
		}
	}
	if got := status(c.chain[0]); got.Status != cgacme.StatusValid {
		t.Errorf("after refused privilegeWithdrawn requests: %s", got.Status)
	}
}

// TestThirdPartyWildcardRevocationNeedsWildcardAuthz: a wildcard name of a
// certificate (*.example) is held, for a revocation by another account
// (RFC 8555 §7.6), only by a valid authorization for the wildcard (RFC 8555
// §7.1.4: "wildcard": true, validated with dns-01 as issuance requires), not
// by one for the name without "*." that http-01 or tls-alpn-01 validated:
// control of a web server at example shows nothing about the names below
// it. The former code counted any authorization for example, so the holder
// of a web server at the apex could revoke the domain's wildcard
// certificate.
func TestThirdPartyWildcardRevocationNeedsWildcardAuthz(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := clTestCtx(t)
	subscriber, _ := clRegistered(t, env, nil)
	c := clIssue(t, env, subscriber, acme.DomainIDs("*.wc3p.example.test", "wc3p.example.test"), "dns-01")
	other, _ := clRegistered(t, env, nil)
	clReadyOrder(t, env, other, acme.DomainIDs("wc3p.example.test"), "http-01")
	err := other.RevokeCert(ctx, nil, c.chain[0], acme.CRLReasonCessationOfOperation)
	clWantACMEError(t, err, http.StatusForbidden, cgacme.Unauthorized)
	got, err := env.Server.Store().GetCertificate(context.Background(), leafSerial(t, c.chain[0]))
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != cgacme.StatusValid {
		t.Fatalf("wildcard certificate after a revocation by an account without a wildcard authorization: %s", got.Status)
	}
	// With an authorization for the wildcard too, the account may.
	clReadyOrder(t, env, other, acme.DomainIDs("*.wc3p.example.test"), "dns-01")
	if err := other.RevokeCert(ctx, nil, c.chain[0], acme.CRLReasonCessationOfOperation); err != nil {
		t.Fatalf("revocation by an account holding the wildcard's authorization: %v", err)
	}
}
