package policy

import (
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/certgate/certgate/internal/acme"
	"golang.org/x/net/idna"
)

// Rule is one compiled identifier rule. Its text form is one of:
//   - "host.example.com": that exact DNS name (case-insensitive);
//   - "*.example.com": any DNS name below example.com, at any depth,
//     including wildcard names such as "*.www.example.com" (not the
//     apex example.com itself);
//   - "/regexp/": DNS names matching the Go regular expression (RE2),
//     which is anchored at both ends and case-insensitive;
//   - "192.0.2.7", "2001:db8::1": that IP address;
//   - "10.0.0.0/8", "2001:db8::/32": IP addresses in the CIDR prefix.
//
// DNS rules match only "dns" identifiers and IP rules only "ip" ones.
type Rule struct {
	text   string
	exact  string
	suffix string // ".example.com"
	re     *regexp.Regexp
	prog   *syntax.Prog // re's program, for mayMatchTogether
	prefix netip.Prefix
}

// ParseRule compiles one rule (see Rule). Errors name the rule.
func ParseRule(s string) (Rule, error) {
	s = strings.TrimSpace(s)
	r := Rule{text: s}
	switch {
	case s == "":
		return r, fmt.Errorf("empty identifier rule")
	case len(s) >= 2 && strings.HasPrefix(s, "/") && strings.HasSuffix(s, "/"):
		// Case-insensitive, as DNS names are (RFC 4343) and as exact and
		// suffix rules are: identifiers are lower-case, so a pattern
		// written with upper-case letters would otherwise never match.
		// The pattern alone first, so that an error quotes what the
		// rule says, not the anchored, case-insensitive rewrite.
		if _, err := regexp.Compile(s[1 : len(s)-1]); err != nil {
			return r, fmt.Errorf("identifier rule %q: %w", s, err)
		}
		re, err := regexp.Compile("(?i)^(?:" + s[1:len(s)-1] + ")$")
		if err != nil {
			return r, fmt.Errorf("identifier rule %q: %w", s, err)
		}
		if r.prog, err = compileRule(re.String()); err != nil {
			return r, fmt.Errorf("identifier rule %q: %w", s, err)
		}
		r.re = re
	case strings.Contains(s, "/"):
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return r, fmt.Errorf("identifier rule %q is not a CIDR prefix: %w", s, err)
		}
		r.prefix = unmapPrefix(p.Masked())
	default:
		if a, err := netip.ParseAddr(s); err == nil {
			r.prefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
			return r, nil
		}
		// Identifiers are lower-case A-labels without a trailing dot:
		// write rules the same way, or they would never match.
		name := strings.ToLower(strings.TrimSuffix(s, "."))
		if strings.ContainsFunc(name, func(c rune) bool { return c >= utf8.RuneSelf }) {
			a, err := idna.Lookup.ToASCII(strings.TrimPrefix(name, "*."))
			if err != nil {
				return r, fmt.Errorf("identifier rule %q: %w", s, err)
			}
			name = strings.TrimSuffix(name, strings.TrimPrefix(name, "*.")) + a
		}
		if strings.HasPrefix(name, "*.") {
			if len(name) < 3 || strings.Contains(name[2:], "*") {
				return r, fmt.Errorf("identifier rule %q: a wildcard may only be the leading \"*.\"", s)
			}
			r.suffix = name[1:]
		} else {
			if strings.Contains(name, "*") {
				return r, fmt.Errorf("identifier rule %q: a wildcard may only be the leading \"*.\"", s)
			}
			r.exact = name
		}
	}
	return r, nil
}

// CheckRule compiles s as ParseRule does and also refuses a DNS rule that
// no identifier can ever match, saying why and naming the rule: an exact
// rule must be a name a newOrder accepts (acme.CheckDNSName: no empty
// label, only letters, digits and hyphens, labels of at most 63
// characters, ...) and a "*.suffix" rule must have such names below it,
// since Match compares identifiers, which passed that check, with the
// rule's text. A regexp rule must match some string of the shape of such
// names (lower-case letters, digits and hyphens in dot-separated labels,
// the last not all digits, an optional leading "*."): one written for
// U-labels, a trailing dot or an IP address matches no identifier. It is
// the check of a rule
// being created or changed (a profile, an EAB key's allowlist); ParseRule,
// which loading a stored rule uses, stays lenient so that a rule stored
// before this check existed keeps loading (it just matches nothing).
func CheckRule(s string) error {
	r, err := ParseRule(s)
	if err != nil {
		return err
	}
	var why string
	switch {
	case r.exact != "":
		why = acme.CheckDNSName(r.exact)
	case r.suffix != "":
		// The shortest name the rule can match: one label below it.
		why = acme.CheckDNSName("x" + r.suffix)
	case r.re != nil && !mayMatchTogether(dnsShapes{wildcard: true}, r.prog):
		why = "its regular expression matches no DNS identifier (identifiers are lower-case LDH names, IDNs in their " +
			"A-label form \"xn--...\", without a trailing dot, a wildcard as a leading \"*.\"; IP addresses are ip identifiers)"
	}
	if why != "" {
		return fmt.Errorf("identifier rule %q can match no name: %s", r.text, why)
	}
	return nil
}

// IdentifierType is the ACME identifier type the rule matches: "ip" for
// an address or CIDR rule, "dns" for the others (Match).
func (r Rule) IdentifierType() string {
	if r.prefix.IsValid() {
		return acme.IdentifierIP
	}
	return acme.IdentifierDNS
}

// CheckRuleTypes refuses a rule of list that matches an identifier type
// not in types (a profile's identifierTypes; empty allows both): a DNS
// rule in a profile for IP addresses only can match no identifier the
// profile accepts. The error names the first such rule (a *FieldError at
// "[i]"). Rules that do not parse are left to CheckRules.
func CheckRuleTypes(list, types []string) error {
	if len(types) == 0 {
		return nil
	}
	for i, s := range list {
		r, err := ParseRule(s)
		if err != nil {
			continue
		}
		if t := r.IdentifierType(); !slices.Contains(types, t) {
			return &FieldError{Field: fmt.Sprintf("[%d]", i), Value: s, Err: fmt.Errorf(
				"identifier rule %q can match no name: it matches %s identifiers, and the profile's identifierTypes allow only %s",
				r.text, t, strings.Join(types, ", "))}
		}
	}
	return nil
}

// overlaps reports whether some identifier could match both r and o,
// wildcard identifiers ("*.example.com") among them when wildcard is set.
// Regexp rules are worked out generously (mayMatchTogether): an overlap
// may be reported where there is none, never missed.
func (r Rule) overlaps(o Rule, wildcard bool) bool {
	if r.IdentifierType() != o.IdentifierType() {
		return false
	}
	if r.prefix.IsValid() {
		return r.prefix.Overlaps(o.prefix)
	}
	if r.re != nil || o.re != nil {
		if r.re == nil {
			r, o = o, r
		}
		switch {
		case o.exact != "":
			return r.re.MatchString(o.exact)
		case o.suffix != "":
			return mayMatchTogether(dnsShapes{wildcard: wildcard}, r.prog, suffixProg(o.suffix))
		}
		return mayMatchTogether(dnsShapes{wildcard: wildcard}, r.prog, o.prog)
	}
	switch {
	case r.exact != "" && o.exact != "":
		return r.exact == o.exact
	case r.exact != "":
		return strings.HasSuffix(r.exact, o.suffix)
	case o.exact != "":
		return strings.HasSuffix(o.exact, r.suffix)
	}
	return strings.HasSuffix(r.suffix, o.suffix) || strings.HasSuffix(o.suffix, r.suffix)
}

// suffixProg is the program of the names a "*.suffix" rule matches: one
// or more bytes, then suffix (".example.com").
func suffixProg(suffix string) *syntax.Prog {
	p, err := compileRule(".+" + regexp.QuoteMeta(suffix))
	if err != nil {
		panic(fmt.Sprintf("policy: suffix program for %q: %v", suffix, err)) // a quoted literal always compiles
	}
	return p
}

// unmapPrefix returns p, an IPv6 prefix within ::ffff:0:0/96 (IPv4-mapped
// addresses), as the IPv4 prefix it stands for: identifiers hold an
// IPv4-mapped address as the IPv4 address (RFC 8738 identifiers and
// certificates carry four octets), so a rule written "::ffff:10.0.0.0/104"
// would otherwise match nothing.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// coveredBy reports whether every identifier r matches is matched by o
// (for regexp rules: never known, so false).
func (r Rule) coveredBy(o Rule) bool {
	if r.IdentifierType() != o.IdentifierType() || r.re != nil || o.re != nil {
		return false
	}
	if r.prefix.IsValid() {
		return o.prefix.Bits() <= r.prefix.Bits() && o.prefix.Contains(r.prefix.Addr())
	}
	if o.exact != "" {
		return r.exact == o.exact
	}
	if r.exact != "" {
		return strings.HasSuffix(r.exact, o.suffix)
	}
	return strings.HasSuffix(r.suffix, o.suffix)
}

// CheckAllowWithin refuses a rule of list (an EAB key's allowlist, which
// narrows its profile's) that can match no identifier the profile p
// accepts: one of an identifier type p does not allow, one that no rule
// of p's allow list overlaps, one whose every match p denies, or a regexp
// rule that matches only wildcard names in a profile without wildcards.
// Such a key would bind accounts that can order nothing. The error names
// the first such rule (a *FieldError at "[i]"). Regexp rules are worked
// out generously (an overlap may be assumed where there is none); a deny
// regexp rule is never taken to cover a whole rule.
func (p *Profile) CheckAllowWithin(list []string) error {
	return p.checkLive(list, false, false)
}

// checkLive refuses, as CheckAllowWithin, a rule of list that can match
// no identifier p accepts; covering: the rules are matched as deny and
// approval rules are (matchCovered), so that an exact rule also applies to
// the wildcard names of its parent; deny: list is p's deny list, whose
// rules are not checked against the deny rules.
func (p *Profile) checkLive(list []string, covering, deny bool) error {
	if err := CheckRuleTypes(list, p.IdentifierTypes); err != nil {
		return err
	}
	for i, s := range list {
		r, err := ParseRule(s)
		if err != nil {
			continue
		}
		if why := p.deadRule(r, covering, deny); why != "" {
			return &FieldError{Field: fmt.Sprintf("[%d]", i), Value: s, Err: fmt.Errorf("identifier rule %q can match no name: %s", r.text, why)}
		}
	}
	return nil
}

// deadRule says why no identifier p accepts can match r (see checkLive),
// or "".
func (p *Profile) deadRule(r Rule, covering, deny bool) string {
	if r.re != nil && !mayMatchTogether(dnsShapes{wildcard: p.Wildcard}, r.prog) {
		if mayMatchTogether(dnsShapes{wildcard: true}, r.prog) {
			return fmt.Sprintf("it matches only wildcard names, and profile %s does not allow wildcards", p.Name)
		}
		return "its regular expression matches no DNS identifier"
	}
	overlaps := func(a Rule) bool { return r.overlaps(a, p.Wildcard) }
	if len(p.allow) > 0 && !slices.ContainsFunc(p.allow, overlaps) && !(covering && p.coversAllowedWildcard(r)) {
		return fmt.Sprintf("no name it matches is in profile %s's allowed names (%s)", p.Name, strings.Join(p.Allow, ", "))
	}
	if j := slices.IndexFunc(p.deny, r.coveredBy); j >= 0 && !deny {
		return fmt.Sprintf("profile %s denies every name it matches (deny %s)", p.Name, p.deny[j].text)
	}
	return ""
}

// coversAllowedWildcard reports whether r, matched as a deny or approval
// rule is (matchCovered), may apply to a wildcard name p's allow rules
// accept although no name r matches is allowed itself: an exact rule
// "host.example.com" applies to "*.example.com". A regexp rule is taken
// to apply when the profile allows wildcards at all.
func (p *Profile) coversAllowedWildcard(r Rule) bool {
	if !p.Wildcard || r.IdentifierType() != acme.IdentifierDNS {
		return false
	}
	if r.re != nil {
		return true
	}
	_, parent, ok := strings.Cut(r.exact, ".")
	return ok && matchAny(p.allow, acme.Identifier{Type: acme.IdentifierDNS, Value: "*." + parent})
}

// CheckRules is CheckRule for every rule of list; the error names the
// first refused one (a *FieldError at "[i]").
func CheckRules(list []string) error {
	for i, s := range list {
		if err := CheckRule(s); err != nil {
			return &FieldError{Field: fmt.Sprintf("[%d]", i), Value: s, Err: err}
		}
	}
	return nil
}

// ParseRules compiles every rule of list; the error names the first
// refused one (a *FieldError at "[i]").
func ParseRules(list []string) ([]Rule, error) {
	out := make([]Rule, 0, len(list))
	for i, s := range list {
		r, err := ParseRule(s)
		if err != nil {
			return nil, &FieldError{Field: fmt.Sprintf("[%d]", i), Value: s, Err: err}
		}
		out = append(out, r)
	}
	return out, nil
}

// String returns the rule's text form.
func (r Rule) String() string { return r.text }

// Match reports whether the rule covers id (a normalised identifier as the
// RA produces it: lower-case DNS names, canonical IP text).
func (r Rule) Match(id acme.Identifier) bool {
	switch id.Type {
	case acme.IdentifierDNS:
		name := strings.ToLower(id.Value)
		switch {
		case r.exact != "":
			return name == r.exact
		case r.suffix != "":
			return strings.HasSuffix(name, r.suffix)
		case r.re != nil:
			return r.re.MatchString(name)
		}
	case acme.IdentifierIP:
		if !r.prefix.IsValid() {
			return false
		}
		a, err := netip.ParseAddr(id.Value)
		return err == nil && r.prefix.Contains(a.Unmap())
	}
	return false
}

// matchAny reports whether any rule covers id.
func matchAny(rules []Rule, id acme.Identifier) bool {
	for _, r := range rules {
		if r.Match(id) {
			return true
		}
	}
	return false
}

// matchCovered reports whether any rule covers id or, when id is a
// wildcard "*.base", a name the wildcard certificate is valid for (RFC
// 6125 §6.4.3): a name one label below base that an exact rule names or
// that a regexp rule may match ("*.example.com" is covered by
// /secret\.example\.com/ and by /[0-9]+\.example\.com/, not by
// /[a-z]+\.www\.example\.com/). Deny and approval rules use it, so that a
// wildcard cannot cover a denied or approval-bound name; allow rules use
// matchAny, which matches a regexp rule against the wildcard's text.
func matchCovered(rules []Rule, id acme.Identifier) bool {
	if matchAny(rules, id) {
		return true
	}
	base, ok := strings.CutPrefix(id.Value, "*.")
	if id.Type != acme.IdentifierDNS || !ok {
		return false
	}
	base = strings.ToLower(base)
	for _, r := range rules {
		if _, parent, ok := strings.Cut(r.exact, "."); ok && parent == base {
			return true
		}
		if r.re != nil && mayMatchTogether(coveredShapes{base: base}, r.prog) {
			return true
		}
	}
	return false
}
