package ra

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
)

// csrFuzzIdentifiers reads one identifier a line: an IP address when the
// line parses as one, else a DNS name.
func csrFuzzIdentifiers(s string) []acme.Identifier {
	var ids []acme.Identifier
	for line := range strings.SplitSeq(s, "\n") {
		if _, err := netip.ParseAddr(line); err == nil {
			ids = append(ids, acme.Identifier{Type: acme.IdentifierIP, Value: line})
		} else {
			ids = append(ids, acme.Identifier{Type: acme.IdentifierDNS, Value: line})
		}
	}
	return ids
}

// asciiLower lower-cases the ASCII letters of s; ok is false when s has
// any other byte outside printable ASCII. DNS names compare so (RFC 4343):
// no Unicode case folding.
func asciiLower(s string) (string, bool) {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c < 0x21 || c > 0x7e:
			return "", false
		case c >= 'A' && c <= 'Z':
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b), true
}

// checkAcceptedCSR fails t unless the CSR that CheckCSR accepted for the
// normalised order identifiers ids names exactly them: its DNS and IP SANs
// and its common name, each normalised as newOrder normalises identifiers
// (ASCII case folding for DNS names, canonical IP text), form the set ids,
// and it carries no other kind of name.
func checkAcceptedCSR(t *testing.T, der []byte, ids []acme.Identifier) {
	t.Helper()
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil || csr.CheckSignature() != nil {
		t.Fatalf("accepted a CSR that does not parse or verify: %v", err)
	}
	if len(csr.EmailAddresses)+len(csr.URIs) > 0 {
		t.Fatalf("accepted a CSR with e-mail or URI SANs %v %v", csr.EmailAddresses, csr.URIs)
	}
	if CheckKey(csr.PublicKey) != nil {
		t.Fatalf("accepted a CSR with key %s", KeyType(csr.PublicKey))
	}
	var got []acme.Identifier
	dnsName := func(n string) acme.Identifier {
		v, ok := asciiLower(n)
		if !ok {
			t.Fatalf("accepted a CSR naming %q, not an ASCII DNS name", n)
		}
		return acme.Identifier{Type: acme.IdentifierDNS, Value: v}
	}
	for _, n := range csr.DNSNames {
		got = append(got, dnsName(n))
	}
	for _, ip := range csr.IPAddresses {
		addr, err := netip.ParseAddr(ip.String())
		if err != nil {
			t.Fatalf("accepted a CSR with IP SAN %v", ip)
		}
		got = append(got, acme.Identifier{Type: acme.IdentifierIP, Value: addr.Unmap().String()})
	}
	if cn := csr.Subject.CommonName; cn != "" {
		if addr, err := netip.ParseAddr(cn); err == nil {
			got = append(got, acme.Identifier{Type: acme.IdentifierIP, Value: addr.Unmap().String()})
		} else {
			got = append(got, dnsName(cn))
		}
	}
	for _, id := range got {
		if !slices.Contains(ids, id) {
			t.Fatalf("accepted a CSR naming %v, not an order identifier (order %v)", id, ids)
		}
	}
	for _, id := range ids {
		if !slices.Contains(got, id) {
			t.Fatalf("accepted a CSR without order identifier %v (CSR names %v)", id, got)
		}
	}
}

// FuzzCheckCSR checks the finalize CSR check (RFC 8555 §7.4): CheckCSR
// never panics on arbitrary DER, refuses only with badCSR, and accepts
// no CSR whose names differ from the order's identifiers after
// normalisation. Besides the raw DER, each input builds a well-signed CSR
// from fuzzed names (so that the name comparison is reached); its key is
// the account key when sameKey is set, which must be refused.
func FuzzCheckCSR(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	acctKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	mk := func(cn string, names []string) []byte {
		tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}
		for _, n := range names {
			if ip := net.ParseIP(n); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, n)
			}
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
		if err != nil {
			return nil
		}
		return der
	}
	const order = "a.example.test\n*.example.test\n::1"
	for _, s := range []struct{ cn, names string }{
		{"", "A.example.test\n*.example.test\n::1"},
		{"a.example.test", "a.example.test\n*.example.test\n::1"},
		{"a.example.test", "*.example.test\n::1"},
		{"b.example.test", "a.example.test\n*.example.test\n::1"},
		{"", "a.example.test\n::1"},
		{"", "a.example.test\n*.example.test\nc.example.test\n::1"},
		{"::1", "a.example.test\n*.example.test"},
		{"0:0::1", "a.example.test\n*.example.test\n0:0:0:0:0:0:0:1"},
		{"a.example.test.", "a.example.test\n*.example.test\n::1"},
	} {
		f.Add(mk(s.cn, strings.Split(s.names, "\n")), s.cn, s.names, order, false)
	}
	f.Add(mk("", []string{"192.0.2.1"}), "::ffff:192.0.2.1", "::ffff:c000:201", "192.0.2.1", false)
	f.Add(mk("", []string{"a.example.test"}), "", "a.example.test", "a.example.test", true)
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01}, "", "", "a.example.test", false)

	f.Fuzz(func(t *testing.T, der []byte, cn, names, order string, sameKey bool) {
		ids, err := NormalizeIdentifiers(csrFuzzIdentifiers(order))
		if err != nil {
			return
		}
		check := func(der []byte, acct *ecdsa.PrivateKey) {
			csr, err := CheckCSR(der, ids, acct.Public())
			if err != nil {
				if p, ok := acme.AsProblem(err); !ok || p.Type != acme.BadCSR {
					t.Fatalf("refused with %v, want a badCSR problem", err)
				}
				return
			}
			if csr == nil {
				t.Fatal("accepted without returning the CSR")
			}
			if acct == key {
				t.Fatal("accepted a CSR whose key is the account key")
			}
			checkAcceptedCSR(t, der, ids)
		}
		check(der, acctKey)
		if built := mk(cn, strings.Split(names, "\n")); built != nil {
			acct := acctKey
			if sameKey {
				acct = key
			}
			check(built, acct)
		}
	})
}
