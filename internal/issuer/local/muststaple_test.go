package local

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"testing"

	"github.com/certgate/certgate/internal/certlint"
	"github.com/certgate/certgate/internal/issuer"
)

// tlsFeatureExt returns cert's TLS Feature extension (RFC 7633) and
// whether it has one.
func tlsFeatureExt(cert *x509.Certificate) (ext []byte, critical, ok bool) {
	for _, e := range cert.Extensions {
		if e.Id.Equal(issuer.OIDTLSFeature) {
			return e.Value, e.Critical, true
		}
	}
	return nil, false, false
}

// TestSignLeafMustStaple: a must-staple request with an OCSP responder
// URL gets the non-critical TLS Feature extension listing status_request
// alone, passes the pre-issuance lint and Go's verification; without
// MustStaple there is none.
func TestSignLeafMustStaple(t *testing.T) {
	ca, _ := newTestCA(t, Options{LintBeforeSign: true})
	for _, must := range []bool{true, false} {
		req := goodRequest(t)
		req.OCSPURL, req.MustStaple = testOCSPURL, must
		der, err := ca.SignLeaf(context.Background(), req)
		if err != nil {
			t.Fatalf("MustStaple=%v: SignLeaf: %v", must, err)
		}
		if err := certlint.Check(der); err != nil {
			t.Errorf("MustStaple=%v: certlint: %v", must, err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		val, critical, ok := tlsFeatureExt(cert)
		if ok != must {
			t.Fatalf("MustStaple=%v: TLS Feature extension present = %v", must, ok)
		}
		if !must {
			continue
		}
		if critical {
			t.Error("the TLS Feature extension is critical; RFC 7633 §4.2.2 has it non-critical")
		}
		if want := []byte{0x30, 0x03, 0x02, 0x01, 0x05}; !bytes.Equal(val, want) {
			t.Errorf("TLS Feature value % x, want % x (SEQUENCE { INTEGER 5 })", val, want)
		}
		if len(cert.OCSPServer) != 1 || cert.OCSPServer[0] != testOCSPURL {
			t.Errorf("OCSP servers %v, want [%s]", cert.OCSPServer, testOCSPURL)
		}
		verifyLeaf(t, ca, cert, req.DNSNames, nil, false)
	}
}

// TestSignLeafMustStapleNeedsOCSP: a must-staple certificate that names
// no OCSP responder is refused (ErrInvalidRequest), not signed.
func TestSignLeafMustStapleNeedsOCSP(t *testing.T) {
	ca, _ := newTestCA(t, Options{LintBeforeSign: true})
	req := goodRequest(t)
	req.MustStaple = true
	if _, err := ca.SignLeaf(context.Background(), req); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("SignLeaf without OCSPURL = %v, want ErrInvalidRequest", err)
	}
}

// TestIssuerMustStaple: the local issuer passes IssueRequest.MustStaple
// on, and CanMustStaple says whether it names an OCSP responder.
func TestIssuerMustStaple(t *testing.T) {
	ca, _ := newTestCA(t, Options{LintBeforeSign: true})
	var _ issuer.MustStapler = (*Issuer)(nil)
	off := &Issuer{CA: ca, IssuerURL: testIssuerURL, CRLURL: testCRLURL}
	if err := off.CanMustStaple(); err == nil {
		t.Error("CanMustStaple without an OCSP URL = nil, want an error")
	}
	on := &Issuer{CA: ca, IssuerURL: testIssuerURL, CRLURL: testCRLURL, OCSPURL: testOCSPURL}
	if err := on.CanMustStaple(); err != nil {
		t.Errorf("CanMustStaple with an OCSP URL = %v", err)
	}
	r := goodRequest(t)
	out, err := on.Issue(context.Background(), issuer.IssueRequest{Serial: r.Serial, PublicKey: r.PublicKey, DNSNames: r.DNSNames,
		NotBefore: r.NotBefore, NotAfter: r.NotAfter, MustStaple: true})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(out.DER)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := tlsFeatureExt(cert); !ok {
		t.Error("Issue with MustStaple: no TLS Feature extension")
	}
}

// TestSignLeafMustStapleVariants: a must-staple certificate stays
// lint-clean (pre-issuance lint on, certlint after) with an RSA or P-384
// key, IP identifiers alone or with names, clientAuth, a profile's EKUs
// and subject fields.
func TestSignLeafMustStapleVariants(t *testing.T) {
	ca, _ := newTestCA(t, Options{LintBeforeSign: true})
	for _, tc := range []struct {
		name string
		mod  func(*LeafRequest)
	}{
		{"rsa-2048", func(r *LeafRequest) { r.PublicKey = pub("rsa-2048") }},
		{"ecdsa-p384", func(r *LeafRequest) { r.PublicKey = pub("ecdsa-p384") }},
		{"ip only", func(r *LeafRequest) {
			r.DNSNames, r.IPAddresses = nil, []net.IP{net.ParseIP("192.0.2.7"), net.ParseIP("2001:db8::7")}
		}},
		{"names and ip", func(r *LeafRequest) { r.IPAddresses = []net.IP{net.ParseIP("192.0.2.8")} }},
		{"clientAuth", func(r *LeafRequest) { r.ClientAuth = true }},
		{"profile EKUs and subject", func(r *LeafRequest) {
			r.ExtKeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth} // subject fields: no DV policy
			r.Subject = pkix.Name{Organization: []string{"Example Org"}, Country: []string{"DE"}, Locality: []string{"Berlin"}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := goodRequest(t)
			req.OCSPURL, req.MustStaple = testOCSPURL, true
			tc.mod(&req)
			der, err := ca.SignLeaf(context.Background(), req)
			if err != nil {
				t.Fatalf("SignLeaf: %v", err)
			}
			if err := certlint.Check(der); err != nil {
				t.Errorf("certlint: %v", err)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			if val, critical, ok := tlsFeatureExt(cert); !ok || critical || !bytes.Equal(val, []byte{0x30, 3, 2, 1, 5}) {
				t.Errorf("TLS Feature extension %x critical=%v present=%v", val, critical, ok)
			}
		})
	}
}
