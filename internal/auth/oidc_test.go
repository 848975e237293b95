package auth

import (
	"errors"
	"testing"
)

// TestOIDCAdmit: the claims of a verified ID token map to the most
// powerful mapped role, from a top-level claim or a dotted path, a string
// or a list; several audiences need azp to be certgate's client; the
// domain allow-list needs a verified email (also "true" as a string) of
// an allowed domain.
func TestOIDCAdmit(t *testing.T) {
	o := NewOIDC(OIDCConfig{ClientID: "cg", RoleClaim: "realm_access.roles", RoleMap: map[string]Role{"ops": RoleOperator, "aud": RoleAuditor},
		AllowedEmailDomains: []string{"example.com"}})
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"email": "a@Example.com", "email_verified": "true", "realm_access": map[string]any{"roles": []any{"aud", "ops", 7}}}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	id, err := o.admit("https://idp", "s1", []string{"cg"}, claims(nil))
	if err != nil || id.Role != RoleOperator || id.Name != "a@Example.com" || !id.EmailVerified {
		t.Fatalf("admit: %+v %v, want operator", id, err)
	}
	for _, c := range []struct {
		aud    []string
		extra  map[string]any
		reason string
	}{
		{[]string{"cg", "other"}, nil, RefusedAZP},
		{[]string{"cg", "other"}, map[string]any{"azp": "other"}, RefusedAZP},
		{[]string{"cg"}, map[string]any{"email_verified": false}, RefusedEmailUnverified},
		{[]string{"cg"}, map[string]any{"email": "a@example.com.evil"}, RefusedEmailDomain},
		{[]string{"cg"}, map[string]any{"email": ""}, RefusedNoEmail},
		{[]string{"cg"}, map[string]any{"realm_access": map[string]any{"roles": "admins"}}, RefusedNoRole},
	} {
		_, err := o.admit("https://idp", "s1", c.aud, claims(c.extra))
		var r *SignInRefusedError
		if !errors.As(err, &r) || r.Reason != c.reason {
			t.Errorf("%v %v: %v, want refused %s", c.aud, c.extra, err, c.reason)
		}
	}
	if id, err := o.admit("https://idp", "s1", []string{"cg", "other"}, claims(map[string]any{"azp": "cg"})); err != nil || id.Role != RoleOperator {
		t.Errorf("several audiences, azp cg: %v", err)
	}
}
