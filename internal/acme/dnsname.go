package acme

import (
	"net/netip"
	"strconv"
	"strings"

	zlintutil "github.com/zmap/zlint/v3/util"
	"golang.org/x/net/idna"
	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
)

// CheckDNSName returns why the lower-case name is not an acceptable DNS
// identifier (RFC 8555 §7.1.4, RFC 1123 LDH labels, a leading "*."
// wildcard label allowed), or "" when it is: the rules a newOrder's DNS
// identifiers pass, which also keep a name out of every certificate the
// issuance lint would refuse for it. The reason is a short phrase in
// lower case, for a message such as "invalid DNS name %q: %s".
func CheckDNSName(name string) string {
	if name == "" {
		return "empty"
	}
	if len(name) > 253 {
		return "longer than 253 characters"
	}
	if strings.HasSuffix(name, ".") {
		return "trailing dot"
	}
	base := name
	if strings.HasPrefix(name, "*.") {
		base = name[2:]
	}
	if strings.Contains(base, "*") {
		return "a wildcard may only be the whole leftmost label"
	}
	if _, err := netip.ParseAddr(base); err == nil {
		return "an IP address must use the \"ip\" identifier type (RFC 8738)"
	}
	labels := strings.Split(base, ".")
	for _, l := range labels {
		if l == "" {
			return "empty label"
		}
		if len(l) > 63 {
			return "label longer than 63 characters"
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "label starts or ends with a hyphen"
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "only letters, digits and hyphens are allowed (use the A-label form of IDNs)"
			}
		}
		if why := checkReservedLabel(l); why != "" {
			return why
		}
	}
	if strings.HasPrefix(name, "*.") && len(labels) < 2 {
		return "a wildcard needs at least two labels below it"
	}
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
		// RFC 1123 §2.1: the highest-level label is alphabetic, so a host
		// name never has the dotted-decimal form; "192.0.2.01" (which
		// netip refuses for its leading zero) is no DNS name either.
		return "the last label is all digits: not a host name (RFC 1123 §2.1); an IP address must use the \"ip\" identifier type (RFC 8738)"
	}
	if labels[len(labels)-1] == "onion" {
		return "onion names (RFC 7686) are not supported: they cannot be validated through the DNS"
	}
	if zlintutil.IsInTLDMap(base) {
		return "a top-level domain of the DNS root zone cannot be certified"
	}
	return ""
}

// LowerASCII returns s with the ASCII letters A–Z in lower case and every
// other byte unchanged: the case folding of DNS names (RFC 4343 §3), which,
// unlike strings.ToLower, never turns a non-ASCII character into an ASCII
// one (the Kelvin sign U+212A into "k").
func LowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// checkReservedLabel returns why the lower-case LDH label l is refused as
// a reserved LDH label (RFC 5890 §2.3.1: "--" in its third and fourth
// characters), or "". Only IDNA A-labels ("xn--") are allowed among them,
// and only if their Punycode decodes (RFC 3492) to a label in Unicode
// normalization form C (RFC 5891 §5.4, RFC 8399): the certificate lint
// refuses any other such name at finalization (zlint
// e_dnsname_contains_prohibited_reserved_label,
// e_international_dns_name_not_unicode, e_international_dns_name_not_nfc);
// and to a valid U-label (RFC 5891 §5.4: no code point IDNA disallows,
// such as a control character, "xn--a" being U+0080, and the bidi and
// joiner rules; golang.org/x/net/idna's Registration profile, and no
// symbol such as an emoji, which IDNA2008 disallows and that profile lets
// through: RFC 5892, checked with PRECIS's IdentifierClass), which the
// lint does not check (a CA/B BR §7.1.4.2 dNSName's XN-Label must be a
// valid A-label, RFC 5890 §2.3.2.1).
func checkReservedLabel(l string) string {
	if len(l) < 4 || l[2:4] != "--" {
		return ""
	}
	if !strings.HasPrefix(l, "xn--") {
		return "a label with \"--\" in its third and fourth characters is reserved (RFC 5890 §2.3.1); only IDN A-labels (\"xn--\") may use it"
	}
	u, err := idna.ToUnicode(l)
	if err != nil {
		return "label " + l + " is not a valid IDN A-label (its Punycode does not decode)"
	}
	if !norm.NFC.IsNormalString(u) {
		return "label " + l + " is not a valid IDN A-label (it decodes to a string not in Unicode normalization form C)"
	}
	if _, err := idna.Registration.ToUnicode(l); err != nil {
		return "label " + l + " is not a valid IDN A-label (it decodes to " + strconv.QuoteToASCII(u) + ", not a valid U-label: RFC 5891 §5.4)"
	}
	// x/net/idna follows UTS #46, which keeps as valid code points that
	// IDNA2008 disallows (its NV8/XV8 status: symbols, emoji,
	// punctuation), and has no option to refuse them (idna.go: "TODO:
	// handle the NV8"). IDNA2008's PVALID base (RFC 5892 §2.1
	// LetterDigits, less unstable and compatibility characters) is
	// PRECIS's IdentifierClass base (RFC 8264 §9), which refuses them.
	if _, err := precis.NewIdentifier().String(u); err != nil {
		return "label " + l + " is not a valid IDN A-label (it decodes to " + strconv.QuoteToASCII(u) +
			", which holds a code point IDNA2008 disallows, such as an emoji or another symbol: RFC 5892)"
	}
	return ""
}
