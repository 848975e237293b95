package ra

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
)

func TestNormalizeIdentifiers(t *testing.T) {
	ok := []struct {
		in   acme.Identifier
		want string
	}{
		{acme.Identifier{Type: "dns", Value: "WWW.Example.TEST"}, "www.example.test"},
		{acme.Identifier{Type: "dns", Value: "*.example.test"}, "*.example.test"},
		{acme.Identifier{Type: "dns", Value: "xn--bcher-kva.example"}, "xn--bcher-kva.example"},
		{acme.Identifier{Type: "dns", Value: "XN--Caf-DMA.example"}, "xn--caf-dma.example"},
		{acme.Identifier{Type: "dns", Value: "xn--zca.xn--e1afmkfd.example"}, "xn--zca.xn--e1afmkfd.example"}, // "ß.пример"
		{acme.Identifier{Type: "dns", Value: "xn--mgba3a4f16a.example"}, "xn--mgba3a4f16a.example"},           // right-to-left
		{acme.Identifier{Type: "dns", Value: "a-b--c.example"}, "a-b--c.example"},
		{acme.Identifier{Type: "dns", Value: "localhost"}, "localhost"},
		{acme.Identifier{Type: "dns", Value: "co.uk"}, "co.uk"},
		{acme.Identifier{Type: "dns", Value: "com.test"}, "com.test"},
		{acme.Identifier{Type: "ip", Value: "127.0.0.1"}, "127.0.0.1"},
		{acme.Identifier{Type: "ip", Value: "2001:db8::1"}, "2001:db8::1"},
	}
	for _, tt := range ok {
		got, err := NormalizeIdentifiers([]acme.Identifier{tt.in})
		if err != nil || len(got) != 1 || got[0].Value != tt.want {
			t.Errorf("%v: got %v, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	bad := []struct {
		in   acme.Identifier
		want acme.ProblemType
	}{
		{acme.Identifier{Type: "email", Value: "a@b.c"}, acme.UnsupportedIdentifier},
		{acme.Identifier{Type: "ip", Value: "2001:DB8:0:0::1"}, acme.Malformed}, // not RFC 5952 §4 text (RFC 8738 §3)
		{acme.Identifier{Type: "dns", Value: ""}, acme.RejectedIdentifier},
		{acme.Identifier{Type: "dns", Value: "a..b"}, acme.RejectedIdentifier},
		{acme.Identifier{Type: "dns", Value: "-a.test"}, acme.RejectedIdentifier},
		{acme.Identifier{Type: "dns", Value: "a.test."}, acme.RejectedIdentifier},
		{acme.Identifier{Type: "dns", Value: "*.*.a.test"}, acme.RejectedIdentifier},
		{acme.Identifier{Type: "dns", Value: "a.*.test"}, acme.RejectedIdentifier},
		{acme.Identifier{Type: "dns", Value: "*.test"}, acme.RejectedIdentifier},
		{acme.Identifier{Type: "dns", Value: "exa mple.test"}, acme.RejectedIdentifier},
		{acme.Identifier{Type: "dns", Value: "10.0.0.1"}, acme.RejectedIdentifier},
		{acme.Identifier{Type: "dns", Value: "192.0.2.01"}, acme.RejectedIdentifier}, // dotted decimal with a leading zero: no host name (RFC 1123 §2.1)
		{acme.Identifier{Type: "dns", Value: "a.123"}, acme.RejectedIdentifier},      // all-digit last label
		// Names the certificate lint refuses at finalization (zlint) are
		// refused here, before the client proves control of them.
		{acme.Identifier{Type: "dns", Value: "ab--cd.example"}, acme.RejectedIdentifier},           // reserved LDH label
		{acme.Identifier{Type: "dns", Value: "*.ab--cd.example"}, acme.RejectedIdentifier},         // same, under a wildcard
		{acme.Identifier{Type: "dns", Value: "xn--zz.example"}, acme.RejectedIdentifier},           // Punycode does not decode
		{acme.Identifier{Type: "dns", Value: "www.xn--cafe-yvc.example"}, acme.RejectedIdentifier}, // decodes to NFD "café"
		{acme.Identifier{Type: "dns", Value: "xn--a.example"}, acme.RejectedIdentifier},            // decodes to U+0080, a control character
		{acme.Identifier{Type: "dns", Value: "xn--a-ecp.example"}, acme.RejectedIdentifier},        // "a⒈": U+2488, disallowed by IDNA
		{acme.Identifier{Type: "dns", Value: "*.xn--a.example"}, acme.RejectedIdentifier},          // the same under a wildcard
		{acme.Identifier{Type: "dns", Value: "xn--ls8h.example"}, acme.RejectedIdentifier},         // an emoji (U+1F4A9): IDNA2008 DISALLOWED, UTS #46 valid
		{acme.Identifier{Type: "dns", Value: "xn--i-7iq.example"}, acme.RejectedIdentifier},        // "i❤": a symbol
		{acme.Identifier{Type: "dns", Value: "*.xn--n3h.example"}, acme.RejectedIdentifier},        // "☃" under a wildcard
		{acme.Identifier{Type: "dns", Value: "com"}, acme.RejectedIdentifier},                      // bare TLD
		{acme.Identifier{Type: "dns", Value: "XN--P1AI"}, acme.RejectedIdentifier},                 // bare IDN TLD
		{acme.Identifier{Type: "dns", Value: "abc.onion"}, acme.RejectedIdentifier},
		{acme.Identifier{Type: "dns", Value: "\u212Aa.example.test"}, acme.RejectedIdentifier}, // Kelvin sign, which strings.ToLower makes "k"
		{acme.Identifier{Type: "dns", Value: "*.x.onion"}, acme.RejectedIdentifier},
		{acme.Identifier{Type: "ip", Value: "999.1.1.1"}, acme.Malformed},
		{acme.Identifier{Type: "ip", Value: "fe80::1%eth0"}, acme.Malformed},
		// Addresses validation never connects to (docs/validation.md,
		// "Always refused"): no challenge could validate them.
		{acme.Identifier{Type: "ip", Value: "0.0.0.0"}, acme.RejectedIdentifier},
		{acme.Identifier{Type: "ip", Value: "::"}, acme.RejectedIdentifier},
		{acme.Identifier{Type: "ip", Value: "255.255.255.255"}, acme.RejectedIdentifier},
		{acme.Identifier{Type: "ip", Value: "224.0.0.1"}, acme.RejectedIdentifier},
		{acme.Identifier{Type: "ip", Value: "ff02::1"}, acme.RejectedIdentifier},
		{acme.Identifier{Type: "ip", Value: "::ffff:240.0.0.1"}, acme.RejectedIdentifier},
		{acme.Identifier{Type: "ip", Value: "::ffff:10.0.0.1"}, acme.RejectedIdentifier}, // IPv4-mapped: order 10.0.0.1
	}
	for _, tt := range bad {
		_, err := NormalizeIdentifiers([]acme.Identifier{tt.in})
		p, isP := acme.AsProblem(err)
		if !isP || p.Type != tt.want || p.Identifier == nil {
			t.Errorf("%v: got %v; want %s with the identifier", tt.in, err, tt.want)
		}
	}
	got, err := NormalizeIdentifiers([]acme.Identifier{{Type: "dns", Value: "a.test"}, {Type: "dns", Value: "A.TEST"}})
	if err != nil || len(got) != 1 {
		t.Errorf("duplicates not merged: %v, %v", got, err)
	}
	_, err = NormalizeIdentifiers([]acme.Identifier{{Type: "dns", Value: "-x"}, {Type: "ip", Value: "x"}})
	if p, _ := acme.AsProblem(err); p == nil || len(p.Subproblems) != 2 {
		t.Errorf("two bad identifiers must give two subproblems: %v", err)
	}
	if _, err := NormalizeIdentifiers(nil); err == nil {
		t.Error("no identifiers accepted")
	}
}

func TestCheckContacts(t *testing.T) {
	for _, c := range []string{"mailto:admin@example.com", "MAILTO:a.b+c@sub.example.org"} {
		if _, err := NormalizeContacts([]string{c}); err != nil {
			t.Errorf("%q refused: %v", c, err)
		}
	}
	for c, want := range map[string]acme.ProblemType{
		"tel:+15551234":                 acme.UnsupportedContact,
		"https://example.com":           acme.UnsupportedContact,
		"mailto:":                       acme.InvalidContact,
		"mailto:a@b@c":                  acme.InvalidContact,
		"mailto:x@example.com?subject=": acme.InvalidContact,
		"mailto:a@example.com,b@e.com":  acme.InvalidContact,
		"mailto:Name <a@example.com>":   acme.InvalidContact,
		"mailto:a@localhost":            acme.InvalidContact,
		"mailto:a@ab--cd.example":       acme.InvalidContact, // reserved label
		"mailto:a@xn--zz.example":       acme.InvalidContact, // A-label that does not decode
	} {
		_, err := NormalizeContacts([]string{c})
		p, _ := acme.AsProblem(err)
		if p == nil || p.Type != want {
			t.Errorf("%q: got %v, want %s", c, p, want)
		}
	}
}

func csr(t *testing.T, key crypto.Signer, cn string, dns []string, ips []net.IP) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: dns, IPAddresses: ips}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestCheckCSR(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	acctKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ids := []acme.Identifier{{Type: "dns", Value: "a.example.test"}, {Type: "dns", Value: "*.example.test"}, {Type: "ip", Value: "::1"}}
	tests := []struct {
		name string
		der  []byte
		want acme.ProblemType // "" = accepted
	}{
		{"exact set, mixed case, no CN", csr(t, p256, "", []string{"A.example.test", "*.example.test"}, []net.IP{net.ParseIP("::1")}), ""},
		{"CN among identifiers", csr(t, p256, "a.example.test", []string{"a.example.test", "*.example.test"}, []net.IP{net.ParseIP("::1")}), ""},
		{"CN only carries a name", csr(t, p256, "a.example.test", []string{"*.example.test"}, []net.IP{net.ParseIP("::1")}), ""},
		{"CN not an identifier", csr(t, p256, "b.example.test", []string{"a.example.test", "*.example.test"}, []net.IP{net.ParseIP("::1")}), acme.BadCSR},
		{"missing name", csr(t, p256, "", []string{"a.example.test"}, []net.IP{net.ParseIP("::1")}), acme.BadCSR},
		{"extra name", csr(t, p256, "", []string{"a.example.test", "*.example.test", "c.example.test"}, []net.IP{net.ParseIP("::1")}), acme.BadCSR},
		{"missing IP", csr(t, p256, "", []string{"a.example.test", "*.example.test"}, nil), acme.BadCSR},
		{"P-521 key", csr(t, p521, "", []string{"a.example.test", "*.example.test"}, []net.IP{net.ParseIP("::1")}), acme.BadCSR},
		{"RSA 1024 key", csr(t, rsa1024, "", []string{"a.example.test", "*.example.test"}, []net.IP{net.ParseIP("::1")}), acme.BadCSR},
		{"account key", csr(t, acctKey, "", []string{"a.example.test", "*.example.test"}, []net.IP{net.ParseIP("::1")}), acme.BadCSR},
		{"garbage", []byte{0x30, 0x03, 0x02, 0x01, 0x01}, acme.BadCSR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CheckCSR(tt.der, ids, acctKey.Public())
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			p, _ := acme.AsProblem(err)
			if p == nil || p.Type != tt.want {
				t.Fatalf("got %v, want %s", err, tt.want)
			}
		})
	}
	// A CN with the Kelvin sign (U+212A), which strings.ToLower folds to
	// "k": not the order's identifier k.example.test.
	kIDs := []acme.Identifier{{Type: "dns", Value: "k.example.test"}}
	if _, err := CheckCSR(csr(t, p256, "\u212A.example.test", []string{"k.example.test"}, nil), kIDs, nil); err == nil {
		t.Fatal("a CSR whose CN has the Kelvin sign was accepted for k.example.test")
	}
	// A tampered signature.
	der := csr(t, p256, "", []string{"a.example.test", "*.example.test"}, []net.IP{net.ParseIP("::1")})
	der[len(der)-3] ^= 0xff
	if p, _ := acme.AsProblem(func() error { _, err := CheckCSR(der, ids, nil); return err }()); p == nil || p.Type != acme.BadCSR {
		t.Fatalf("tampered CSR: got %v, want badCSR", p)
	}
}

// TestCheckKeyNamesNoGoType: a CSR key of an algorithm other than RSA or
// ECDSA is refused with badCSR naming the algorithm, not the Go type
// ("got ed25519.PublicKey": a problem carries no internals).
func TestCheckKeyNamesNoGoType(t *testing.T) {
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, err = CheckCSR(csr(t, ed, "", []string{"a.example.test"}, nil), []acme.Identifier{{Type: "dns", Value: "a.example.test"}}, nil)
	p, _ := acme.AsProblem(err)
	if p == nil || p.Type != acme.BadCSR || !strings.Contains(p.Detail, "Ed25519") || strings.Contains(p.Detail, "PublicKey") {
		t.Fatalf("got %v; want badCSR naming Ed25519 and no Go type", err)
	}
	for _, k := range []crypto.PublicKey{struct{}{}, &ecdh.PublicKey{}} {
		p, _ := acme.AsProblem(CheckKey(k))
		if p == nil || p.Type != acme.BadCSR || strings.Contains(p.Detail, "struct") || strings.Contains(p.Detail, "ecdh") {
			t.Fatalf("%T: got %v; want badCSR without the Go type", k, p)
		}
	}
}

// TestCheckCSRNamesDetail: the badCSR detail of a CSR whose names differ
// from the order's names only what differs ("missing [], not in the
// order [c.example.test]" named an empty list).
func TestCheckCSRNamesDetail(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ids := []acme.Identifier{{Type: "dns", Value: "a.example.test"}, {Type: "dns", Value: "b.example.test"}}
	for _, tt := range []struct {
		dns  []string
		want string
	}{
		{[]string{"a.example.test", "b.example.test", "c.example.test"}, "(not in the order c.example.test)"},
		{[]string{"a.example.test"}, "(missing b.example.test)"},
		{[]string{"a.example.test", "c.example.test"}, "(missing b.example.test; not in the order c.example.test)"},
		// An address of the order sent as a dNSName too: the detail says
		// which of the two is not in the order.
		{[]string{"a.example.test", "b.example.test", "192.0.2.1"}, "(not in the order 192.0.2.1 as a DNS name (an IP address is an iPAddress SAN, RFC 8738 §3))"},
	} {
		_, err := CheckCSR(csr(t, key, "", tt.dns, []net.IP{net.ParseIP("192.0.2.1")}), append(ids, acme.Identifier{Type: "ip", Value: "192.0.2.1"}), nil)
		if p, _ := acme.AsProblem(err); p == nil || p.Type != acme.BadCSR || !strings.HasSuffix(p.Detail, tt.want) {
			t.Errorf("%v: got %v; want badCSR ending %q", tt.dns, err, tt.want)
		}
	}
}

// TestCheckCSRRefusesSHA1: a CSR signed with SHA-1 is refused with badCSR
// naming the algorithm; crypto/x509 verifies SHA-1 signatures on CSRs, so
// it was accepted as proof of possession. SHA-256 and RSA-PSS are
// accepted.
func TestCheckCSRRefusesSHA1(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ids := []acme.Identifier{{Type: "dns", Value: "a.example.test"}}
	for _, tt := range []struct {
		key crypto.Signer
		alg x509.SignatureAlgorithm
		ok  bool
	}{
		{rsaKey, x509.SHA1WithRSA, false},
		{ecKey, x509.ECDSAWithSHA1, false},
		{rsaKey, x509.SHA256WithRSA, true},
		{rsaKey, x509.SHA256WithRSAPSS, true},
		{ecKey, x509.ECDSAWithSHA384, true},
	} {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"a.example.test"}, SignatureAlgorithm: tt.alg}, tt.key)
		if err != nil {
			t.Fatal(err)
		}
		_, err = CheckCSR(der, ids, nil)
		if tt.ok {
			if err != nil {
				t.Errorf("%v: refused: %v", tt.alg, err)
			}
			continue
		}
		if p, _ := acme.AsProblem(err); p == nil || p.Type != acme.BadCSR || !strings.Contains(p.Detail, tt.alg.String()) {
			t.Errorf("%v: got %v; want badCSR naming the algorithm", tt.alg, err)
		}
	}
}
