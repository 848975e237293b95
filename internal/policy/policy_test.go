package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

func dns(v string) acme.Identifier { return acme.Identifier{Type: acme.IdentifierDNS, Value: v} }
func ip(v string) acme.Identifier  { return acme.Identifier{Type: acme.IdentifierIP, Value: v} }

func TestRuleMatch(t *testing.T) {
	for _, tc := range []struct {
		rule string
		id   acme.Identifier
		want bool
	}{
		{"www.example.com", dns("www.example.com"), true},
		{"WWW.example.com", dns("www.example.com"), true},
		{"www.example.com", dns("a.www.example.com"), false},
		{"*.example.com", dns("a.example.com"), true},
		{"*.example.com", dns("a.b.example.com"), true},
		{"*.example.com", dns("*.example.com"), true},
		{"*.example.com", dns("example.com"), false},
		{"*.example.com", dns("badexample.com"), false},
		{"/[a-z]+[0-9]*\\.corp\\.test/", dns("web01.corp.test"), true},
		{"/[a-z]+[0-9]*\\.corp\\.test/", dns("x.web01.corp.test"), false}, // anchored
		{"10.0.0.0/8", ip("10.1.2.3"), true},
		{"10.0.0.0/8", ip("11.1.2.3"), false},
		{"10.0.0.0/8", dns("10.example"), false},
		{"2001:db8::/32", ip("2001:db8::1"), true},
		{"192.0.2.7", ip("192.0.2.7"), true},
		{"192.0.2.7", ip("192.0.2.8"), false},
		{"*.example.com", ip("10.0.0.1"), false},
		// Written as people do: a trailing dot, an IDN in U-labels.
		{"Host.Example.COM.", dns("host.example.com"), true},
		{"*.example.com.", dns("a.example.com"), true},
		{"bücher.example", dns("xn--bcher-kva.example"), true},
		{"*.BÜCHER.example", dns("a.xn--bcher-kva.example"), true},
		{"ab--c.example", dns("ab--c.example"), true},
	} {
		r, err := ParseRule(tc.rule)
		if err != nil {
			t.Fatalf("ParseRule(%q): %v", tc.rule, err)
		}
		if got := r.Match(tc.id); got != tc.want {
			t.Errorf("%q matches %v = %v, want %v", tc.rule, tc.id, got, tc.want)
		}
	}
	for _, bad := range []string{"", "a.*.com", "**.com", "/[/", "10.0.0.0/99"} {
		if _, err := ParseRule(bad); err == nil {
			t.Errorf("ParseRule(%q) accepted", bad)
		}
	}
}

func valid(t *testing.T, p Profile) *Profile {
	t.Helper()
	if p.Validity == 0 {
		p.Validity = Duration(90 * 24 * time.Hour)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return &p
}

func TestValidate(t *testing.T) {
	p := valid(t, Profile{Name: "web"})
	if p.Issuer != "local" || p.MaxValidity != p.Validity || len(p.EKUs) != 1 || p.EKUs[0] != "serverAuth" {
		t.Errorf("defaults not filled: %+v", p)
	}
	for name, bad := range map[string]Profile{
		"reserved name":  {Name: "new-order", Validity: 1},
		"upper name":     {Name: "Web", Validity: 1},
		"issuer":         {Name: "a", Validity: 1, Issuer: "Vault CA"},
		"type":           {Name: "a", Validity: 1, IdentifierTypes: []string{"email"}},
		"key":            {Name: "a", Validity: 1, KeyTypes: []string{"ed25519"}},
		"no validity":    {Name: "a"},
		"max < validity": {Name: "a", Validity: 10, MaxValidity: 5},
		"eku":            {Name: "a", Validity: 1, EKUs: []string{"timeStamping"}},
		"attr regex":     {Name: "a", Validity: 1, Attributes: []Attribute{{Name: "x", Regex: "("}}},
		"attr repeated":  {Name: "a", Validity: 1, Attributes: []Attribute{{Name: "x"}, {Name: "x"}}},
		"challenge":      {Name: "a", Validity: 1, Challenges: []string{"email-reply-00"}},
		"allow rule":     {Name: "a", Validity: 1, Allow: []string{"a.*.b"}},
		"approval eku":   {Name: "a", Validity: 1, Approval: &Approval{EKUs: []string{"x"}}},
		"renewal window": {Name: "a", Validity: 1, RenewalWindow: &RenewalWindow{Start: 0.8, End: 0.5}},
		"subject field":  {Name: "a", Validity: 1, SubjectFields: []string{"CN"}},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, bad)
		}
	}
	// A profile file without validity is told the field is missing, not
	// that its (absent) value "must be positive".
	if err := (&Profile{Name: "a"}).Validate(); err == nil || !strings.Contains(err.Error(), "validity is missing") {
		t.Errorf("no validity: %v, want it named missing", err)
	}
	// One written as 0 (validity: 0s, --validity 0d) is not missing: the
	// message says either (it said "missing" to a user who gave 0s).
	p, err := Parse([]byte(`{"name":"a","validity":"0s"}`))
	if err == nil || !strings.Contains(err.Error(), "profile a: validity is missing or 0") {
		t.Errorf("validity 0s: %v, %v; want it named missing or 0", p, err)
	}
}

func TestDurationJSON(t *testing.T) {
	p := valid(t, Profile{Name: "d", Validity: Duration(160 * time.Hour), MaxValidity: Duration(90 * 24 * time.Hour)})
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"validity":"160h"`) || !strings.Contains(string(b), `"maxValidity":"90d"`) {
		t.Errorf("JSON %s", b)
	}
	q, err := Parse(b)
	if err != nil || q.Validity != p.Validity || q.MaxValidity != p.MaxValidity {
		t.Errorf("round trip: %+v, %v", q, err)
	}
}

func TestCheckIdentifiers(t *testing.T) {
	p := valid(t, Profile{Name: "internal", IdentifierTypes: []string{"dns"}, Allow: []string{"*.corp.test", "api.example.com"},
		Deny: []string{"secret.corp.test"}})
	if err := p.CheckIdentifiers([]acme.Identifier{dns("a.corp.test"), dns("api.example.com")}, nil); err != nil {
		t.Fatalf("allowed names refused: %v", err)
	}
	err := p.CheckIdentifiers([]acme.Identifier{dns("a.corp.test"), dns("www.example.com"), dns("secret.corp.test"), ip("10.0.0.1"), dns("*.corp.test")}, nil)
	pr, ok := acme.AsProblem(err)
	if !ok || pr.Type != acme.RejectedIdentifier || len(pr.Subproblems) != 4 {
		t.Fatalf("got %v, want rejectedIdentifier with 4 subproblems", err)
	}
	want := map[string]acme.ProblemType{"www.example.com": acme.RejectedIdentifier, "secret.corp.test": acme.RejectedIdentifier,
		"10.0.0.1": acme.UnsupportedIdentifier, "*.corp.test": acme.RejectedIdentifier}
	for _, sp := range pr.Subproblems {
		if sp.Identifier == nil || want[sp.Identifier.Value] != sp.Type {
			t.Errorf("subproblem %+v", sp)
		}
	}
	// A wildcard name covering a denied name is denied too.
	wild := valid(t, Profile{Name: "wild", Wildcard: true, Allow: []string{"*.corp.test"}, Deny: []string{"secret.corp.test"}})
	for _, tc := range []struct {
		name   string
		denied bool
	}{
		{"*.corp.test", true},
		{"*.a.corp.test", false},
		{"*.secret.corp.test", false},
	} {
		if err := wild.CheckIdentifiers([]acme.Identifier{dns(tc.name)}, nil); (err != nil) != tc.denied {
			t.Errorf("wildcard %s: got %v, want denied %v", tc.name, err, tc.denied)
		}
	}
	// An EAB allowlist narrows the profile's.
	extra, _ := ParseRules([]string{"team1.corp.test", "*.team1.corp.test"})
	if err := p.CheckIdentifiers([]acme.Identifier{dns("x.team1.corp.test")}, extra); err != nil {
		t.Errorf("EAB-allowed name refused: %v", err)
	}
	if err := p.CheckIdentifiers([]acme.Identifier{dns("team2.corp.test")}, extra); err == nil {
		t.Errorf("name outside the EAB allowlist accepted")
	}
}

func TestCheckKey(t *testing.T) {
	p := valid(t, Profile{Name: "ec", KeyTypes: []string{KeyECDSAP256, KeyECDSAP384}})
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	if err := p.CheckKey(&ec.PublicKey); err != nil {
		t.Errorf("P-256 refused: %v", err)
	}
	err := p.CheckKey(&rk.PublicKey)
	if pr, ok := acme.AsProblem(err); !ok || pr.Type != acme.BadCSR || !strings.Contains(pr.Detail, "rsa2048") {
		t.Errorf("RSA: got %v, want badCSR naming rsa2048", err)
	}
	if err := valid(t, Profile{Name: "any"}).CheckKey(&rk.PublicKey); err != nil {
		t.Errorf("profile without key types refused RSA: %v", err)
	}
}

func TestMergeAttributes(t *testing.T) {
	p := valid(t, Profile{Name: "billing", Attributes: []Attribute{
		{Name: "billing_code", Required: true, Regex: "[A-Z]{2}-[0-9]+"},
		{Name: "environment", Enum: []string{"prod", "test"}},
		{Name: "owner", Required: true},
	}})
	got, err := p.MergeAttributes(AttributeSource{Attrs: map[string]string{"owner": "team-a", "environment": "test"}}, AttributeSource{},
		AttributeSource{Attrs: map[string]string{"billing_code": "CC-42", "environment": "prod"}})
	if err != nil || got["owner"] != "team-a" || got["environment"] != "prod" || got["billing_code"] != "CC-42" {
		t.Fatalf("merge: %v, %v", got, err)
	}
	// A blank value of an optional attribute is left out, like an empty one.
	got, err = p.MergeAttributes(AttributeSource{Attrs: map[string]string{"billing_code": "CC-1", "owner": "o", "environment": "  "}})
	if _, ok := got["environment"]; err != nil || ok {
		t.Errorf("blank optional attribute: %v, %v; want it left out", got, err)
	}
	for name, tc := range map[string]struct {
		attrs map[string]string
		want  string
	}{
		"missing":        {map[string]string{"environment": "prod"}, "missing required attributes: billing_code, owner"},
		"empty required": {map[string]string{"billing_code": "CC-1", "owner": ""}, "missing required attributes: owner"},
		"enum":           {map[string]string{"billing_code": "CC-1", "owner": "o", "environment": "staging"}, "environment (one of prod, test)"},
		"regex":          {map[string]string{"billing_code": "cc1", "owner": "o"}, "billing_code (must match"},
		"unknown":        {map[string]string{"billing_code": "CC-1", "owner": "o", "colour": "red"}, "not defined by the profile: colour"},
		// A blank value is no value; control characters (NUL: PostgreSQL
		// refused the certificate's record after it was signed),
		// bidirectional formatting characters, invalid UTF-8 and
		// surrounding white space are refused before anything is signed.
		"blank required":    {map[string]string{"billing_code": "CC-1", "owner": " \t"}, "missing required attributes: owner"},
		"NUL":               {map[string]string{"billing_code": "CC-1", "owner": "a\x00b"}, "owner (must be UTF-8 text without control characters"},
		"line break":        {map[string]string{"billing_code": "CC-1", "owner": "a\nb"}, "owner (must be UTF-8 text without control characters"},
		"bidi override":     {map[string]string{"billing_code": "CC-1", "owner": "a\u202eb"}, "owner (must be UTF-8 text without control characters"},
		"invalid UTF-8":     {map[string]string{"billing_code": "CC-1", "owner": "a\xffb"}, "owner (must be UTF-8 text without control characters"},
		"surrounding space": {map[string]string{"billing_code": "CC-1", "owner": " team-a"}, "owner (must not start or end with white space)"},
	} {
		_, err := p.MergeAttributes(AttributeSource{Attrs: tc.attrs})
		pr, ok := acme.AsProblem(err)
		if !ok || pr.Type != acme.Malformed || !strings.Contains(pr.Detail, tc.want) {
			t.Errorf("%s: got %v, want malformed containing %q", name, err, tc.want)
		}
	}
}

// TestMergeAttributesNamesSource: an undeclared attribute or a bad value
// is reported with the source that supplied the final value and that
// source's fix; the problem stays malformed.
func TestMergeAttributesNamesSource(t *testing.T) {
	p := valid(t, Profile{Name: "partners", Attributes: []Attribute{
		{Name: "environment", Enum: []string{"prod", "test"}},
		{Name: "owner"},
	}})
	eab := AttributeSource{From: "the EAB key", Fix: "eab fix"}
	acct := AttributeSource{From: "the account's attributes", Fix: "account fix"}
	order := AttributeSource{From: "the order", Fix: "order fix"}
	for name, tc := range map[string]struct {
		eab, acct, order map[string]string
		want             string
	}{
		"account unknown": {nil, map[string]string{"foo": "bar"}, nil,
			"profile partners: attributes not defined by the profile: foo; foo from the account's attributes (account fix)"},
		"eab unknown, order bad": {map[string]string{"colour": "red"}, nil, map[string]string{"environment": "dev"},
			"profile partners: invalid attribute values: environment (one of prod, test); attributes not defined by the profile: colour; colour from the EAB key (eab fix); environment from the order (order fix)"},
		"order overrides eab's bad value": {map[string]string{"environment": "dev"}, map[string]string{"environment": "test"}, map[string]string{"x": "1"},
			"profile partners: attributes not defined by the profile: x; x from the order (order fix)"},
	} {
		eab.Attrs, acct.Attrs, order.Attrs = tc.eab, tc.acct, tc.order
		_, err := p.MergeAttributes(eab, acct, order)
		pr, ok := acme.AsProblem(err)
		if !ok || pr.Type != acme.Malformed || pr.Detail != tc.want {
			t.Errorf("%s: got %v, want malformed %q", name, err, tc.want)
		}
	}
}

// TestCheckPartialAttributes: a partial source (EAB key, account) may
// leave required attributes out but not give an empty value or an
// undeclared one.
func TestCheckPartialAttributes(t *testing.T) {
	p := valid(t, Profile{Name: "partners", Attributes: []Attribute{{Name: "owner", Required: true}, {Name: "env"}}})
	if err := p.CheckPartialAttributes(map[string]string{"env": "x"}); err != nil {
		t.Errorf("partial without the required owner: %v", err)
	}
	err := p.CheckPartialAttributes(map[string]string{"owner": "", "foo": "bar"})
	if want := "profile partners: empty attribute values: owner; attributes not defined by the profile: foo"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	err = p.CheckPartialAttributes(map[string]string{"owner": "  ", "env": "x\x00"})
	if want := "profile partners: empty attribute values: owner; invalid attribute values: env (must be UTF-8 text without control characters or bidirectional formatting characters)"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

// TestParseAttributeArgs: key=value pairs from the command line need a
// valid name, a non-empty value and no repeated key.
func TestParseAttributeArgs(t *testing.T) {
	got, err := ParseAttributeArgs([]string{"owner=team-a", "billing_code=CC=1"})
	if err != nil || len(got) != 2 || got["owner"] != "team-a" || got["billing_code"] != "CC=1" {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"owner"}, `"owner": use key=value`},
		{[]string{"=x"}, `"=x": use key=value`},
		{[]string{"owner="}, `"owner=": empty value`},
		{[]string{"bad key=x"}, `invalid attribute name "bad key"`},
		{[]string{"1st=x"}, `invalid attribute name "1st"`},
		{[]string{"owner=x", "owner=y"}, `"owner=y": attribute owner given twice (also owner=x)`},
	} {
		if _, err := ParseAttributeArgs(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestNeedsApproval(t *testing.T) {
	for _, tc := range []struct {
		a    *Approval
		ekus []string
		ids  []acme.Identifier
		key  string
		want bool
	}{
		{nil, nil, []acme.Identifier{dns("a.test")}, KeyECDSAP256, false},
		{&Approval{Always: true}, nil, []acme.Identifier{dns("a.test")}, KeyECDSAP256, true},
		{&Approval{Identifiers: []string{"*.prod.test"}}, nil, []acme.Identifier{dns("a.test")}, KeyECDSAP256, false},
		{&Approval{Identifiers: []string{"*.prod.test"}}, nil, []acme.Identifier{dns("a.test"), dns("db.prod.test")}, KeyECDSAP256, true},
		{&Approval{Identifiers: []string{"db.prod.test"}}, nil, []acme.Identifier{dns("*.prod.test")}, KeyECDSAP256, true},
		{&Approval{Identifiers: []string{"db.prod.test"}}, nil, []acme.Identifier{dns("*.db.prod.test")}, KeyECDSAP256, false},
		{&Approval{KeyTypes: []string{KeyRSA2048}}, nil, []acme.Identifier{dns("a.test")}, KeyRSA2048, true},
		{&Approval{KeyTypes: []string{KeyRSA2048}}, nil, []acme.Identifier{dns("a.test")}, KeyECDSAP256, false},
		{&Approval{EKUs: []string{"codeSigning"}}, []string{"codeSigning"}, []acme.Identifier{dns("a.test")}, KeyECDSAP256, true},
		{&Approval{EKUs: []string{"codeSigning"}}, []string{"serverAuth"}, []acme.Identifier{dns("a.test")}, KeyECDSAP256, false},
	} {
		p := valid(t, Profile{Name: "p", Approval: tc.a, EKUs: tc.ekus})
		if got, why := p.NeedsApproval(tc.ids, tc.key); got != tc.want || got && why == "" {
			t.Errorf("%+v %v %s: NeedsApproval = %v (%q), want %v", tc.a, tc.ids, tc.key, got, why, tc.want)
		}
	}
}

func TestProfileValidationSettings(t *testing.T) {
	on := true
	p := Profile{Name: "internal", Validity: Duration(24 * time.Hour),
		Validation: &Validation{DNSResolvers: []string{"10.0.0.53:53", "[fd00::53]:53"}, DNSTimeout: Duration(3 * time.Second), DNSSEC: &on}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	v := got.Validation
	if v == nil || len(v.DNSResolvers) != 2 || v.DNSResolvers[1] != "[fd00::53]:53" || v.DNSTimeout != Duration(3*time.Second) || v.DNSSEC == nil || !*v.DNSSEC {
		t.Errorf("round trip: %+v", v)
	}
	if !strings.Contains(string(b), `"dnsTimeout":"3s"`) {
		t.Errorf("JSON %s, want dnsTimeout \"3s\"", b)
	}
	for _, bad := range []Validation{
		{DNSResolvers: []string{"10.0.0.53"}},
		{DNSResolvers: []string{":53"}},
		{DNSTimeout: Duration(-time.Second)},
	} {
		p := Profile{Name: "x", Validity: Duration(time.Hour), Validation: &bad}
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "validation.dns") {
			t.Errorf("Validate(%+v) = %v, want a validation.dns* error", bad, err)
		}
	}
}

// TestValidityAtFollowsBR: a profile that follows the BR is shortened to
// the SC-081 limit in force at notBefore (SHOULD NOT limits: 199, 99, 46
// days); other profiles keep their validity at any date.
func TestValidityAtFollowsBR(t *testing.T) {
	const day = 24 * time.Hour
	at := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name              string
		p                 Profile
		nb                time.Time
		validity, maximum time.Duration
	}{
		{"default 90d in 2026", Profile{Validity: Duration(90 * day), FollowsBR: true}, at(2026, 11, 29), 90 * day, 90 * day},
		{"default 90d in 2028", Profile{Validity: Duration(90 * day), FollowsBR: true}, at(2028, 1, 1), 90 * day, 90 * day},
		{"default 90d from 2029-03-15", Profile{Validity: Duration(90 * day), FollowsBR: true}, at(2029, 3, 15), 46 * day, 46 * day},
		{"250d, max 300d in 2026", Profile{Validity: Duration(250 * day), MaxValidity: Duration(300 * day), FollowsBR: true}, at(2026, 11, 29), 199 * day, 199 * day},
		{"30d, max 90d in 2029", Profile{Validity: Duration(30 * day), MaxValidity: Duration(90 * day), FollowsBR: true}, at(2029, 6, 1), 30 * day, 46 * day},
		{"operator's 90d in 2029", Profile{Validity: Duration(90 * day)}, at(2029, 6, 1), 90 * day, 90 * day},
	} {
		v, m := tc.p.ValidityAt(tc.nb)
		if v != tc.validity || m != tc.maximum {
			t.Errorf("%s: ValidityAt = %s, %s; want %s, %s", tc.name, v, m, tc.validity, tc.maximum)
		}
	}
}

// TestRenewalWindowForEndsAfterStart: RFC 9773 §4.2 wants the end of a
// suggested window after its start. Two close fractions of a short
// lifetime round (to whole seconds) to the same second; the window then
// ends a second after it starts. The former code returned start == end.
func TestRenewalWindowForEndsAfterStart(t *testing.T) {
	nb := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	w := &RenewalWindow{Start: 0.5, End: 0.5001}
	start, end := w.For(nb, nb.Add(time.Hour)) // 0.36 s apart
	if !end.After(start) {
		t.Fatalf("window %v .. %v: end not after start", start, end)
	}
	if want := nb.Add(30 * time.Minute); !start.Equal(want) || !end.Equal(want.Add(time.Second)) {
		t.Errorf("window %v .. %v, want %v .. %v", start, end, want, want.Add(time.Second))
	}
	// A window of whole seconds apart stays as it is.
	start, end = (&RenewalWindow{Start: 0.5, End: 0.75}).For(nb, nb.Add(time.Hour))
	if !start.Equal(nb.Add(30*time.Minute)) || !end.Equal(nb.Add(45*time.Minute)) {
		t.Errorf("window %v .. %v, want 08:30 .. 08:45", start, end)
	}
}

// TestRegexpRuleCaseInsensitive: a regexp rule matches DNS names
// case-insensitively, as exact and suffix rules do: a deny rule written in
// upper case ("/VAULT[0-9]*\.corp\.test/") matched no identifier at all
// (identifiers are lower-case), so the names it denies were issued.
func TestRegexpRuleCaseInsensitive(t *testing.T) {
	p := valid(t, Profile{Name: "corp", Allow: []string{"*.corp.test"}, Deny: []string{`/VAULT[0-9]*\.Corp\.TEST/`},
		Approval: &Approval{Identifiers: []string{`/DB-.*\.corp\.test/`}}})
	err := p.CheckIdentifiers([]acme.Identifier{dns("vault1.corp.test")}, nil)
	if pr, ok := acme.AsProblem(err); !ok || pr.Type != acme.RejectedIdentifier || len(pr.Subproblems) != 1 ||
		!strings.Contains(pr.Subproblems[0].Detail, "denied by the profile") {
		t.Errorf("vault1.corp.test: %v, want it denied", err)
	}
	if err := p.CheckIdentifiers([]acme.Identifier{dns("web.corp.test")}, nil); err != nil {
		t.Errorf("web.corp.test: %v", err)
	}
	if need, _ := p.NeedsApproval([]acme.Identifier{dns("db-1.corp.test")}, KeyECDSAP256); !need {
		t.Error("db-1.corp.test does not need approval")
	}
}

// TestCheckIssuer: a profile may name the built-in CA or a configured
// issuer; another name is refused with the issuers that exist.
func TestCheckIssuer(t *testing.T) {
	known := []string{"local", "upstream-pebble"}
	for _, name := range []string{"", "local", "upstream-pebble"} {
		p := valid(t, Profile{Name: "web", Issuer: name})
		if err := p.CheckIssuer(known); err != nil {
			t.Errorf("issuer %q: %v", name, err)
		}
	}
	p := valid(t, Profile{Name: "web", Issuer: "vault"})
	err := p.CheckIssuer(known)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "issuer" || !strings.Contains(err.Error(), `issuer "vault" does not exist; the issuers are local, upstream-pebble`) {
		t.Errorf("unknown issuer: %v, want a FieldError at issuer naming the known ones", err)
	}
}
