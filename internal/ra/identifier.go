package ra

import (
	"net/netip"
	"strings"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/va"
	zlintutil "github.com/zmap/zlint/v3/util"
	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// maxIdentifiers bounds the identifiers of one order (CA/B BR allow more,
// but no client needs them and each costs an authorization).
const maxIdentifiers = 100

// NormalizeIdentifiers checks and canonicalises newOrder identifiers
// (RFC 8555 §7.4, RFC 8738 §3): DNS names are lower-cased LDH names with an
// optional leading "*." wildcard label; IP values are parsed and written in
// canonical form (RFC 5952 for IPv6). Duplicates are removed, order kept.
// Errors are *acme.Problem: malformed, rejectedIdentifier or
// unsupportedIdentifier (with subproblems per identifier, RFC 8555 §6.7.1).
func NormalizeIdentifiers(in []acme.Identifier) ([]acme.Identifier, error) {
	if len(in) == 0 {
		return nil, acme.NewProblem(acme.Malformed, "newOrder needs at least one identifier")
	}
	if len(in) > maxIdentifiers {
		return nil, acme.NewProblem(acme.RejectedIdentifier, "an order may hold at most %d identifiers", maxIdentifiers)
	}
	seen := make(map[acme.Identifier]bool, len(in))
	var out []acme.Identifier
	var subs []acme.Problem
	for _, id := range in {
		norm, p := normalizeIdentifier(id)
		if p != nil {
			orig := id
			p.Identifier = &orig
			subs = append(subs, *p)
			continue
		}
		if !seen[norm] {
			seen[norm] = true
			out = append(out, norm)
		}
	}
	switch len(subs) {
	case 0:
		return out, nil
	case 1:
		p := subs[0]
		p.Status = p.HTTPStatus()
		return nil, &p
	default:
		p := acme.NewProblem(subs[0].Type, "%d identifiers were refused", len(subs))
		p.Subproblems = subs
		return nil, p
	}
}

func normalizeIdentifier(id acme.Identifier) (acme.Identifier, *acme.Problem) {
	switch id.Type {
	case acme.IdentifierDNS:
		name := strings.ToLower(id.Value)
		if err := checkDNSName(name); err != "" {
			return id, acme.NewProblem(acme.RejectedIdentifier, "invalid DNS name %q: %s", id.Value, err)
		}
		return acme.Identifier{Type: acme.IdentifierDNS, Value: name}, nil
	case acme.IdentifierIP:
		addr, err := netip.ParseAddr(id.Value)
		if err != nil || addr.Zone() != "" {
			return id, acme.NewProblem(acme.Malformed, "invalid IP address %q", id.Value)
		}
		if class, denied := va.AlwaysDenied(addr); denied {
			return id, acme.NewProblem(acme.RejectedIdentifier, "%s is %s address, which validation never connects to: no challenge can validate it", addr.Unmap(), class)
		}
		return acme.Identifier{Type: acme.IdentifierIP, Value: addr.Unmap().String()}, nil
	default:
		return id, acme.NewProblem(acme.UnsupportedIdentifier, "identifier type %q is not supported (use \"dns\" or \"ip\")", id.Type)
	}
}

// checkDNSName returns why name is not an acceptable DNS identifier, or "".
func checkDNSName(name string) string {
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
	if labels[len(labels)-1] == "onion" {
		return "onion names (RFC 7686) are not supported: they cannot be validated through the DNS"
	}
	if zlintutil.IsInTLDMap(base) {
		return "a top-level domain of the DNS root zone cannot be certified"
	}
	return ""
}

// checkReservedLabel returns why the lower-case LDH label l is refused as
// a reserved LDH label (RFC 5890 §2.3.1: "--" in its third and fourth
// characters), or "". Only IDNA A-labels ("xn--") are allowed among them,
// and only if their Punycode decodes (RFC 3492) to a label in Unicode
// normalization form C (RFC 5891 §5.4, RFC 8399): the certificate lint
// refuses any other such name at finalization (zlint
// e_dnsname_contains_prohibited_reserved_label,
// e_international_dns_name_not_unicode, e_international_dns_name_not_nfc).
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
	return ""
}

// authzIdentifier splits an order identifier into the authorization's
// identifier (without "*.") and the wildcard flag (RFC 8555 §7.1.4).
func authzIdentifier(id acme.Identifier) (acme.Identifier, bool) {
	if id.Type == acme.IdentifierDNS && strings.HasPrefix(id.Value, "*.") {
		return acme.Identifier{Type: id.Type, Value: id.Value[2:]}, true
	}
	return id, false
}
