package ra

import (
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
)

// TestIPv4MappedIdentifierRejected: an ip identifier holding an
// IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2) is rejectedIdentifier, its
// subproblem naming it as sent, and the detail naming the IPv4 address to
// order instead: RFC 8738 §3 wants the canonical textual form of the
// address, and a mapped one would alias the IPv4 address (before, it was
// silently ordered as that address). The same IPv4 and other IPv6
// addresses are accepted.
func TestIPv4MappedIdentifierRejected(t *testing.T) {
	for _, v := range []string{"::ffff:127.0.0.1", "::ffff:8.8.8.8", "::FFFF:10.0.0.1", "::ffff:c000:207", "0:0:0:0:0:ffff:192.0.2.7"} {
		_, err := NormalizeIdentifiers([]acme.Identifier{{Type: acme.IdentifierIP, Value: v}})
		p, ok := acme.AsProblem(err)
		if !ok || p.Type != acme.RejectedIdentifier || p.Identifier == nil || p.Identifier.Value != v || !strings.Contains(p.Detail, "IPv4-mapped") {
			t.Errorf("%s: %v, want rejectedIdentifier naming it IPv4-mapped", v, err)
		}
	}
	_, err := NormalizeIdentifiers([]acme.Identifier{{Type: acme.IdentifierIP, Value: "8.8.8.8"}, {Type: acme.IdentifierIP, Value: "::ffff:8.8.8.8"}})
	wantP, ok := acme.AsProblem(err)
	if !ok || wantP.Type != acme.RejectedIdentifier || !strings.Contains(wantP.Detail, "order 8.8.8.8") {
		t.Errorf("an IPv4 address and its mapped form: %v, want rejectedIdentifier saying to order 8.8.8.8", err)
	}
	for _, v := range []string{"8.8.8.8", "2001:db8::ffff:808:808", "64:ff9b::808:808"} {
		if got, err := NormalizeIdentifiers([]acme.Identifier{{Type: acme.IdentifierIP, Value: v}}); err != nil || got[0].Value != v {
			t.Errorf("%s: %v, %v; want accepted as it is", v, got, err)
		}
	}
}

// TestNonCanonicalIPIdentifierMalformed: RFC 8738 §3 requires an ip
// identifier's value in the address's canonical text form (RFC 5952 §4 for
// IPv6), so another spelling of an address is malformed, its detail naming
// the form to order; before, it was accepted and silently rewritten.
func TestNonCanonicalIPIdentifierMalformed(t *testing.T) {
	cases := map[string]string{
		"::0001":               "::1",
		"2001:DB8::1":          "2001:db8::1",
		"2001:db8:0:0:0:0:0:1": "2001:db8::1",
		"2001:0db8::1":         "2001:db8::1",
		"2001:db8:0:1:0:0:0:1": "2001:db8:0:1::1",
		"2001:db8::1:0:0:0:1":  "2001:db8:0:1::1",
		"2001:db8:0:0:1:0:0:1": "2001:db8::1:0:0:1",
		"fe80:0:0:0:0:0:0:1":   "fe80::1",
	}
	for in, canon := range cases {
		_, err := NormalizeIdentifiers([]acme.Identifier{{Type: acme.IdentifierIP, Value: in}})
		p, ok := acme.AsProblem(err)
		if !ok || p.Type != acme.Malformed || p.Identifier == nil || p.Identifier.Value != in || !strings.Contains(p.Detail, "canonical") || !strings.Contains(p.Detail, `"`+canon+`"`) {
			t.Errorf("%s: %v, want malformed naming %q", in, err, canon)
		}
	}
	for _, v := range []string{"2001:db8::1", "2001:db8:0:1::1", "2001:db8::1:0:0:1", "192.0.2.1"} {
		if got, err := NormalizeIdentifiers([]acme.Identifier{{Type: acme.IdentifierIP, Value: v}}); err != nil || got[0].Value != v {
			t.Errorf("%s: %v, %v; want accepted as it is", v, got, err)
		}
	}
}
