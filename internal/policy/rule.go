package policy

import (
	"fmt"
	"net/netip"
	"regexp"
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
		re, err := regexp.Compile("(?i)^(?:" + s[1:len(s)-1] + ")$")
		if err != nil {
			return r, fmt.Errorf("identifier rule %q: %w", s, err)
		}
		r.re = re
	case strings.Contains(s, "/"):
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return r, fmt.Errorf("identifier rule %q is not a CIDR prefix: %w", s, err)
		}
		r.prefix = p.Masked()
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
// rule's text. A regexp rule is only compiled. It is the check of a rule
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

// overlaps reports whether some identifier could match both r and o
// (a regexp rule, whose matches are not worked out, overlaps every DNS
// rule).
func (r Rule) overlaps(o Rule) bool {
	if r.IdentifierType() != o.IdentifierType() {
		return false
	}
	if r.prefix.IsValid() {
		return r.prefix.Overlaps(o.prefix)
	}
	switch {
	case r.re != nil || o.re != nil:
		return true
	case r.exact != "" && o.exact != "":
		return r.exact == o.exact
	case r.exact != "":
		return strings.HasSuffix(r.exact, o.suffix)
	case o.exact != "":
		return strings.HasSuffix(o.exact, r.suffix)
	}
	return strings.HasSuffix(r.suffix, o.suffix) || strings.HasSuffix(o.suffix, r.suffix)
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
// of p's allow list overlaps, or one whose every match p denies. Such a
// key would bind accounts that can order nothing. The error names the
// first such rule (a *FieldError at "[i]"). Regexp rules, and overlaps
// with p's regexp rules, are not worked out (taken as matching).
func (p *Profile) CheckAllowWithin(list []string) error {
	if err := CheckRuleTypes(list, p.IdentifierTypes); err != nil {
		return err
	}
	for i, s := range list {
		r, err := ParseRule(s)
		if err != nil || r.re != nil {
			continue
		}
		why := ""
		if len(p.allow) > 0 && !slices.ContainsFunc(p.allow, r.overlaps) {
			why = fmt.Sprintf("no name it matches is in profile %s's allowed names (%s)", p.Name, strings.Join(p.Allow, ", "))
		} else if j := slices.IndexFunc(p.deny, r.coveredBy); j >= 0 {
			why = fmt.Sprintf("profile %s denies every name it matches (deny %s)", p.Name, p.deny[j].text)
		}
		if why != "" {
			return &FieldError{Field: fmt.Sprintf("[%d]", i), Value: s, Err: fmt.Errorf("identifier rule %q can match no name: %s", r.text, why)}
		}
	}
	return nil
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
// wildcard "*.base", a name the wildcard certificate is valid for: an
// exact rule for a name one label below base (RFC 6125 §6.4.3). Deny and
// approval rules use it, so that a wildcard cannot cover a denied or
// approval-bound name; allow rules use matchAny.
func matchCovered(rules []Rule, id acme.Identifier) bool {
	if matchAny(rules, id) {
		return true
	}
	base, ok := strings.CutPrefix(id.Value, "*.")
	if id.Type != acme.IdentifierDNS || !ok {
		return false
	}
	for _, r := range rules {
		if _, parent, ok := strings.Cut(r.exact, "."); ok && parent == strings.ToLower(base) {
			return true
		}
	}
	return false
}
