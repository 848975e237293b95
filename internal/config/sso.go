package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/spf13/pflag"

	"github.com/certgate/certgate/internal/auth"
)

// SSOCallbackPath is the path of the web dashboard's OpenID Connect
// redirection endpoint (OpenID Connect Core 1.0 §3.1.2.5): the path every
// sso-redirect-url must have.
const SSOCallbackPath = "/ui/sso/callback"

// SSO holds the settings of sign-in to the web dashboard with OpenID
// Connect (sso-*, docs/dashboard.md): the authorization code flow with
// PKCE (RFC 7636) against the OpenID Provider at Issuer. Issuer "" turns
// it off.
type SSO struct {
	Issuer   string // the OpenID Provider's issuer identifier (https URL; http on loopback only)
	ClientID string // certgate's client_id at the provider
	// ClientSecret comes from CERTGATE_SSO_CLIENT_SECRET, the
	// configuration file or sso-client-secret-file (ClientSecretFile),
	// never from the command line.
	ClientSecret     string
	ClientSecretFile string // the file ClientSecret was read from; "" for none
	// RedirectURL is the redirection URI registered at the provider: the
	// dashboard's https://HOST[:PORT]/ui/sso/callback (SSOCallbackPath).
	RedirectURL string
	Scopes      []string // requested scopes; always holds "openid"
	// RoleClaim is the ID token claim holding the person's groups or
	// roles: a JSON string or array of strings.
	RoleClaim string
	// RoleMap maps a value of RoleClaim to a dashboard role; a person
	// with several mapped values gets the most powerful of their roles
	// (auth.Roles order).
	RoleMap map[string]auth.Role
	// AllowedEmailDomains, when not empty, admits only people whose
	// verified email (claims email, email_verified) is in one of these
	// domains (lower case, exact match).
	AllowedEmailDomains []string
	// CAFile is the PEM file of the CA certificates that verify the
	// provider's HTTPS certificate ("" for the system's roots); RootCAs
	// holds them once checked.
	CAFile  string
	RootCAs *x509.CertPool // CAFile's certificates once checked (nil: the system's roots)
}

// Enabled reports whether sign-in with OpenID Connect is configured.
func (s *SSO) Enabled() bool { return s != nil && s.Issuer != "" }

// ssoSettings are the names of the SSO settings, for the check that none
// is given without sso-issuer.
var ssoSettings = []string{"sso-client-id", "sso-client-secret", "sso-client-secret-file", "sso-redirect-url", "sso-role-map",
	"sso-allowed-email-domains", "sso-ca-file"}

// ssoFlags registers the sso-* settings on fs into s and returns the
// function that checks them after Resolve: nil when they are valid,
// otherwise an error of one line per bad setting (errors.Join), each
// naming the setting.
func ssoFlags(fs *pflag.FlagSet, s *SSO) func() error {
	var roleMap []string
	fs.StringVar(&s.Issuer, "sso-issuer", "", "OpenID Connect issuer URL of the identity provider for dashboard sign-in (e.g. https://keycloak.example.com/realms/pki); empty: no SSO, sign-in with API tokens only (docs/dashboard.md)")
	fs.StringVar(&s.ClientID, "sso-client-id", "", "client ID of certgate at the identity provider")
	fs.StringVar(&s.ClientSecret, "sso-client-secret", "", "client secret at the identity provider: from CERTGATE_SSO_CLIENT_SECRET or the config file only (refused on the command line), or use sso-client-secret-file")
	fs.StringVar(&s.ClientSecretFile, "sso-client-secret-file", "", "file holding the SSO client secret")
	fs.StringVar(&s.RedirectURL, "sso-redirect-url", "", "redirect URI registered at the identity provider: https://HOST[:PORT]"+SSOCallbackPath+", HOST:PORT as the browser reaches the dashboard")
	fs.StringSliceVar(&s.Scopes, "sso-scopes", []string{"openid", "email", "profile"}, "scopes requested from the identity provider, comma-separated; must include openid (add e.g. groups when the provider needs it for the role claim)")
	fs.StringVar(&s.RoleClaim, "sso-role-claim", "groups", "ID token claim holding the person's groups or roles (a string or a list of strings)")
	fs.StringSliceVar(&roleMap, "sso-role-map", nil, "VALUE=ROLE pairs, comma-separated, mapping values of sso-role-claim to dashboard roles (admin, approver, operator, auditor), e.g. pki-admins=admin,pki-ops=operator; a person with no mapped value is refused")
	fs.StringSliceVar(&s.AllowedEmailDomains, "sso-allowed-email-domains", nil, "comma-separated email domains admitted (e.g. example.com); the ID token's email must be in one and email_verified true. Empty: any")
	fs.StringVar(&s.CAFile, "sso-ca-file", "", "PEM file of the CA certificates that verify the identity provider's HTTPS certificate; empty: the system's roots")
	markSecret(fs, "sso-client-secret")
	return func() error {
		var errs []error
		bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
		if f := fs.Lookup("sso-client-secret"); f != nil && f.Changed {
			bad("sso-client-secret: not accepted on the command line (every user of the machine can read it): set %s, the config file's sso-client-secret, or sso-client-secret-file",
				EnvName("sso-client-secret"))
		}
		s.Issuer = strings.TrimSpace(s.Issuer)
		if s.Issuer == "" {
			var given []string
			for _, name := range ssoSettings {
				if f := fs.Lookup(name); f != nil && hasValue(f) {
					given = append(given, name)
				}
			}
			if len(given) > 0 {
				bad("sso-issuer: not set, but %s %s: set sso-issuer to sign in with SSO, or remove them", strings.Join(given, ", "), plural(len(given), "is", "are"))
			}
			s.RoleMap = nil
			return errors.Join(errs...)
		}
		if why := ssoURLFault(s.Issuer, true); why != "" {
			bad("sso-issuer: %q %s", s.Issuer, why)
		}
		if strings.TrimSpace(s.ClientID) == "" {
			bad("sso-client-id: required with sso-issuer (the client ID registered at the identity provider)")
		}
		secret, err := secretOf("sso-client-secret", s.ClientSecret, s.ClientSecretFile)
		switch {
		case err != nil:
			bad("%w", err)
		case secret == "" && s.ClientSecretFile != "":
			bad("sso-client-secret-file %s: the file is empty", s.ClientSecretFile)
		case secret == "":
			bad("sso-client-secret: required with sso-issuer: set %s, the config file's sso-client-secret, or sso-client-secret-file", EnvName("sso-client-secret"))
		}
		s.ClientSecret = secret
		if s.RedirectURL == "" {
			bad("sso-redirect-url: required with sso-issuer: https://HOST[:PORT]%s as registered at the identity provider", SSOCallbackPath)
		} else if why := ssoURLFault(s.RedirectURL, false); why != "" {
			bad("sso-redirect-url: %q %s", s.RedirectURL, why)
		} else if u, _ := url.Parse(s.RedirectURL); u.Path != SSOCallbackPath {
			bad("sso-redirect-url: %q must have the path %s (the dashboard's callback), not %q", s.RedirectURL, SSOCallbackPath, u.Path)
		}
		var scopes []string
		spaced := false
		for _, sc := range s.Scopes {
			if sc = strings.TrimSpace(sc); strings.ContainsFunc(sc, unicode.IsSpace) {
				// A scope token has no space (RFC 6749 §3.3): "openid email"
				// is two scopes given with the wrong separator.
				bad("sso-scopes: %q holds a space: separate the scopes with commas (e.g. openid,email,profile)", sc)
				spaced = true
				continue
			}
			if sc != "" && !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
		s.Scopes = scopes
		if !spaced && !slices.Contains(scopes, "openid") {
			bad("sso-scopes: %q lacks openid, which OpenID Connect requires", strings.Join(scopes, ","))
		}
		if s.RoleClaim = strings.TrimSpace(s.RoleClaim); s.RoleClaim == "" {
			bad("sso-role-claim: must name the ID token claim holding the groups or roles (e.g. groups)")
		}
		if rm, err := parseRoleMap(roleMap); err != nil {
			bad("sso-role-map: %w", err)
		} else {
			s.RoleMap = rm
		}
		var domains []string
		for _, d := range s.AllowedEmailDomains {
			d = strings.ToLower(strings.TrimSpace(d))
			if d == "" || slices.Contains(domains, d) {
				continue
			}
			if why := hostnameFault(d); why != "" || net.ParseIP(d) != nil {
				if why == "" {
					why = "it is an IP address"
				}
				bad("sso-allowed-email-domains: %q is not a domain name: %s", d, why)
				continue
			}
			domains = append(domains, d)
		}
		s.AllowedEmailDomains = domains
		if !spaced && len(domains) > 0 && !slices.Contains(scopes, "email") {
			bad("sso-scopes: sso-allowed-email-domains needs the email scope (the email and email_verified claims)")
		}
		s.RootCAs = nil
		if s.CAFile != "" {
			if pem, err := os.ReadFile(s.CAFile); err != nil {
				bad("sso-ca-file: %w", err)
			} else if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(pem) {
				bad("sso-ca-file %s: no PEM certificate in it", s.CAFile)
			} else {
				s.RootCAs = pool
			}
		}
		return errors.Join(errs...)
	}
}

// parseRoleMap parses sso-role-map's VALUE=ROLE pairs. A value mapped
// twice to different roles, an unknown role, or no pair at all is an
// error.
func parseRoleMap(pairs []string) (map[string]auth.Role, error) {
	out := map[string]auth.Role{}
	for _, p := range pairs {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		i := strings.LastIndex(p, "=")
		if i <= 0 {
			return nil, fmt.Errorf("%q is not VALUE=ROLE (e.g. pki-admins=admin)", p)
		}
		v, r := strings.TrimSpace(p[:i]), strings.TrimSpace(p[i+1:])
		// "a=admin; b=operator" or "a=admin b=operator" would map the
		// value "a=admin; b" (the last "=" splits, for values such as
		// LDAP DNs): refuse a value holding another VALUE=ROLE pair.
		// The last field is the pair's own value part ("cn=admin" in
		// "cn=admin=operator" is a value, not a pair).
		fields := strings.FieldsFunc(v, func(c rune) bool { return c == ';' || unicode.IsSpace(c) })
		for _, f := range fields[:max(len(fields)-1, 0)] {
			if j := strings.LastIndex(f, "="); j > 0 {
				if _, err := auth.ParseRole(f[j+1:]); err == nil {
					return nil, fmt.Errorf("%q holds more than one VALUE=ROLE pair: separate the pairs with commas (or give a list in the config file)", p)
				}
			}
		}
		role, err := auth.ParseRole(r)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", p, err)
		}
		if old, ok := out[v]; ok && old != role {
			return nil, fmt.Errorf("%q is mapped to both %s and %s", v, old, role)
		}
		out[v] = role
	}
	if len(out) == 0 {
		return nil, errors.New("required with sso-issuer: VALUE=ROLE pairs, e.g. pki-admins=admin,pki-ops=operator (a person whose role claim has no mapped value cannot sign in)")
	}
	return out, nil
}

// ssoURLFault says what keeps v from being an issuer (issuer true) or
// redirect URL: an absolute https URL without query or fragment (an
// issuer also without user information, OpenID Connect Discovery 1.0
// §4.1); http only for a loopback host. "" when nothing does.
func ssoURLFault(v string, issuer bool) string {
	if strings.TrimSpace(v) != v {
		// Both are compared by the provider as written: a space would
		// not match what is registered there.
		return "has spaces around it: remove them"
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "is not an absolute https URL"
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return "must be https (http only on a loopback address, for tests)"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("has the port %s: a port is 1 to 65535", p)
		}
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "must have no query, fragment or user information"
	}
	return ""
}

// loopbackHost reports whether host is localhost or a loopback address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// plural returns one when n is 1, else more.
func plural(n int, one, more string) string {
	if n == 1 {
		return one
	}
	return more
}
