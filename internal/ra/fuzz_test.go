package ra

// Fuzz targets for what ACME clients send that the RA parses itself: RFC
// 9773 certificate identifiers (renewalInfo, newOrder "replaces") and
// newOrder identifiers (RFC 8555 §7.1.4, RFC 8738). The seeds are the
// inputs of TestParseCertID and TestNormalizeIdentifiers; findings are
// kept in testdata/fuzz/FuzzXxx/ and replayed by plain `go test`.
//
//	go test -run '^$' -fuzz '^FuzzParseCertID$' -fuzztime 3m -parallel 1 ./internal/ra/

import (
	"encoding/base64"
	"math/big"
	"net/netip"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
)

// formatCertID is the RFC 9773 §4.1 text of id: base64url(AKI) "."
// base64url(serial DER content octets), both unpadded.
func formatCertID(t *testing.T, id CertID) string {
	t.Helper()
	n, ok := new(big.Int).SetString(id.Serial, 16)
	if !ok || n.Sign() < 0 {
		t.Fatalf("serial %q is not non-negative hex", id.Serial)
	}
	ser := n.Bytes()
	if len(ser) == 0 || ser[0]&0x80 != 0 {
		ser = append([]byte{0}, ser...)
	}
	return base64.RawURLEncoding.EncodeToString(id.AKI) + "." + base64.RawURLEncoding.EncodeToString(ser)
}

// FuzzParseCertID: ParseCertID never panics, refuses with a malformed
// problem, and accepts only the one canonical text of a certificate
// identifier (it formats back to the input), with the serial in the
// stored form (lower-case hex, no leading zeros).
func FuzzParseCertID(f *testing.F) {
	aki := base64.RawURLEncoding.EncodeToString([]byte{1, 2, 3})
	enc := func(b ...byte) string { return aki + "." + base64.RawURLEncoding.EncodeToString(b) }
	for _, s := range []string{enc(0x01), enc(0x00, 0x87, 0x65), enc(0x7f, 0x00), "", ".", aki, aki + ".", "." + aki,
		enc(0x80), enc(0x00, 0x01), enc(1) + ".x", "a+b." + aki, aki + "=.AQ", enc(make([]byte, 22)...),
		enc(append([]byte{0}, make([]byte, 20)...)...)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseCertID(s)
		if err != nil {
			if p, ok := acme.AsProblem(err); !ok || p.Type != acme.Malformed {
				t.Fatalf("ParseCertID(%q) = %v, want a malformed problem", s, err)
			}
			return
		}
		if id.Serial == "" || strings.ToLower(id.Serial) != id.Serial || len(id.Serial) > 1 && id.Serial[0] == '0' {
			t.Fatalf("ParseCertID(%q): serial %q is not lower-case hex without leading zeros", s, id.Serial)
		}
		if got := formatCertID(t, id); got != s {
			t.Fatalf("ParseCertID(%q) accepted a text other than the canonical %q of the same certificate identifier", s, got)
		}
	})
}

// FuzzNormalizeIdentifiers: NormalizeIdentifiers never panics and refuses
// with malformed, rejectedIdentifier or unsupportedIdentifier; what it
// accepts is ASCII (RFC 8555 §7.1.4) and already normal: a DNS value is
// the input in ASCII lower case, passes CheckDNSName (so has no upper
// case and no trailing dot); an IP value is the canonical text of the
// address (RFC 5952), which parses back to itself; normalising the output
// again gives it unchanged.
func FuzzNormalizeIdentifiers(f *testing.F) {
	for _, s := range []struct{ typ, value string }{
		{"dns", "WWW.Example.TEST"}, {"dns", "*.example.test"}, {"dns", "xn--bcher-kva.example"}, {"dns", "XN--Caf-DMA.example"},
		{"dns", "a-b--c.example"}, {"dns", "localhost"}, {"dns", "co.uk"}, {"ip", "127.0.0.1"}, {"ip", "2001:DB8:0:0::1"},
		{"ip", "::ffff:10.0.0.1"}, {"email", "a@b.c"}, {"dns", ""}, {"dns", "a..b"}, {"dns", "-a.test"}, {"dns", "a.test."},
		{"dns", "*.*.a.test"}, {"dns", "a.*.test"}, {"dns", "*.test"}, {"dns", "exa mple.test"}, {"dns", "10.0.0.1"},
		{"dns", "192.0.2.01"}, {"dns", "a.123"}, {"dns", "ab--cd.example"}, {"dns", "xn--zz.example"},
		{"dns", "www.xn--cafe-yvc.example"}, {"dns", "com"}, {"dns", "XN--P1AI"}, {"dns", "abc.onion"},
		{"dns", "bücher.example"}, {"dns", "İ.example"}, {"ip", "999.1.1.1"}, {"ip", "fe80::1%eth0"}, {"ip", "0.0.0.0"}, {"ip", "::"}, {"ip", "ff02::1"}, {"ip", "::ffff:240.0.0.1"},
	} {
		f.Add(s.typ, s.value)
	}
	f.Fuzz(func(t *testing.T, typ, value string) {
		in := acme.Identifier{Type: typ, Value: value}
		out, err := NormalizeIdentifiers([]acme.Identifier{in})
		if err != nil {
			p, ok := acme.AsProblem(err)
			if !ok || p.Type != acme.Malformed && p.Type != acme.RejectedIdentifier && p.Type != acme.UnsupportedIdentifier {
				t.Fatalf("%+v: %v, want malformed, rejectedIdentifier or unsupportedIdentifier", in, err)
			}
			if p.Identifier == nil || *p.Identifier != in {
				t.Fatalf("%+v: the problem names identifier %+v", in, p.Identifier)
			}
			return
		}
		if len(out) != 1 || out[0].Type != in.Type {
			t.Fatalf("%+v: normalised to %+v", in, out)
		}
		v := out[0].Value
		switch in.Type {
		case acme.IdentifierDNS:
			if want, ok := asciiLower(value); !ok || v != want {
				t.Fatalf("%+v: normalised to %q, want the ASCII lower case %q of an ASCII name", in, v, want)
			}
			if why := acme.CheckDNSName(v); why != "" || strings.HasSuffix(v, ".") || strings.ToLower(v) != v {
				t.Fatalf("%+v: accepted %q, which is not a lower-case name without trailing dot (%s)", in, v, why)
			}
		case acme.IdentifierIP:
			a, err := netip.ParseAddr(v)
			if err != nil || a.String() != v || a.Is4In6() || a.Zone() != "" {
				t.Fatalf("%+v: accepted %q, not the canonical text of an address (%v)", in, v, err)
			}
		default:
			t.Fatalf("%+v: an identifier of type %q was accepted", in, in.Type)
		}
		again, err := NormalizeIdentifiers(out)
		if err != nil || len(again) != 1 || again[0] != out[0] {
			t.Fatalf("%+v: normalising %+v again gave %+v, %v", in, out[0], again, err)
		}
	})
}
