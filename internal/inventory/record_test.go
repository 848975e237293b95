package inventory_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/inventory"
)

// TestRecordNamesFromCommonName: a certificate without SANs is listed
// under its subject common name only when the CN is a fully qualified DNS
// name or an IP address and the certificate is not a CA; SANs always win.
func TestRecordNamesFromCommonName(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	mk := func(cn string, isCA bool, sans ...string) *x509.Certificate {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn}, DNSNames: sans,
			NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: isCA, BasicConstraintsValid: true}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		must(t, err)
		c, err := x509.ParseCertificate(der)
		must(t, err)
		return c
	}
	for _, tc := range []struct {
		cn   string
		ca   bool
		sans []string
		want []string
	}{
		{"Host.Example.COM", false, nil, []string{"host.example.com"}},
		{"*.example.com", false, nil, []string{"*.example.com"}},
		{"192.0.2.10", false, nil, []string{"192.0.2.10"}},
		{"2001:db8::1", false, nil, []string{"2001:db8::1"}},
		{"R11", false, nil, nil},
		{"ACME Corp Root CA", false, nil, nil},
		{"localhost", false, nil, nil},
		{"-bad-.example.com", false, nil, nil},
		{"ca.example.com", true, nil, nil},
		{"", false, nil, nil},
		{"cn.example.com", false, []string{"san.example.com"}, []string{"san.example.com"}},
	} {
		got := inventory.Record(mk(tc.cn, tc.ca, tc.sans...), "", "imported").SANs
		if !slices.Equal(got, tc.want) {
			t.Errorf("CN %q (CA %v, SANs %v): names %q, want %q", tc.cn, tc.ca, tc.sans, got, tc.want)
		}
	}
}

// TestAuditObjectID: serials as openssl prints them are normalised for
// certificate events (and without a type when they have colons or upper
// case); other object IDs are kept as given.
func TestAuditObjectID(t *testing.T) {
	for _, tc := range []struct{ typ, id, want string }{
		{"certificate", "01:A2:2E", "1a22e"},
		{"certificate", "0a77", "a77"},
		{"", "01A22E", "1a22e"},
		{"", "01:a2:2e", "1a22e"},
		{"", "0a77", "0a77"},                                          // a token ID may begin with 0
		{"token", "0F3A", "0F3A"},                                     // another type: as given
		{"", "AaIuXZc5mxybuly7wNUPzA", "AaIuXZc5mxybuly7wNUPzA"},      // an account ID
		{"certificate", "77-0123456789abcdef", "77-0123456789abcdef"}, // an imported certificate's key
		{"certificate", "0:77-0123456789ABCDEF", "77-0123456789abcdef"},
	} {
		if got := inventory.AuditObjectID(tc.typ, tc.id); got != tc.want {
			t.Errorf("AuditObjectID(%q, %q) = %q, want %q", tc.typ, tc.id, got, tc.want)
		}
		// What AuditObjectID takes for a certificate's key is not refused.
		if err := inventory.CheckAuditObjectID(tc.typ, tc.id); err != nil {
			t.Errorf("CheckAuditObjectID(%q, %q): %v", tc.typ, tc.id, err)
		}
	}
	for _, bad := range []string{"zz", "77-0123", "77-0123456789abcdeg", "-0123456789abcdef", "77-0123456789abcdef-1"} {
		if err := inventory.CheckAuditObjectID("certificate", bad); err == nil || !strings.Contains(err.Error(), "is not a certificate serial") {
			t.Errorf("CheckAuditObjectID(certificate, %q): %v, want refused", bad, err)
		}
	}
}
