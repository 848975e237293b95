// Package vaultpki is the issuer connector that forwards issuance to a
// HashiCorp Vault (or OpenBao) PKI secrets engine: certgate validates its
// own ACME clients (RFC 8555) and applies its policy, then sends the
// client's CSR to the engine's sign endpoint (POST /v1/MOUNT/sign/ROLE)
// with the order's names, and serves the certificate Vault returns.
// Revocation of such a certificate is forwarded to POST /v1/MOUNT/revoke.
//
// It talks to Vault with Vault's own Go client (github.com/hashicorp/
// vault/api), isolated from the VAULT_* environment variables that client
// otherwise reads: the address, CA bundle, token, namespace and retries
// are the issuers-file entry's only. Vault authenticates certgate with a
// token read from a file at each use (so that a Vault Agent may rotate
// it), or with an AppRole login (role_id and a secret_id file) whose
// client token is kept until shortly before its lease ends. No token or
// secret_id is ever logged.
package vaultpki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/duration"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/secretfile"
)

// Type is the issuers-file type of this connector's entries.
const Type = "vault"

// DefaultTimeout bounds one issuance or revocation at Vault (the AppRole
// login included) when the entry sets no timeout.
const DefaultTimeout = 30 * time.Second

// Formats of the sign endpoint's answer certgate asks for (Vault's
// "format" parameter; "der" is not used).
const (
	FormatPEM       = "pem"        // certificate: the leaf; issuing_ca and ca_chain apart
	FormatPEMBundle = "pem_bundle" // certificate: the leaf and its issuing CA, concatenated
)

// Config is one entry of the issuers file with type vault
// (docs/issuers.md).
type Config struct {
	// Name is the issuer's name, as profiles name it and certificates
	// record it (issuer.Load checks it).
	Name string `yaml:"name"`
	// Type is Type ("vault").
	Type string `yaml:"type"`
	// Address is Vault's URL, https://HOST:PORT (no path but an
	// optional prefix before /v1).
	Address string `yaml:"address"`
	// Mount is the PKI secrets engine's mount path; "" is "pki".
	Mount string `yaml:"mount"`
	// Role is the PKI role whose sign endpoint issues (required).
	Role string `yaml:"role"`
	// Namespace, when set, is sent as X-Vault-Namespace (Vault
	// Enterprise, OpenBao namespaces) with every request, the AppRole
	// login included.
	Namespace string `yaml:"namespace"`
	// CABundle is a PEM file of the CA certificates that Vault's HTTPS
	// certificate chains to; "" trusts the system's.
	CABundle string `yaml:"caBundle"`
	// TokenFile is a file holding a Vault token, read at each request;
	// either it or RoleID and SecretIDFile.
	TokenFile string `yaml:"tokenFile"`
	// RoleID is the AppRole role_id to log in with.
	RoleID string `yaml:"roleId"`
	// SecretIDFile is a file holding the AppRole secret_id, read at
	// each login.
	SecretIDFile string `yaml:"secretIdFile"`
	// AppRoleMount is the AppRole auth method's mount path; "" is
	// "approle".
	AppRoleMount string `yaml:"approleMount"`
	// Format is the sign endpoint's format: FormatPEM (the default) or
	// FormatPEMBundle.
	Format string `yaml:"format"`
	// TTL, when set, is the validity asked for (Vault's ttl, which the
	// role's max_ttl caps), e.g. "720h" or "30d"; "" leaves it to the
	// role.
	TTL string `yaml:"ttl"`
	// Timeout bounds one issuance or revocation, e.g. "30s"; "" is
	// DefaultTimeout.
	Timeout string `yaml:"timeout"`
}

// Connector returns the connector the composition root registers for
// entries of type vault.
func Connector() issuer.Connector {
	return issuer.NewConnector(Type, func(name string, c Config, env issuer.Env) (*Issuer, error) {
		c.Name = name
		return New(c, env)
	})
}

// Issuer forwards issuance to one Vault PKI role. It implements
// issuer.Issuer, issuer.Remote and issuer.Revoker; it is safe for
// concurrent use.
type Issuer struct {
	cfg     Config
	timeout time.Duration
	ttl     time.Duration // 0: the role's
	http    *http.Client
	log     *slog.Logger

	mu       sync.Mutex
	client   *vault.Client // with token tok; rebuilt when the token changes
	tok      string
	loginExp time.Time // when an AppRole token is to be renewed by a new login; zero: never
}

// New checks c and returns its issuer, reading the CA bundle; nothing is
// contacted until the first Issue or Revoke, and the token and secret_id
// files are read at use (a missing one is an error then, not now).
// Errors name the key at fault, or, when a VAULT_* environment variable
// does not parse (Vault's library reads them), the library's reason.
func New(c Config, env issuer.Env) (*Issuer, error) {
	u, err := url.Parse(c.Address)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("address: %q is not an https URL of Vault (https://HOST:PORT); a token is never sent in clear", c.Address)
	}
	if c.Mount == "" {
		c.Mount = "pki"
	}
	if c.AppRoleMount == "" {
		c.AppRoleMount = "approle"
	}
	for _, p := range []struct{ key, v string }{{"mount", c.Mount}, {"role", c.Role}, {"approleMount", c.AppRoleMount}} {
		if err := checkPath(p.key, p.v, p.key != "role"); err != nil {
			return nil, err
		}
	}
	switch c.Format {
	case "":
		c.Format = FormatPEM
	case FormatPEM, FormatPEMBundle:
	default:
		return nil, fmt.Errorf("format: %q is not %s or %s", c.Format, FormatPEM, FormatPEMBundle)
	}
	appRole := c.RoleID != "" || c.SecretIDFile != ""
	switch {
	case c.TokenFile == "" && !appRole:
		return nil, errors.New("no credentials: give tokenFile, or roleId and secretIdFile (AppRole)")
	case c.TokenFile != "" && appRole:
		return nil, errors.New("tokenFile and roleId/secretIdFile: give one way to authenticate, not both")
	case appRole && (c.RoleID == "" || c.SecretIDFile == ""):
		return nil, errors.New("roleId and secretIdFile: give both (AppRole)")
	}
	is := &Issuer{cfg: c, timeout: DefaultTimeout, log: env.Log}
	if is.log == nil {
		is.log = slog.New(slog.DiscardHandler)
	}
	for _, f := range []struct{ key, path string }{{"tokenFile", c.TokenFile}, {"secretIdFile", c.SecretIDFile}} {
		secretfile.WarnIfExposed(context.Background(), is.log, "issuers-file: issuer "+c.Name+": "+f.key, f.path)
	}
	if c.Timeout != "" {
		if is.timeout, err = duration.Parse(c.Timeout); err != nil || is.timeout <= 0 {
			return nil, fmt.Errorf("timeout: %q is not a positive duration (e.g. 30s)", c.Timeout)
		}
	}
	if c.TTL != "" {
		if is.ttl, err = duration.Parse(c.TTL); err != nil || is.ttl < time.Second {
			return nil, fmt.Errorf("ttl: %q is not a positive duration of a second or more (e.g. 720h, 30d)", c.TTL)
		}
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CABundle != "" {
		b, err := os.ReadFile(c.CABundle)
		if err != nil {
			return nil, fmt.Errorf("caBundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("caBundle: %s holds no PEM certificate", c.CABundle)
		}
		tlsCfg.RootCAs = pool
	}
	is.http = &http.Client{Timeout: is.timeout, Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: is.timeout,
		TLSClientConfig:       tlsCfg,
	},
		// Vault's client follows Vault's redirects (a standby node to
		// the active one) itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	// Vault's library reads the VAULT_* environment whenever it makes a
	// client, and refuses to make one when a variable does not parse:
	// refused here, naming the library's reason, rather than at every
	// sign and revoke.
	if _, err := is.newClient(""); err != nil {
		return nil, fmt.Errorf("%w: correct or unset that VAULT_* environment variable of certgate's process (the entry's settings override the ones that name the address, token, namespace, TLS trust and retries)", err)
	}
	return is, nil
}

// checkPath checks the mount or role path v of key: not empty, no
// leading or trailing slash, no "." or ".." segment; slashes only where
// nested mounts allow them.
func checkPath(key, v string, nested bool) error {
	if v == "" {
		return fmt.Errorf("%s is missing", key)
	}
	if strings.HasPrefix(v, "/") || strings.HasSuffix(v, "/") || path.Clean(v) != v || strings.ContainsAny(v, " ?#%") ||
		(!nested && strings.Contains(v, "/")) || strings.HasPrefix(v, "..") {
		return fmt.Errorf("%s: %q is not a Vault path segment (e.g. pki, pki/int)", key, v)
	}
	return nil
}

// Name is the issuer's configured name, stored with every certificate it
// issues.
func (is *Issuer) Name() string { return is.cfg.Name }

// IssueTimeout bounds one Issue call (the entry's timeout).
func (is *Issuer) IssueTimeout() time.Duration { return is.timeout }

// SignPath is the path of the sign endpoint, under /v1/: MOUNT/sign/ROLE.
func (is *Issuer) SignPath() string { return is.cfg.Mount + "/sign/" + is.cfg.Role }

// signURL is the sign endpoint's URL, recorded as the remote order.
func (is *Issuer) signURL() string {
	return strings.TrimSuffix(is.cfg.Address, "/") + "/v1/" + is.SignPath()
}

// newClient returns a Vault client for the entry with token tok ("" for
// none: the AppRole login), isolated from the VAULT_* environment: no
// VAULT_TOKEN, VAULT_NAMESPACE or VAULT_WRAP_TTL, no retries (a sign
// request repeated after a lost answer would sign twice).
func (is *Issuer) newClient(tok string) (*vault.Client, error) {
	c, err := vault.NewClient(&vault.Config{Address: is.cfg.Address, HttpClient: is.http, Timeout: is.timeout, MaxRetries: 0})
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	c.ClearToken()
	if tok != "" {
		c.SetToken(tok)
	}
	c.ClearNamespace()
	if is.cfg.Namespace != "" {
		c.SetNamespace(is.cfg.Namespace)
	}
	c.SetWrappingLookupFunc(func(string, string) string { return "" })
	return c, nil
}

// errNoToken marks a credential that could not be read or obtained: a
// configuration problem at certgate, not Vault's answer.
var errNoToken = errors.New("no Vault token")

// clientFor returns the client to call Vault with: the token file's
// current token, or the AppRole login's token (logging in when there is
// none or it is due; fresh forces a new login).
func (is *Issuer) clientFor(ctx context.Context, fresh bool) (*vault.Client, error) {
	var tok string
	exp := time.Time{}
	if is.cfg.TokenFile != "" {
		b, err := os.ReadFile(is.cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("%w: tokenFile: %w", errNoToken, err)
		}
		if tok = strings.TrimSpace(string(b)); tok == "" {
			return nil, fmt.Errorf("%w: tokenFile %s is empty", errNoToken, is.cfg.TokenFile)
		}
	} else {
		is.mu.Lock()
		c, due := is.client, is.client == nil || fresh || (!is.loginExp.IsZero() && !time.Now().Before(is.loginExp))
		is.mu.Unlock()
		if !due {
			return c, nil
		}
		var err error
		if tok, exp, err = is.login(ctx); err != nil {
			return nil, err
		}
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.client != nil && is.tok == tok {
		return is.client, nil
	}
	c, err := is.newClient(tok)
	if err != nil {
		return nil, err
	}
	is.client, is.tok, is.loginExp = c, tok, exp
	return c, nil
}

// login logs in with AppRole (POST /v1/auth/MOUNT/login with role_id and
// secret_id) and returns the client token and when to log in again (two
// thirds into its lease; zero for a token without one).
func (is *Issuer) login(ctx context.Context) (string, time.Time, error) {
	b, err := os.ReadFile(is.cfg.SecretIDFile)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: secretIdFile: %w", errNoToken, err)
	}
	secretID := strings.TrimSpace(string(b))
	if secretID == "" {
		return "", time.Time{}, fmt.Errorf("%w: secretIdFile %s is empty", errNoToken, is.cfg.SecretIDFile)
	}
	c, err := is.newClient("")
	if err != nil {
		return "", time.Time{}, err
	}
	start := time.Now()
	s, err := c.Logical().WriteWithContext(ctx, "auth/"+is.cfg.AppRoleMount+"/login", map[string]any{"role_id": is.cfg.RoleID, "secret_id": secretID})
	if err != nil {
		return "", time.Time{}, &vaultError{op: "AppRole login", err: err}
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return "", time.Time{}, &vaultError{op: "AppRole login", err: errors.New("the answer holds no client token")}
	}
	var exp time.Time
	if s.Auth.LeaseDuration > 0 {
		exp = start.Add(time.Duration(s.Auth.LeaseDuration) * time.Second * 2 / 3)
	}
	is.log.Info("Vault AppRole login", "issuer", is.cfg.Name, "lease_seconds", s.Auth.LeaseDuration)
	return s.Auth.ClientToken, exp, nil
}

// vaultError is a failed request to Vault: op names it ("sign", "revoke",
// "AppRole login"); err is the client's error, a *vault.ResponseError
// when Vault answered with an error status.
type vaultError struct {
	op  string
	err error
}

func (e *vaultError) Error() string { return "Vault " + e.op + ": " + e.err.Error() }
func (e *vaultError) Unwrap() error { return e.err }

// write sends data to path (under /v1/) with the entry's credentials.
// With AppRole, a 403 (the token expired or was revoked) logs in again
// and repeats the request once: Vault refused it, so nothing was done.
func (is *Issuer) write(ctx context.Context, op, p string, data map[string]any) (*vault.Secret, error) {
	c, err := is.clientFor(ctx, false)
	if err != nil {
		return nil, err
	}
	s, err := c.Logical().WriteWithContext(ctx, p, data)
	var re *vault.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusForbidden && is.cfg.TokenFile == "" {
		is.log.Warn("Vault refused the AppRole token: logging in again", "issuer", is.cfg.Name)
		if c, err = is.clientFor(ctx, true); err != nil {
			return nil, err
		}
		s, err = c.Logical().WriteWithContext(ctx, p, data)
	}
	if err != nil {
		return nil, &vaultError{op: op, err: err}
	}
	return s, nil
}

// Issue sends req.CSR to Vault's sign endpoint for the role (POST
// /v1/MOUNT/sign/ROLE) with common_name, alt_names and ip_sans from the
// order's names (req.DNSNames, req.IPAddresses), the entry's format and
// ttl, and returns the certificate with the chain Vault served (leaf
// first, then the intermediates; self-signed roots left out). Vault
// chooses the serial and, within the role, the validity. Before it sends
// the request it hands req.Placed the sign endpoint's URL, so that an
// interrupted issuance is known to have reached Vault (Resume). Errors
// are *acme.Problem values naming the issuer: Vault's errors array when
// it refused, a client-safe detail when it could not be reached (the
// cause is logged).
func (is *Issuer) Issue(ctx context.Context, req issuer.IssueRequest) (*issuer.Issued, error) {
	if req.CSR == nil {
		return nil, errors.New("vaultpki: the request carries no CSR")
	}
	ctx, cancel := context.WithTimeout(ctx, is.timeout)
	defer cancel()
	data := map[string]any{
		"csr":    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: req.CSR.Raw})),
		"format": is.cfg.Format,
	}
	if cn := commonName(req); cn != "" {
		data["common_name"] = cn
	}
	if len(req.DNSNames) > 0 {
		data["alt_names"] = strings.Join(req.DNSNames, ",")
	}
	if len(req.IPAddresses) > 0 {
		ips := make([]string, len(req.IPAddresses))
		for i, ip := range req.IPAddresses {
			ips[i] = ip.String()
		}
		data["ip_sans"] = strings.Join(ips, ",")
	}
	if is.ttl > 0 {
		data["ttl"] = strconv.FormatInt(int64(is.ttl/time.Second), 10) + "s"
	}
	// The credentials come first: a token that cannot be had is no
	// reason to record that Vault was asked.
	if _, err := is.clientFor(ctx, false); err != nil {
		return nil, is.problem("could not authenticate", err)
	}
	if req.Placed != nil {
		if err := req.Placed(ctx, issuer.RemoteOrder{OrderURL: is.signURL()}); err != nil {
			return nil, err
		}
	}
	s, err := is.write(ctx, "sign", is.SignPath(), data)
	if err != nil {
		return nil, is.problem("did not issue the certificate", err)
	}
	if s != nil && len(s.Warnings) > 0 {
		is.log.Warn("Vault signed with warnings", "issuer", is.cfg.Name, "warnings", s.Warnings)
	}
	chain, err := chainOf(s)
	if err != nil {
		is.log.Error("Vault's sign answer is unusable", "issuer", is.cfg.Name, "err", err)
		return nil, acme.NewProblem(acme.ServerInternal, "Vault issuer %s returned an unusable answer: %v", is.cfg.Name, err)
	}
	return &issuer.Issued{DER: chain[0].Raw, ChainPEM: encodeChain(chain)}, nil
}

// commonName is the common_name sent to Vault: the CSR's CN when it is
// one of the order's DNS names, else the first DNS name; "" for an order
// of IP addresses only (the role then needs require_cn=false).
func commonName(req issuer.IssueRequest) string {
	cn := strings.ToLower(req.CSR.Subject.CommonName)
	for _, n := range req.DNSNames {
		if n == cn {
			return cn
		}
	}
	if len(req.DNSNames) > 0 {
		return req.DNSNames[0]
	}
	return ""
}

// Resume is asked by the sweep for an order whose certgate process died
// or gave up while Vault was asked to sign (issuer.Remote). Vault's sign
// endpoint keeps no order to look up, so the outcome cannot be found: it
// returns a serverInternal problem saying that Vault may have signed a
// certificate that is not served, and logs it at ERROR for the operator
// (who finds it in Vault's certificate list and may revoke it).
func (is *Issuer) Resume(ctx context.Context, o issuer.RemoteOrder) (*issuer.Issued, error) {
	is.log.ErrorContext(ctx, "issuance interrupted while Vault was asked to sign: a certificate Vault may have signed is not in the inventory; look in Vault's certificate list (LIST /v1/"+is.cfg.Mount+"/certs) and revoke it if found",
		"issuer", is.cfg.Name, "sign", o.OrderURL)
	return nil, acme.NewProblem(acme.ServerInternal,
		"issuance was interrupted while Vault issuer %s was asked to sign; a certificate it may have signed is not served; please create a new order", is.cfg.Name)
}

// Revoke forwards a revocation to Vault (POST /v1/MOUNT/revoke with the
// certificate's serial_number, colon-separated hex as Vault writes it).
// Vault's endpoint takes no reason code: reason is recorded by certgate
// only. A certificate Vault reports as revoked already is no error (Vault
// answers it with its revocation time, as a new revocation).
func (is *Issuer) Revoke(ctx context.Context, der []byte, reason int) error {
	ctx, cancel := context.WithTimeout(ctx, is.timeout)
	defer cancel()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("vaultpki: revoke: %w", err)
	}
	serial := SerialNumber(c)
	if _, err := is.write(ctx, "revoke", is.cfg.Mount+"/revoke", map[string]any{"serial_number": serial}); err != nil {
		return is.problem("did not revoke the certificate", err)
	}
	is.log.Info("Vault revoked the certificate", "issuer", is.cfg.Name, "serial", serial, "reason", reason)
	return nil
}

// SerialNumber is cert's serial as Vault writes it: the big-endian octets
// in lower-case hex, separated by colons ("39:dd:2e:...").
func SerialNumber(cert *x509.Certificate) string {
	h := hex.EncodeToString(cert.SerialNumber.Bytes())
	parts := make([]string, 0, len(h)/2)
	for i := 0; i+1 < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// passed maps words of Vault's error messages for a refused sign request
// (400) to the ACME problems passed on to the client, which say what it
// can change (RFC 8555 §6.7); any other refusal is serverInternal.
var passed = []struct {
	words []string
	typ   acme.ProblemType
}{
	{[]string{"not allowed by this role", "not allowed in this role", "subject alternate name", "common name", "ip sans", "wildcard"}, acme.RejectedIdentifier},
	{[]string{"key type", "keys of type", "key bits", "key size", "bits are unsafe", "public key", "rsa key", "ec key", "ed25519"}, acme.BadPublicKey},
	{[]string{"csr", "certificate request"}, acme.BadCSR},
}

// problem turns err, from Vault's answer or the way to it, into the
// problem the client sees, naming the issuer: "Vault issuer NAME <what>:
// HTTP 400: <Vault's errors, joined with '; '>" when Vault answered with
// an error (429 as rateLimited; a 400 about the names, key or CSR as
// rejectedIdentifier, badPublicKey or badCSR; any other as
// serverInternal), otherwise a detail without internals (the cause goes
// to the log; tokens are never part of it).
func (is *Issuer) problem(what string, err error) error {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		msg := strings.Join(re.Errors, "; ")
		if re.RawError || msg == "" {
			msg = http.StatusText(re.StatusCode)
		}
		msg = strings.Join(strings.Fields(msg), " ")
		if len(msg) > 400 {
			msg = msg[:400] + "..."
		}
		op := "request"
		var ve *vaultError
		if errors.As(err, &ve) {
			op = ve.op
		}
		typ := acme.ServerInternal
		switch lower := strings.ToLower(msg); {
		case re.StatusCode == http.StatusTooManyRequests:
			typ = acme.RateLimited
		case re.StatusCode == http.StatusBadRequest && op == "sign":
		match:
			for _, p := range passed {
				for _, w := range p.words {
					if strings.Contains(lower, w) {
						typ = p.typ
						break match
					}
				}
			}
		}
		is.log.Warn("Vault refused", "issuer", is.cfg.Name, "op", op, "status", re.StatusCode, "errors", msg)
		return acme.NewProblem(typ, "Vault issuer %s %s: %s answered HTTP %d: %s", is.cfg.Name, what, op, re.StatusCode, msg)
	}
	is.log.Error("Vault request failed", "issuer", is.cfg.Name, "what", what, "err", err)
	why := "Vault's answer could not be used (the server log has why)"
	switch {
	case errors.Is(err, errNoToken):
		why = "certgate could not read its Vault credentials (see the server log)"
	case errors.Is(err, context.DeadlineExceeded):
		why = fmt.Sprintf("Vault did not answer within %s", is.timeout)
	case issuer.Unreachable(err):
		why = "Vault could not be reached or did not answer in time"
	}
	var ve *vaultError
	if errors.As(err, &ve) && ve.op == "sign" {
		why += " (Vault may have signed a certificate that is not served)"
	}
	return acme.NewProblem(acme.ServerInternal, "Vault issuer %s %s: %s; try again later", is.cfg.Name, what, why)
}

// chainOf parses the sign endpoint's answer: data.certificate (the leaf,
// and with pem_bundle its issuing CA), then data.ca_chain, or
// data.issuing_ca when there is no ca_chain. Duplicates and self-signed
// CA certificates (roots, which clients hold already) are left out; the
// leaf comes first.
func chainOf(s *vault.Secret) ([]*x509.Certificate, error) {
	if s == nil || s.Data == nil {
		return nil, errors.New("no data in the answer")
	}
	pemOf := func(key string) (string, error) {
		switch v := s.Data[key].(type) {
		case nil:
			return "", nil
		case string:
			return v, nil
		case []any:
			var b strings.Builder
			for _, e := range v {
				str, ok := e.(string)
				if !ok {
					return "", fmt.Errorf("data.%s holds a %T", key, e)
				}
				b.WriteString(str)
				b.WriteString("\n")
			}
			return b.String(), nil
		default:
			return "", fmt.Errorf("data.%s is a %T, not PEM", key, v)
		}
	}
	leafPEM, err := pemOf("certificate")
	if err != nil {
		return nil, err
	}
	certs, err := issuer.ParsePEMCertificates([]byte(leafPEM))
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("data.certificate holds no certificate (%v)", err)
	}
	cas, err := pemOf("ca_chain")
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(cas) == "" {
		if cas, err = pemOf("issuing_ca"); err != nil {
			return nil, err
		}
	}
	more, err := issuer.ParsePEMCertificates([]byte(cas))
	if err != nil {
		return nil, err
	}
	out := []*x509.Certificate{certs[0]}
	for _, c := range append(certs[1:], more...) {
		dup := false
		for _, o := range out {
			dup = dup || o.Equal(c)
		}
		if dup || (c.IsCA && c.CheckSignatureFrom(c) == nil && string(c.RawIssuer) == string(c.RawSubject)) {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// encodeChain is chain as PEM, leaf first.
func encodeChain(chain []*x509.Certificate) []byte {
	var b []byte
	for _, c := range chain {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}
