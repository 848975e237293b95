package policy

import (
	"errors"
	"regexp/syntax"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
)

// TestCheckRuleRefusesUnmatchable: a rule no identifier can match (an
// exact or "*." rule whose names newOrder would refuse) is refused at
// creation, naming the rule and why; every rule CheckRule accepts matches
// some identifier newOrder accepts, and stored rules still load
// (ParseRule stays lenient).
func TestCheckRuleRefusesUnmatchable(t *testing.T) {
	for _, tc := range []struct{ rule, why string }{
		{"a..example.com", "empty label"},
		{".example.com", "empty label"},
		{"*..example.com", "empty label"},
		{"*.example..com", "empty label"},
		{"exa mple.com", "only letters, digits and hyphens"},
		{"under_score.example.com", "only letters, digits and hyphens"},
		{"*.ex@mple.com", "only letters, digits and hyphens"},
		{"-lead.example.com", "hyphen"},
		{"*." + strings.Repeat("a", 64) + ".example", "longer than 63"},
		{strings.Repeat("abcdefghi.", 26) + "com", "longer than 253"},
		{"192.0.2.01", "all digits"},
		{"*.10", "all digits"},
		{"hidden.onion", "onion"},
		{"com", "top-level domain"},
		{"ab--cd.example", "reserved"},
	} {
		err := CheckRule(tc.rule)
		if err == nil || !strings.Contains(err.Error(), tc.why) || !strings.Contains(err.Error(), "can match no name") {
			t.Errorf("CheckRule(%q) = %v, want an error saying %q", tc.rule, err, tc.why)
		}
		if _, err := ParseRule(tc.rule); err != nil {
			t.Errorf("ParseRule(%q) = %v: a stored rule must keep loading", tc.rule, err)
		}
	}
	// Refused before as now (wildcards elsewhere than the leading "*."):
	for _, rule := range []string{"*.*.example", "www.*.example", "a*.example", "*", "*.", ""} {
		if err := CheckRule(rule); err == nil {
			t.Errorf("CheckRule(%q) accepted", rule)
		}
	}
	for _, tc := range []struct {
		rule string
		id   acme.Identifier
	}{
		{"host.example.com", acme.Identifier{Type: "dns", Value: "host.example.com"}},
		{"Host.Example.COM.", acme.Identifier{Type: "dns", Value: "host.example.com"}},
		{"*.example.com", acme.Identifier{Type: "dns", Value: "a.b.example.com"}},
		{"*.com", acme.Identifier{Type: "dns", Value: "example.com"}},
		{"*.bücher.example", acme.Identifier{Type: "dns", Value: "www.xn--bcher-kva.example"}},
		{"xn--bcher-kva.example", acme.Identifier{Type: "dns", Value: "xn--bcher-kva.example"}},
		{"/[a-z]+\\.example/", acme.Identifier{Type: "dns", Value: "abc.example"}},
		{"192.0.2.7", acme.Identifier{Type: "ip", Value: "192.0.2.7"}},
		{"2001:db8::/32", acme.Identifier{Type: "ip", Value: "2001:db8::1"}},
	} {
		if err := CheckRule(tc.rule); err != nil {
			t.Errorf("CheckRule(%q) = %v", tc.rule, err)
			continue
		}
		r, _ := ParseRule(tc.rule)
		if tc.id.Type == "dns" {
			if why := acme.CheckDNSName(tc.id.Value); why != "" {
				t.Fatalf("test identifier %s: %s", tc.id.Value, why)
			}
		}
		if !r.Match(tc.id) {
			t.Errorf("rule %q does not match %s", tc.rule, tc.id.Value)
		}
	}
}

// TestProfileCheckRulesNamesField: Profile.CheckRules names the list and
// the rule; Validate (what loading a stored profile runs) accepts it.
func TestProfileCheckRulesNamesField(t *testing.T) {
	for _, tc := range []struct {
		p    Profile
		want string
	}{
		{Profile{Allow: []string{"ok.example", "a..b.example"}}, `allow: identifier rule "a..b.example"`},
		{Profile{Deny: []string{"bad_name.example"}}, `deny: identifier rule "bad_name.example"`},
		{Profile{PreAuthorized: []string{"*..example"}}, `preAuthorized: identifier rule "*..example"`},
		{Profile{Approval: &Approval{Identifiers: []string{"x y.example"}}}, `approval identifiers: identifier rule "x y.example"`},
		// An escalation with nothing to escalate: stored as given before,
		// the value silently without effect.
		{Profile{Approval: &Approval{EscalateAfter: Duration(4 * 3600 * 1e9)}}, `approval escalateAfter 4h without an approval rule`},
	} {
		p := tc.p
		p.Name, p.Validity = "web", Duration(24*3600*1e9)
		if err := p.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		if err := p.CheckRules(); err == nil || !strings.Contains(err.Error(), "profile web: "+tc.want) {
			t.Errorf("CheckRules: %v, want %q", err, tc.want)
		}
	}
}

// TestProfileCheckRulesIdentifierTypes: a rule of an identifier type the
// profile does not allow, a wildcard profile without dns-01 and an ip
// profile without http-01 or tls-alpn-01 are refused (they were stored,
// and every newOrder they concern refused); with preAuthorized rules, or
// a type the rules fit, they are accepted.
func TestProfileCheckRulesIdentifierTypes(t *testing.T) {
	ip, dns := []string{"ip"}, []string{"dns"}
	for _, tc := range []struct {
		p    Profile
		want string // "" accepted
	}{
		{Profile{IdentifierTypes: ip, Allow: []string{"*.example.com"}}, `allow: identifier rule "*.example.com" can match no name: it matches dns identifiers, and the profile's identifierTypes allow only ip`},
		{Profile{IdentifierTypes: dns, Deny: []string{"10.0.0.0/8"}}, `deny: identifier rule "10.0.0.0/8" can match no name: it matches ip identifiers`},
		{Profile{IdentifierTypes: dns, Approval: &Approval{Identifiers: []string{"192.0.2.7"}}}, `approval identifiers: identifier rule "192.0.2.7"`},
		{Profile{IdentifierTypes: ip, PreAuthorized: []string{"/.*/"}}, `preAuthorized: identifier rule "/.*/" can match no name`},
		{Profile{IdentifierTypes: []string{"dns", "ip"}, Allow: []string{"*.example.com", "10.0.0.0/8"}}, ""},
		{Profile{Allow: []string{"*.example.com", "10.0.0.0/8"}}, ""},
		{Profile{Wildcard: true, Challenges: []string{"http-01", "tls-alpn-01"}}, `wildcard: true, but only dns-01 validates a wildcard name`},
		{Profile{Wildcard: true, Challenges: []string{"dns-01"}}, ""},
		{Profile{Wildcard: true, Challenges: []string{"http-01"}, PreAuthorized: []string{"*.corp.test"}}, ""},
		{Profile{Wildcard: true, IdentifierTypes: ip, Challenges: []string{"http-01"}}, ""},
		{Profile{IdentifierTypes: []string{"dns", "ip"}, Challenges: []string{"dns-01"}}, `identifierTypes lists ip, but only http-01 and tls-alpn-01 validate an IP address`},
		{Profile{IdentifierTypes: ip, Challenges: []string{"tls-alpn-01"}}, ""},
		{Profile{Challenges: []string{"dns-01"}}, ""}, // no types given: DNS names are still possible
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
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), "profile web: "+tc.want)):
			t.Errorf("%+v: CheckRules: %v, want %q", tc.p, err, tc.want)
		}
	}
}

// TestProfileCheckRulesDeadApproval: an approval ekus entry the profile's
// ekus lack, or a keyTypes entry its keyTypes lack, would never make a
// certificate wait (profile list still said APPROVAL yes) and is refused.
func TestProfileCheckRulesDeadApproval(t *testing.T) {
	for _, tc := range []struct {
		p    Profile
		want string // "" accepted
	}{
		{Profile{Approval: &Approval{EKUs: []string{"clientAuth"}}}, `approval ekus: clientAuth is not one of the profile's ekus (serverAuth)`},
		{Profile{EKUs: []string{"clientAuth"}, Approval: &Approval{EKUs: []string{"clientAuth"}}}, ""},
		{Profile{KeyTypes: []string{"ecdsa-p256"}, Approval: &Approval{KeyTypes: []string{"rsa2048"}}}, `approval keyTypes: rsa2048 is not one of the profile's keyTypes (ecdsa-p256)`},
		{Profile{KeyTypes: []string{"ecdsa-p256", "rsa2048"}, Approval: &Approval{KeyTypes: []string{"rsa2048"}}}, ""},
		{Profile{Approval: &Approval{KeyTypes: []string{"rsa2048"}}}, ""}, // every key type allowed
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
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), "profile web: "+tc.want)):
			t.Errorf("%+v: CheckRules: %v, want %q", tc.p, err, tc.want)
		}
	}
}

// TestCheckDNSSEC: DNSSEC on without a resolver of the profile or the
// server is refused at validation.dnssec; with either, or off, accepted.
func TestCheckDNSSEC(t *testing.T) {
	on, off := true, false
	p := Profile{Name: "sec", Validation: &Validation{DNSSEC: &on}}
	err := p.CheckDNSSEC("")
	var fe *FieldError
	if err == nil || !errors.As(err, &fe) || fe.Field != "validation.dnssec" || !strings.Contains(err.Error(), "profile sec: validation.dnssec needs a validating DNS resolver") {
		t.Errorf("CheckDNSSEC without resolvers: %v", err)
	}
	for _, tc := range []struct {
		v      *Validation
		server string
	}{
		{&Validation{DNSSEC: &on}, "127.0.0.1:53"},
		{&Validation{DNSSEC: &on, DNSResolvers: []string{"127.0.0.1:53"}}, ""},
		{&Validation{DNSSEC: &off}, ""},
		{nil, ""},
	} {
		p := Profile{Name: "sec", Validation: tc.v}
		if err := p.CheckDNSSEC(tc.server); err != nil {
			t.Errorf("%+v with server %q: %v", tc.v, tc.server, err)
		}
	}
}

// TestCheckAllowWithin: an EAB key's allow rule that no name its profile
// accepts can match (outside the profile's allow list, wholly denied, of
// another identifier type) is refused, naming the rule and why; rules
// that overlap the profile's are accepted; regexp rules are worked out.
func TestCheckAllowWithin(t *testing.T) {
	p := Profile{Name: "web", Validity: Duration(24 * 3600 * 1e9), IdentifierTypes: []string{"dns", "ip"},
		Allow: []string{"example.com", "*.example.com", "10.0.0.0/8"}, Deny: []string{"*.internal.example.com", "vault.example.com", "10.9.0.0/16"}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rule, want string // want "" accepted
	}{
		{"*.team-a.example.com", ""},
		{"www.example.com", ""},
		{"example.com", ""},
		{"*.com", ""}, // wider than the profile: the profile still narrows it
		{"10.1.0.0/16", ""},
		{"10.0.0.7", ""},
		{"0.0.0.0/0", ""},
		{"/[a-z]+[.]example[.]com/", ""},
		{"/.*[.]example[.]org/", `identifier rule "/.*[.]example[.]org/" can match no name: no name it matches is in profile web's allowed names`},
		{"*.example.org", `identifier rule "*.example.org" can match no name: no name it matches is in profile web's allowed names (example.com, *.example.com, 10.0.0.0/8)`},
		{"www.example.org", `no name it matches is in profile web's allowed names`},
		{"192.0.2.0/24", `no name it matches is in profile web's allowed names`},
		{"*.db.internal.example.com", `identifier rule "*.db.internal.example.com" can match no name: profile web denies every name it matches (deny *.internal.example.com)`},
		{"vault.example.com", `profile web denies every name it matches (deny vault.example.com)`},
		{"10.9.1.0/24", `profile web denies every name it matches (deny 10.9.0.0/16)`},
	} {
		err := p.CheckAllowWithin([]string{"www.example.com", tc.rule})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want accepted", tc.rule, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.rule, err, tc.want)
		case tc.want != "":
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "[1]" {
				t.Errorf("%s: %v does not name [1]", tc.rule, err)
			}
		}
	}
}

// TestParseRuleRegexpErrorQuotesRule: a /regexp/ rule that does not parse
// is refused with the error of the pattern as written, not of the
// anchored, case-insensitive rewrite ParseRule compiles ("(?i)^(?:...)$"),
// which leaked into the message (`[)$`, `(?i)^(?:a()$`).
func TestParseRuleRegexpErrorQuotesRule(t *testing.T) {
	for rule, want := range map[string]string{
		"/[/":   "identifier rule \"/[/\": error parsing regexp: missing closing ]: `[`",
		"/a(/":  "identifier rule \"/a(/\": error parsing regexp: missing closing ): `a(`",
		"/a)/":  "identifier rule \"/a)/\": error parsing regexp: unexpected ): `a)`",
		"/x**/": "identifier rule \"/x**/\": error parsing regexp: invalid nested repetition operator: `**`",
	} {
		for name, check := range map[string]func(string) error{
			"ParseRule": func(s string) error { _, err := ParseRule(s); return err },
			"CheckRule": CheckRule,
		} {
			err := check(rule)
			if err == nil || err.Error() != want {
				t.Errorf("%s(%q): %v, want %q", name, rule, err, want)
			}
			var se *syntax.Error
			if !errors.As(err, &se) {
				t.Errorf("%s(%q): %v does not wrap the *syntax.Error", name, rule, err)
			}
		}
	}
}
