package policy

import (
	"testing"

	"github.com/certgate/certgate/internal/acme"
)

// TestEABAllowlistRefusalNamesTheKey: a name the profile allows but the
// account's EAB key's allowlist does not is refused with a detail that
// says so; it said "profile NAME does not allow X", which sent the user
// to a profile that does allow X. A name the profile refuses keeps the
// profile's detail, and a mix names both.
func TestEABAllowlistRefusalNamesTheKey(t *testing.T) {
	p := valid(t, Profile{Name: "mtls", Allow: []string{"*.svc.corp.test"}})
	extra, _ := ParseRules([]string{"*.payments.svc.corp.test"})
	for _, tc := range []struct {
		ids  []acme.Identifier
		want string
	}{
		{[]acme.Identifier{dns("api.billing.svc.corp.test")},
			"the account's external account binding does not allow api.billing.svc.corp.test (profile mtls would)"},
		{[]acme.Identifier{dns("www.example.com")}, "profile mtls does not allow www.example.com"},
		{[]acme.Identifier{dns("www.example.com"), dns("api.billing.svc.corp.test")},
			"profile mtls does not allow www.example.com; the account's external account binding does not allow api.billing.svc.corp.test"},
	} {
		pr, ok := acme.AsProblem(p.CheckIdentifiers(tc.ids, extra))
		if !ok || pr.Type != acme.RejectedIdentifier || pr.Detail != tc.want {
			t.Errorf("%v: %+v, want rejectedIdentifier %q", tc.ids, pr, tc.want)
		}
	}
}
