package ra

import (
	"net/netip"
	"strings"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/va"
)

// maxIdentifiers bounds the identifiers of one order (CA/B BR allow more,
// but no client needs them and each costs an authorization).
const maxIdentifiers = 100

// NormalizeIdentifiers checks and canonicalises newOrder identifiers
// (RFC 8555 §7.4, RFC 8738 §3): DNS names are lower-cased LDH names with an
// optional leading "*." wildcard label; IP values are parsed and written in
// canonical form (RFC 5952 for IPv6), an IPv4-mapped IPv6 address refused
// (rejectedIdentifier: it would alias the IPv4 address). Duplicates are
// removed, order kept; at most maxIdentifiers distinct identifiers remain,
// else rejectedIdentifier.
// Errors are *acme.Problem: malformed, rejectedIdentifier or
// unsupportedIdentifier (with subproblems per identifier, RFC 8555 §6.7.1).
func NormalizeIdentifiers(in []acme.Identifier) ([]acme.Identifier, error) {
	if len(in) == 0 {
		return nil, acme.NewProblem(acme.Malformed, "newOrder needs at least one identifier")
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
	// Counted once duplicates are removed: the order holds out. (The
	// request body's size limit bounds the identifiers looked at.)
	if len(out) > maxIdentifiers {
		return nil, acme.NewProblem(acme.RejectedIdentifier, "an order may hold at most %d distinct identifiers; this one has %d", maxIdentifiers, len(out))
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
		// ASCII letters only: strings.ToLower maps the Kelvin sign
		// (U+212A) to "k", which would turn a name that is not ASCII
		// (RFC 8555 §7.1.4) into an accepted one the client never sent.
		name := acme.LowerASCII(id.Value)
		if err := acme.CheckDNSName(name); err != "" {
			return id, acme.NewProblem(acme.RejectedIdentifier, "invalid DNS name %q: %s", id.Value, err)
		}
		return acme.Identifier{Type: acme.IdentifierDNS, Value: name}, nil
	case acme.IdentifierIP:
		addr, err := netip.ParseAddr(id.Value)
		if err != nil || addr.Zone() != "" {
			return id, acme.NewProblem(acme.Malformed, "invalid IP address %q", id.Value)
		}
		if addr.Is4In6() {
			// RFC 8738 §3: the canonical textual form of the address;
			// a mapped one (RFC 4291 §2.5.5.2) would alias the IPv4
			// address, and a certificate would carry it as 16 octets,
			// another iPAddress than the 4 of that address.
			return id, acme.NewProblem(acme.RejectedIdentifier, "%s is an IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2): order %s as an ip identifier instead (RFC 8738)", id.Value, addr.Unmap())
		}
		if canon := addr.String(); canon != id.Value {
			// RFC 8738 §3: the value MUST be the address's textual form of
			// RFC 1123 §2.1 (IPv4) or RFC 5952 §4 (IPv6: lower case, no
			// leading zeros, "::" for the longest run of zero groups).
			// netip already refuses IPv4 text with leading zeros.
			return id, acme.NewProblem(acme.Malformed, "IP address %q is not in its canonical text form (RFC 8738 §3, RFC 5952 §4): order it as %q", id.Value, canon)
		}
		if class, denied := va.AlwaysDenied(addr); denied {
			return id, acme.NewProblem(acme.RejectedIdentifier, "%s is %s address, which validation never connects to: no challenge can validate it", addr.Unmap(), class)
		}
		return acme.Identifier{Type: acme.IdentifierIP, Value: addr.String()}, nil
	default:
		return id, acme.NewProblem(acme.UnsupportedIdentifier, "identifier type %q is not supported (use \"dns\" or \"ip\")", id.Type)
	}
}

// authzIdentifier splits an order identifier into the authorization's
// identifier (without "*.") and the wildcard flag (RFC 8555 §7.1.4).
func authzIdentifier(id acme.Identifier) (acme.Identifier, bool) {
	if id.Type == acme.IdentifierDNS && strings.HasPrefix(id.Value, "*.") {
		return acme.Identifier{Type: id.Type, Value: id.Value[2:]}, true
	}
	return id, false
}

// orderIdentifier is authzIdentifier's inverse: the order's identifier of
// an authorization's identifier id, "*." before the name when wildcard
// (RFC 8555 §7.1.3).
func orderIdentifier(id acme.Identifier, wildcard bool) acme.Identifier {
	if wildcard {
		id.Value = "*." + id.Value
	}
	return id
}
