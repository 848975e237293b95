package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OIDCConfig configures sign-in to the dashboard with OpenID Connect
// (OIDC): the authorization code flow with PKCE (OpenID Connect Core 1.0
// §3.1, RFC 7636) against one OpenID Provider.
type OIDCConfig struct {
	Issuer       string   // the provider's issuer identifier (discovery at Issuer/.well-known/openid-configuration)
	ClientID     string   // certgate's client_id
	ClientSecret string   // its client secret (client_secret_basic or _post, as the provider announces)
	RedirectURL  string   // the registered redirect URI (the dashboard's /ui/sso/callback)
	Scopes       []string // requested scopes, "openid" among them
	// RoleClaim is the ID token claim holding groups or roles (a string
	// or an array of strings): a top-level claim of that name, else a
	// dotted path into nested objects ("realm_access.roles").
	RoleClaim string
	// RoleMap maps a value of RoleClaim to a role; the most powerful
	// mapped role (Roles order) is the person's.
	RoleMap map[string]Role
	// AllowedEmailDomains, when not empty, admits only an ID token whose
	// email is in one of them (lower case) and whose email_verified is
	// true.
	AllowedEmailDomains []string
	// RootCAs verify the provider's HTTPS certificate; nil: the system's.
	RootCAs *x509.CertPool
	// Timeout bounds each request to the provider; 0: 10 seconds.
	Timeout time.Duration
}

// OIDC signs people in with an OpenID Provider: it builds the
// authentication request (AuthCodeURL) and, at the callback, redeems the
// code and verifies the ID token with go-oidc (signature against the
// provider's JWKS, iss, aud, exp, nonce; azp when there are several
// audiences), then maps its claims to a role (Exchange). The provider's
// discovery document is fetched at first use and kept.
type OIDC struct {
	cfg    OIDCConfig
	client *http.Client

	mu       sync.Mutex
	provider *oidc.Provider // nil until discovered
}

// NewOIDC returns the OIDC sign-in of cfg; it contacts the provider at
// first use only.
func NewOIDC(cfg OIDCConfig) *OIDC {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
	return &OIDC{cfg: cfg, client: &http.Client{Transport: tr, Timeout: cfg.Timeout}}
}

// discover returns the provider, fetching its discovery document (OpenID
// Connect Discovery 1.0 §4) when it is not known yet.
func (o *OIDC) discover(ctx context.Context) (*oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return o.provider, nil
	}
	// The key set go-oidc builds keeps the client of this context for
	// its later JWKS fetches, not its deadline.
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, o.client), o.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("OpenID Provider %s: discovery: %w", o.cfg.Issuer, err)
	}
	o.provider = p
	return p, nil
}

func (o *OIDC) oauth2Config(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: o.cfg.Scopes}
}

// AuthCodeURL returns the provider's authorization endpoint URL carrying
// the authentication request: response_type code, the scopes, state,
// nonce and the S256 code challenge of verifier (RFC 7636 §4.2). Errors:
// the provider's discovery failed.
func (o *OIDC) AuthCodeURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	p, err := o.discover(ctx)
	if err != nil {
		return "", err
	}
	return o.oauth2Config(p).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// Identity is a person as a verified ID token describes them.
type Identity struct {
	Issuer, Subject string   // iss and sub
	Name            string   // email, else preferred_username, else name, else sub
	Email           string   // email claim; "" when none
	EmailVerified   bool     // email_verified claim (false when absent)
	Values          []string // the values of the role claim
	Role            Role     // the role mapped from Values; "" when none is
}

// Refusal reasons of a SignInRefusedError.
const (
	RefusedNoRole          = "no_role"          // no value of the role claim is mapped
	RefusedNoEmail         = "no_email"         // the domain allow-list is set and the ID token has no email
	RefusedEmailUnverified = "email_unverified" // the domain allow-list is set and email_verified is not true
	RefusedEmailDomain     = "email_domain"     // the email's domain is not allowed
	RefusedAZP             = "authorized_party" // several audiences and azp is not this client
)

// SignInRefusedError is a verified ID token whose person certgate does
// not admit: Reason is one of the Refused* constants, Message says why in
// a sentence for the person.
type SignInRefusedError struct {
	Identity *Identity // the person the verified ID token names
	Reason   string    // one of the Refused* constants, for the audit event
	Message  string    // why, in a sentence for the person's page
}

// Error returns "sign-in refused: " and the Message.
func (e *SignInRefusedError) Error() string { return "sign-in refused: " + e.Message }

// Exchange redeems code (with the PKCE verifier) at the token endpoint,
// verifies the ID token (go-oidc: signature, iss, aud, exp; here the
// nonce, and azp when aud holds several audiences, OpenID Connect Core 1.0
// §3.1.3.7) and returns the person with their mapped role. Errors: a
// *SignInRefusedError for a valid token whose person is not admitted (no
// mapped role, an email outside the allowed domains or not verified);
// any other error for a failed exchange or a token that does not verify.
func (o *OIDC) Exchange(ctx context.Context, code, verifier, nonce string) (*Identity, error) {
	p, err := o.discover(ctx)
	if err != nil {
		return nil, err
	}
	ctx = oidc.ClientContext(ctx, o.client)
	tok, err := o.oauth2Config(p).Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("token request: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return nil, errors.New("token response: no id_token")
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("ID token: %w", err)
	}
	if idt.Nonce != nonce {
		return nil, errors.New("ID token: its nonce is not this sign-in's")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, fmt.Errorf("ID token claims: %w", err)
	}
	return o.admit(idt.Issuer, idt.Subject, idt.Audience, claims)
}

// admit maps verified claims to an Identity, refusing (SignInRefusedError)
// a person certgate does not admit.
func (o *OIDC) admit(iss, sub string, aud []string, claims map[string]any) (*Identity, error) {
	str := func(k string) string { s, _ := claims[k].(string); return s }
	id := &Identity{Issuer: iss, Subject: sub, Email: str("email")}
	switch v := claims["email_verified"].(type) {
	case bool:
		id.EmailVerified = v
	case string: // some providers send "true"
		id.EmailVerified = strings.EqualFold(v, "true")
	}
	for _, k := range []string{"email", "preferred_username", "name"} {
		if id.Name = str(k); id.Name != "" {
			break
		}
	}
	if id.Name == "" {
		id.Name = sub
	}
	id.Values = claimValues(claims, o.cfg.RoleClaim)
	refuse := func(reason, msg string) (*Identity, error) {
		return id, &SignInRefusedError{Identity: id, Reason: reason, Message: msg}
	}
	azp := str("azp")
	if (len(aud) > 1 || azp != "") && azp != o.cfg.ClientID {
		return refuse(RefusedAZP, fmt.Sprintf("the ID token was issued to %q, not to certgate's client %q (azp)", azp, o.cfg.ClientID))
	}
	if len(o.cfg.AllowedEmailDomains) > 0 {
		if id.Email == "" {
			return refuse(RefusedNoEmail, "the identity provider sent no email address, and only people of certain email domains may sign in")
		}
		if !id.EmailVerified {
			return refuse(RefusedEmailUnverified, "your email address "+id.Email+" is not verified at the identity provider (email_verified)")
		}
		domain := id.Email[strings.LastIndex(id.Email, "@")+1:]
		if !slices.Contains(o.cfg.AllowedEmailDomains, strings.ToLower(domain)) {
			return refuse(RefusedEmailDomain, "people of the email domain "+domain+" may not sign in (allowed: "+strings.Join(o.cfg.AllowedEmailDomains, ", ")+")")
		}
	}
	for _, r := range Roles() {
		for _, v := range id.Values {
			if o.cfg.RoleMap[v] == r {
				id.Role = r
				return id, nil
			}
		}
	}
	have := "it has none"
	if len(id.Values) > 0 {
		have = "it has " + strings.Join(id.Values, ", ")
	}
	return refuse(RefusedNoRole, fmt.Sprintf("your account has no role in certgate: no value of its %s claim is mapped to a role (%s)", o.cfg.RoleClaim, have))
}

// claimValues returns the strings of claim name in claims: a top-level
// claim of that name, else the dotted path into nested objects; a string
// or an array (its string elements). None when absent or of another type.
func claimValues(claims map[string]any, name string) []string {
	v, ok := claims[name]
	if !ok {
		var cur any = claims
		for _, part := range strings.Split(name, ".") {
			m, isMap := cur.(map[string]any)
			if !isMap {
				return nil
			}
			cur = m[part]
		}
		v = cur
	}
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case json.Number:
		return []string{x.String()}
	}
	return nil
}
