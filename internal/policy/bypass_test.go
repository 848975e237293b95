package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
)

// TestWildcardCoveredByRegexpRule: a wildcard "*.base" is valid for every
// name one label below base, so a deny (or approval) regexp rule that may
// match such a name refuses it (or sends it for approval); the rule was
// matched against the text "*.example.com" only, which a regexp written
// for host names never matches, so a wildcard certificate covered a
// denied name.
func TestWildcardCoveredByRegexpRule(t *testing.T) {
	for _, tc := range []struct {
		rule   string
		denied bool
	}{
		{`/secret\.example\.com/`, true},
		{`/[0-9]+\.example\.com/`, true},
		{`/.*internal.*/`, true},
		{`/(db|vault)-[a-z]+\.EXAMPLE\.com/`, true},
		{`/[a-z]+\.www\.example\.com/`, false}, // two labels below: not covered
		{`/secret\.example\.org/`, false},
		{`/\*\.example\.com/`, true}, // the wildcard's text, as before
	} {
		p := valid(t, Profile{Name: "web", Wildcard: true, Deny: []string{tc.rule}, Approval: &Approval{Identifiers: []string{tc.rule}}})
		err := p.CheckIdentifiers([]acme.Identifier{dns("*.example.com")}, nil)
		if got := err != nil; got != tc.denied {
			t.Errorf("deny %s: *.example.com refused = %v (%v), want %v", tc.rule, got, err, tc.denied)
		}
		p.Deny, p.deny = nil, nil
		if need, why := p.NeedsApproval([]acme.Identifier{dns("*.example.com")}, KeyECDSAP256); need != tc.denied {
			t.Errorf("approval %s: *.example.com needs approval = %v (%s), want %v", tc.rule, need, why, tc.denied)
		}
	}
}

// TestAllowRegexpWildcardText: an allow (or preAuthorized) regexp rule
// is matched against a wildcard's text, "*" included: /[a-z]+\.example\.com/
// names hosts, and "*.example.com", which covers "123.example.com" as
// well, is not allowed by it; a rule whose expression admits the "*"
// allows the wildcard.
func TestAllowRegexpWildcardText(t *testing.T) {
	p := valid(t, Profile{Name: "web", Wildcard: true, Allow: []string{`/[a-z]+\.example\.com/`}})
	if err := p.CheckIdentifiers([]acme.Identifier{dns("*.example.com")}, nil); err == nil {
		t.Error("*.example.com allowed by /[a-z]+\\.example\\.com/")
	}
	if err := p.CheckIdentifiers([]acme.Identifier{dns("www.example.com")}, nil); err != nil {
		t.Errorf("www.example.com: %v", err)
	}
	p = valid(t, Profile{Name: "web", Wildcard: true, Allow: []string{`/.*\.example\.com/`}})
	if err := p.CheckIdentifiers([]acme.Identifier{dns("*.example.com")}, nil); err != nil {
		t.Errorf("*.example.com with /.*\\.example\\.com/: %v", err)
	}
}

// TestCheckRuleRefusesDeadRegexp: a regexp rule that no normalised DNS
// identifier can match (U-labels, a trailing dot, upper case only in a
// class that folding cannot help, an IP address) was accepted and matched
// nothing: a deny rule that never denies. It is refused at creation;
// case does not matter (rules are case-insensitive).
func TestCheckRuleRefusesDeadRegexp(t *testing.T) {
	for _, rule := range []string{
		`/.*\.bücher\.example/`,
		`/www\.example\.com\./`,
		`/10\.0\.0\.[0-9]+/`,
		`/.*_internal\.example/`,
		`/[^a-z0-9.*-]+/`,
	} {
		err := CheckRule(rule)
		if err == nil || !strings.Contains(err.Error(), "can match no name") || !strings.Contains(err.Error(), "matches no DNS identifier") {
			t.Errorf("CheckRule(%s) = %v, want it refused as matching no DNS identifier", rule, err)
		}
		if _, err := ParseRule(rule); err != nil {
			t.Errorf("ParseRule(%s) = %v: a stored rule must keep loading", rule, err)
		}
	}
	for _, rule := range []string{`/WWW\.Example\.COM/`, `/.*\.xn--bcher-kva\.example/`, `/\*\.example\.com/`, `/^db[0-9]+\.corp\.test$/`, `/a\b.*/`} {
		if err := CheckRule(rule); err != nil {
			t.Errorf("CheckRule(%s) = %v", rule, err)
		}
	}
}

// TestMappedPrefixRule: identifiers hold an IPv4-mapped IPv6 address as
// the IPv4 address, so a CIDR rule written in the mapped form matches the
// IPv4 addresses it stands for (a deny rule "::ffff:10.0.0.0/104" denied
// nothing).
func TestMappedPrefixRule(t *testing.T) {
	p := valid(t, Profile{Name: "dev", Deny: []string{"::ffff:10.0.0.0/104", "::ffff:192.0.2.7"}})
	for _, v := range []string{"10.1.2.3", "192.0.2.7"} {
		if err := p.CheckIdentifiers([]acme.Identifier{{Type: acme.IdentifierIP, Value: v}}, nil); err == nil {
			t.Errorf("%s not denied", v)
		}
	}
	if err := p.CheckIdentifiers([]acme.Identifier{{Type: acme.IdentifierIP, Value: "11.0.0.1"}}, nil); err != nil {
		t.Errorf("11.0.0.1: %v", err)
	}
}

// TestProfileCheckRulesDeadPreAuthorized: a preAuthorized or approval
// identifiers rule that no identifier the profile accepts can match was
// stored silently (the profile showed a pre-authorization or approval that
// never applied); it is refused at create/update, naming the field.
func TestProfileCheckRulesDeadPreAuthorized(t *testing.T) {
	for _, tc := range []struct {
		p     Profile
		field string // "" accepted
		want  string
	}{
		{Profile{Allow: []string{"*.corp.test"}, PreAuthorized: []string{"*.other.test"}}, "preAuthorized",
			`profile web: preAuthorized: identifier rule "*.other.test" can match no name: no name it matches is in profile web's allowed names (*.corp.test)`},
		{Profile{Allow: []string{"*.corp.test"}, PreAuthorized: []string{"db.corp.test", `/[a-z]+\.corp\.test/`}}, "", ""},
		{Profile{Allow: []string{"*.corp.test"}, PreAuthorized: []string{`/.*\.corp\.example/`}}, "preAuthorized[0]", "no name it matches is in profile web's allowed names"},
		{Profile{Deny: []string{"*.vault.corp.test"}, PreAuthorized: []string{"a.vault.corp.test"}}, "preAuthorized[0]", "profile web denies every name it matches (deny *.vault.corp.test)"},
		{Profile{PreAuthorized: []string{`/\*\..*/`}}, "preAuthorized[0]", "it matches only wildcard names, and profile web does not allow wildcards"},
		{Profile{Wildcard: true, PreAuthorized: []string{`/\*\..*/`}}, "", ""},
		{Profile{Allow: []string{"*.corp.test"}, Approval: &Approval{Identifiers: []string{"prod.example"}}}, "approval.identifiers[0]",
			`profile web: approval identifiers: identifier rule "prod.example" can match no name`},
		{Profile{Allow: []string{"*.corp.test"}, Approval: &Approval{Identifiers: []string{"*.prod.corp.test"}}}, "", ""},
		{Profile{Deny: []string{"vault.corp.test"}, Approval: &Approval{Identifiers: []string{"vault.corp.test"}}}, "approval.identifiers[0]", "denies every name it matches"},
		// An exact approval rule applies to the wildcard of its parent,
		// which a wildcards-only allow rule may accept.
		{Profile{Wildcard: true, Allow: []string{`/\*\.corp\.test/`}, Approval: &Approval{Identifiers: []string{"db.corp.test"}}}, "", ""},
		{Profile{Allow: []string{`/\*\.corp\.test/`}, Approval: &Approval{Identifiers: []string{"db.corp.test"}}}, "approval.identifiers[0]", "can match no name"},
	} {
		p := tc.p
		p.Name, p.Validity = "web", Duration(24*3600*1e9)
		if err := p.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		err := p.CheckRules()
		var fe *FieldError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v: CheckRules: %v, want accepted", tc.p, err)
		case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: CheckRules: %v, want %q", tc.p, err, tc.want)
		case tc.field != "" && (!errors.As(err, &fe) || !strings.HasPrefix(fe.Field, tc.field)):
			t.Errorf("%+v: CheckRules: %v does not name %s", tc.p, err, tc.field)
		}
	}
}

// TestCheckRuleRefusesEmojiLabel: a rule with an emoji label, in U-label
// or A-label form, names no identifier newOrder accepts (IDNA2008
// disallows the symbol) and is refused.
func TestCheckRuleRefusesEmojiLabel(t *testing.T) {
	for _, rule := range []string{"*.💩.example", "xn--ls8h.example", "*.xn--ls8h.example"} {
		if err := CheckRule(rule); err == nil || !strings.Contains(err.Error(), "IDNA2008") {
			t.Errorf("CheckRule(%s) = %v, want it refused (IDNA2008)", rule, err)
		}
	}
}

// TestMayMatchTogetherSound: whenever a regexp rule matches a name of the
// searched shape, the search finds a match too (it may find one where
// there is none, never miss one), also for an expression whose DFA would
// be exponential in size.
func TestMayMatchTogetherSound(t *testing.T) {
	exprs := []string{`[a-z]+\.example\.com`, `(a|b)*a(a|b){20}\.example\.com`, `.*internal.*`, `db-[0-9]{2,3}\.corp\.test`,
		`\*\.example\.com`, `(?:www|api)\.example\.(?:com|org)`, `\bsecret\b.*`, `x{0,5}y\.example\.com`}
	names := []string{"www.example.com", "a" + strings.Repeat("b", 20) + ".example.com", "db.internal.example.com", "db-042.corp.test",
		"*.example.com", "api.example.org", "secret.example.com", "xxy.example.com", "y.example.com"}
	for _, e := range exprs {
		r, err := ParseRule("/" + e + "/")
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if r.re.MatchString(n) && !mayMatchTogether(dnsShapes{wildcard: true}, r.prog) {
				t.Errorf("/%s/ matches %s, the search finds no identifier", e, n)
			}
			if strings.HasPrefix(n, "*.") {
				continue
			}
			if _, parent, ok := strings.Cut(n, "."); ok && r.re.MatchString(n) && !mayMatchTogether(coveredShapes{base: parent}, r.prog) {
				t.Errorf("/%s/ matches %s, the search finds no name one label below %s", e, n, parent)
			}
		}
	}
	p := valid(t, Profile{Name: "web", Wildcard: true, Deny: []string{`/(a|b)*a(a|b){20}\.example\.com/`}})
	if err := p.CheckIdentifiers([]acme.Identifier{dns("*.example.com")}, nil); err == nil {
		t.Error("*.example.com not denied by /(a|b)*a(a|b){20}\\.example\\.com/")
	}
}

// TestProfileCheckRulesDeadDeny: a deny rule outside every allow rule
// denies nothing (a misspelt name: the name meant stays allowed) and is
// refused; an exact deny rule one label below an allowed wildcard counts.
func TestProfileCheckRulesDeadDeny(t *testing.T) {
	for _, tc := range []struct {
		p    Profile
		want string // "" accepted
	}{
		{Profile{Allow: []string{"*.example.com"}, Deny: []string{"*.internal.exmaple.com"}},
			`profile web: deny: identifier rule "*.internal.exmaple.com" can match no name: no name it matches is in profile web's allowed names (*.example.com)`},
		{Profile{Allow: []string{"*.example.com"}, Deny: []string{"*.internal.example.com", "vault.example.com", `/.*secret.*/`}}, ""},
		{Profile{Allow: []string{"*.example.com"}, Deny: []string{`/.*\.example\.org/`}}, "no name it matches is in profile web's allowed names"},
		{Profile{Wildcard: true, Allow: []string{`/\*\.corp\.test/`}, Deny: []string{"vault.corp.test"}}, ""},
		{Profile{Deny: []string{"*.internal.example.com", "*.example.com"}}, ""}, // overlapping deny rules
	} {
		p := tc.p
		p.Name, p.Validity = "web", Duration(24*3600*1e9)
		if err := p.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		err := p.CheckRules()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: CheckRules: %v, want accepted", tc.p, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: CheckRules: %v, want %q", tc.p, err, tc.want)
		}
	}
}
