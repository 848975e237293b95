package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/auth"
)

// TestSSOSettings: the sso-* settings come from the config file (lists
// as YAML lists), the environment and flags; the client secret from the
// environment, the file or sso-client-secret-file, never the command
// line; without sso-issuer SSO is off.
func TestSSOSettings(t *testing.T) {
	if s, err := serveWith(t); err != nil || s.SSO.Enabled() {
		t.Fatalf("no sso settings: %v, want SSO off", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte(`sso-issuer: https://keycloak.example.com/realms/pki
sso-client-id: certgate
sso-client-secret: s3cret
sso-redirect-url: https://ca.example.com:8443/ui/sso/callback
sso-scopes: [openid, email, groups]
sso-role-map:
  - pki-admins=admin
  - pki-ops=operator
sso-allowed-email-domains: [Example.COM]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := serveWith(t, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	o := s.SSO
	if !o.Enabled() || o.ClientID != "certgate" || o.ClientSecret != "s3cret" || o.RoleClaim != "groups" ||
		strings.Join(o.Scopes, ",") != "openid,email,groups" || len(o.RoleMap) != 2 || o.RoleMap["pki-admins"] != auth.RoleAdmin ||
		o.RoleMap["pki-ops"] != auth.RoleOperator || strings.Join(o.AllowedEmailDomains, ",") != "example.com" {
		t.Fatalf("sso settings from the file: %+v", o)
	}

	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CERTGATE_SSO_ROLE_MAP", "team=auditor")
	s, err = serveWith(t, "--sso-issuer", "http://127.0.0.1:5556/dex", "--sso-client-id", "c", "--sso-client-secret-file", secret,
		"--sso-redirect-url", "https://localhost:8443/ui/sso/callback", "--sso-role-claim", "roles")
	if err != nil {
		t.Fatal(err)
	}
	if s.SSO.ClientSecret != "from-file" || s.SSO.RoleMap["team"] != auth.RoleAuditor || s.SSO.RoleClaim != "roles" {
		t.Fatalf("sso settings from flags and environment: %+v", s.SSO)
	}

}

// TestSSOSettingsRefused: each bad sso-* setting is one line of the
// error naming it, all bad settings at once.
func TestSSOSettingsRefused(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	notPEM := filepath.Join(dir, "ca.pem")
	for _, f := range []string{empty, notPEM} {
		if err := os.WriteFile(f, []byte("\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := serveWith(t, "--sso-issuer", "http://idp.example.com", "--sso-client-secret-file", empty,
		"--sso-redirect-url", "https://ca.example.com/callback", "--sso-scopes", "profile", "--sso-role-map", "pki-admins=root,ops",
		"--sso-allowed-email-domains", "example.com,exa mple.com", "--sso-ca-file", notPEM)
	if err == nil {
		t.Fatal("bad sso settings accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		`sso-issuer: "http://idp.example.com" must be https`,
		`sso-client-id: required with sso-issuer`,
		`sso-client-secret-file ` + empty + `: the file is empty`,
		`sso-redirect-url: "https://ca.example.com/callback" must have the path /ui/sso/callback`,
		`sso-scopes: "profile" lacks openid`,
		`sso-role-map: "pki-admins=root": unknown role "root"`,
		`sso-allowed-email-domains: "exa mple.com" is not a domain name`,
		`sso-scopes: sso-allowed-email-domains needs the email scope`,
		`sso-ca-file ` + notPEM + `: no PEM certificate in it`,
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want it to begin %q", i+1, lines[i], w)
		}
	}

	// A value holding "=" or a space is still one value.
	s, err := serveWith(t, "--sso-issuer", "https://idp.example.com", "--sso-client-id", "c", "--sso-client-secret-file", secret,
		"--sso-redirect-url", "https://ca.example.com/ui/sso/callback", "--sso-role-map", "cn=admin=operator,Domain Admins=auditor")
	if err != nil || s.SSO.RoleMap["cn=admin"] != auth.RoleOperator || s.SSO.RoleMap["Domain Admins"] != auth.RoleAuditor {
		t.Errorf("role map with '=' and spaces in values: %v, want cn=admin operator and Domain Admins auditor", err)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--sso-client-id", "x"}, "sso-issuer: not set, but sso-client-id is: set sso-issuer"},
		{[]string{"--sso-issuer", "https://idp.example.com", "--sso-client-id", "c", "--sso-client-secret", "visible",
			"--sso-redirect-url", "https://ca.example.com/ui/sso/callback", "--sso-role-map", "a=admin"},
			"sso-client-secret: not accepted on the command line"},
		{[]string{"--sso-issuer", "https://idp.example.com", "--sso-client-id", "c", "--sso-client-secret-file", filepath.Join(dir, "none"),
			"--sso-redirect-url", "https://ca.example.com/ui/sso/callback", "--sso-role-map", "a=admin,a=auditor"},
			"sso-client-secret-file: open "},
		{[]string{"--sso-issuer", "https://idp.example.com", "--sso-client-id", "c", "--sso-client-secret-file", notPEM,
			"--sso-redirect-url", "https://ca.example.com/ui/sso/callback"},
			"sso-role-map: required with sso-issuer"},
		// Pairs separated by ';' or spaces are refused, not read as the
		// one value "pki-admins=admin; pki-ops" mapped to operator.
		{[]string{"--sso-issuer", "https://idp.example.com", "--sso-client-id", "c", "--sso-client-secret-file", secret,
			"--sso-redirect-url", "https://ca.example.com/ui/sso/callback", "--sso-role-map", "pki-admins=admin; pki-ops=operator"},
			`sso-role-map: "pki-admins=admin; pki-ops=operator" holds more than one VALUE=ROLE pair: separate the pairs with commas`},
		{[]string{"--sso-issuer", "https://idp.example.com", "--sso-client-id", "c", "--sso-client-secret-file", secret,
			"--sso-redirect-url", "https://ca.example.com/ui/sso/callback", "--sso-role-map", "pki-admins=admin pki-ops=operator"},
			`sso-role-map: "pki-admins=admin pki-ops=operator" holds more than one VALUE=ROLE pair`},
		// A redirect URL the provider could not match: a space around it,
		// a port out of range, user information.
		{[]string{"--sso-issuer", "https://idp.example.com", "--sso-client-id", "c", "--sso-client-secret-file", secret,
			"--sso-redirect-url", "https://ca.example.com/ui/sso/callback ", "--sso-role-map", "a=admin"},
			`sso-redirect-url: "https://ca.example.com/ui/sso/callback " has spaces around it: remove them`},
		{[]string{"--sso-issuer", "https://idp.example.com", "--sso-client-id", "c", "--sso-client-secret-file", secret,
			"--sso-redirect-url", "https://ca.example.com:99999/ui/sso/callback", "--sso-role-map", "a=admin"},
			`sso-redirect-url: "https://ca.example.com:99999/ui/sso/callback" has the port 99999: a port is 1 to 65535`},
		{[]string{"--sso-issuer", "https://idp.example.com", "--sso-client-id", "c", "--sso-client-secret-file", secret,
			"--sso-redirect-url", "https://u:p@ca.example.com/ui/sso/callback", "--sso-role-map", "a=admin"},
			`sso-redirect-url: "https://u:p@ca.example.com/ui/sso/callback" must have no query, fragment or user information`},
		// Scopes separated by a space are named so, not as lacking openid.
		{[]string{"--sso-issuer", "https://idp.example.com", "--sso-client-id", "c", "--sso-client-secret-file", secret,
			"--sso-redirect-url", "https://ca.example.com/ui/sso/callback", "--sso-role-map", "a=admin", "--sso-scopes", "openid email"},
			`sso-scopes: "openid email" holds a space: separate the scopes with commas`},
	} {
		_, err := serveWith(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "lacks openid") {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}
