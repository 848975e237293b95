package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
)

// TestApprovalMustStapleAfterOCSPTurnedOff: an order whose CSR asks for
// OCSP Must-Staple, parked for approval while the OCSP responder was on,
// is checked again when approved: with the responder turned off since,
// it becomes invalid with badCSR instead of getting a certificate
// without the extension (or with it and no responder). A second order,
// approved while the responder is on, gets the extension.
func TestApprovalMustStapleAfterOCSPTurnedOff(t *testing.T) {
	code := policy.Profile{Name: "code", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30),
		Approval: &policy.Approval{Always: true}}
	e := newPolicyEnv(t, code)
	const ocspURL = "http://ca.example.test/pki/ocsp"
	e.iss.OCSPURL = ocspURL
	ctx := context.Background()
	a := e.account("code", nil, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mustStapleCSR := func(name string) []byte {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name},
			ExtraExtensions: []pkix.Extension{issuer.MustStapleExtension()}}, key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	park := func(name string) *store.Order {
		t.Helper()
		o, azs := e.readyOrder(a, "code", name)
		parked, err := e.ra.Finalize(ctx, a, o, azs, mustStapleCSR(name), nil)
		if err != nil || parked.Status != store.OrderAwaitingApproval {
			t.Fatalf("finalize %s: %+v, %v; want awaiting approval", name, parked, err)
		}
		ap, err := e.st.GetApprovalByOrder(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.DecideApproval(ctx, ap.ID, true, "alice", "ok", nil, e.now); err != nil {
			t.Fatal(err)
		}
		return parked
	}
	on, off := park("on.pre.test"), park("off.pre.test")

	done, err := e.ra.ResumeApproved(ctx, on)
	if err != nil || done.Status != acme.StatusValid {
		t.Fatalf("resume with OCSP on: %+v, %v; want valid", done, err)
	}
	cert, err := e.st.GetCertificate(ctx, done.CertSerial)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.DER)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, x := range leaf.Extensions {
		found = found || x.Id.Equal(issuer.OIDTLSFeature)
	}
	if !found || len(leaf.OCSPServer) != 1 || leaf.OCSPServer[0] != ocspURL {
		t.Fatalf("approved must-staple certificate: TLS Feature %v, OCSP servers %v; want both", found, leaf.OCSPServer)
	}

	e.iss.OCSPURL = "" // --ocsp=false since the finalize
	_, err = e.ra.ResumeApproved(ctx, off)
	if p, ok := acme.AsProblem(err); !ok || p.Type != acme.BadCSR || !strings.Contains(p.Detail, "needs an OCSP responder") {
		t.Fatalf("resume with OCSP off: %v; want badCSR saying must-staple needs an OCSP responder", err)
	}
	got, err := e.st.GetOrder(ctx, off.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != acme.StatusInvalid || got.CertSerial != "" || got.Error == nil || got.Error.Type != acme.BadCSR {
		t.Fatalf("order after the refused resume: %s, certificate %q, error %+v; want invalid with badCSR, no certificate", got.Status, got.CertSerial, got.Error)
	}
}
