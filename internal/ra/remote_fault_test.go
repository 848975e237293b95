package ra_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/ra"
)

// TestRemoteLeafFault: a certificate a CA elsewhere returns is refused
// unless it is a subscriber certificate for exactly the order's names,
// valid now, with a chain that signs it. The former check compared only
// the key and the DNS/IP names, so a CA certificate, an expired or not yet
// valid one, one naming a URI, an email address or another common name,
// and one served with an unrelated chain were stored and served.
func TestRemoteLeafFault(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	sign := func(tmpl, parent *x509.Certificate, pub any, key *ecdsa.PrivateKey) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	caTmpl := func(cn string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: now.Add(-time.Hour),
			NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	}
	caKey, otherKey := newKey(), newKey()
	ca := sign(caTmpl("Up CA"), caTmpl("Up CA"), caKey.Public(), caKey)
	other := sign(caTmpl("Other CA"), caTmpl("Other CA"), otherKey.Public(), otherKey)
	leafKey := newKey()
	leaf := func(edit func(*x509.Certificate)) *x509.Certificate {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "a.example.test"},
			DNSNames: []string{"a.example.test", "b.example.test"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true}
		if edit != nil {
			edit(tmpl)
		}
		return sign(tmpl, ca, leafKey.Public(), caKey)
	}
	pemOf := func(cs ...*x509.Certificate) []byte {
		var b []byte
		for _, c := range cs {
			b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
		return b
	}
	ids := []acme.Identifier{{Type: "dns", Value: "a.example.test"}, {Type: "dns", Value: "b.example.test"}}
	good := leaf(nil)
	if f := ra.RemoteLeafFault(good, pemOf(good, ca), ids, now); f != "" {
		t.Fatalf("a good certificate: %q, want no fault", f)
	}
	if f := ra.RemoteLeafFault(good, nil, ids, now); f != "" {
		t.Fatalf("a good certificate without a chain: %q, want no fault", f)
	}
	noCN := leaf(func(c *x509.Certificate) { c.Subject = pkix.Name{} })
	if f := ra.RemoteLeafFault(noCN, pemOf(noCN, ca), ids, now); f != "" {
		t.Fatalf("a certificate without a common name: %q, want no fault", f)
	}
	// A notBefore a little ahead (the CA's clock) is accepted.
	ahead := leaf(func(c *x509.Certificate) { c.NotBefore = now.Add(10 * time.Minute) })
	if f := ra.RemoteLeafFault(ahead, pemOf(ahead, ca), ids, now); f != "" {
		t.Fatalf("notBefore 10 minutes ahead: %q, want no fault", f)
	}
	// A common name written as finalize accepts it from a CSR: an IP
	// address in another text form, a name in other letter case; a
	// chain with a duplicate and another certificate after the issuer.
	ipIDs := []acme.Identifier{{Type: "ip", Value: "2001:db8::1"}, {Type: "ip", Value: "192.0.2.1"}}
	for _, cn := range []string{"2001:0db8::1", "2001:DB8:0:0:0:0:0:1", "::ffff:192.0.2.1", "192.0.2.1"} {
		c := leaf(func(c *x509.Certificate) {
			c.Subject, c.DNSNames, c.IPAddresses = pkix.Name{CommonName: cn}, nil, []net.IP{net.ParseIP("2001:db8::1"), net.ParseIP("192.0.2.1")}
		})
		if f := ra.RemoteLeafFault(c, nil, ipIDs, now); f != "" {
			t.Errorf("common name %q for an IP order: %q, want no fault", cn, f)
		}
	}
	upper := leaf(func(c *x509.Certificate) { c.Subject = pkix.Name{CommonName: "A.Example.TEST"} })
	if f := ra.RemoteLeafFault(upper, pemOf(upper, ca, ca, other), ids, now); f != "" {
		t.Errorf("upper-case common name, chain with a duplicate and another certificate after the issuer: %q, want no fault", f)
	}
	// Letter case is folded in ASCII only, as finalize does: the Kelvin
	// sign is no "k".
	kelvin := leaf(func(c *x509.Certificate) {
		c.Subject, c.DNSNames = pkix.Name{CommonName: "\u212A.example.test"}, []string{"k.example.test"}
	})
	if f := ra.RemoteLeafFault(kelvin, nil, []acme.Identifier{{Type: "dns", Value: "k.example.test"}}, now); !strings.Contains(f, "is not one of the order's names") {
		t.Errorf("common name with the Kelvin sign: %q, want it refused", f)
	}
	spiffe, _ := url.Parse("spiffe://evil.example/admin")
	for name, tc := range map[string]struct {
		leaf  *x509.Certificate
		chain []*x509.Certificate
		want  string
	}{
		"other names":       {leaf(func(c *x509.Certificate) { c.DNSNames = []string{"a.example.test"} }), nil, "a certificate for a.example.test, not the order's a.example.test, b.example.test"},
		"URI SAN":           {leaf(func(c *x509.Certificate) { c.URIs = []*url.URL{spiffe} }), nil, "also names URI spiffe://evil.example/admin"},
		"email SAN":         {leaf(func(c *x509.Certificate) { c.EmailAddresses = []string{"root@evil.example"} }), nil, "also names email root@evil.example"},
		"other common name": {leaf(func(c *x509.Certificate) { c.Subject = pkix.Name{CommonName: "www.evil.example"} }), nil, `subject common name "www.evil.example" is not one of the order's names`},
		"CA":                {leaf(func(c *x509.Certificate) { c.IsCA, c.KeyUsage = true, x509.KeyUsageCertSign }), nil, "a CA certificate"},
		"keyCertSign":       {leaf(func(c *x509.Certificate) { c.KeyUsage |= x509.KeyUsageCertSign }), nil, "a CA certificate"},
		"expired":           {leaf(func(c *x509.Certificate) { c.NotBefore, c.NotAfter = now.Add(-48*time.Hour), now.Add(-24*time.Hour) }), nil, "expired at 2026-12-02T12:00:00Z"},
		"not yet valid": {leaf(func(c *x509.Certificate) {
			c.NotBefore = now.Add(100 * 24 * time.Hour)
			c.NotAfter = now.Add(200 * 24 * time.Hour)
		}), nil, "not valid before 2027-03-13T12:00:00Z"},
		"unrelated chain":  {good, []*x509.Certificate{good, other}, "a chain whose second certificate (CN=Other CA) did not sign it"},
		"chain of another": {good, []*x509.Certificate{noCN, ca}, "a chain that does not start with the certificate"},
	} {
		chain := pemOf(tc.chain...)
		if f := ra.RemoteLeafFault(tc.leaf, chain, ids, now); !strings.Contains(f, tc.want) {
			t.Errorf("%s: fault %q, want it to contain %q", name, f, tc.want)
		}
	}
}
