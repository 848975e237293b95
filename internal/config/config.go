// Package config defines certgate's settings and loads them from, in order
// of precedence: command-line flags, CERTGATE_* environment variables, a
// YAML file (--config), and built-in defaults. Every setting has one name
// used in all three places: the flag "--va-http-port", the environment
// variable CERTGATE_VA_HTTP_PORT and the YAML key "va-http-port".
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/pflag"
	zlintutil "github.com/zmap/zlint/v3/util"
	"go.yaml.in/yaml/v3"

	"github.com/certgate/certgate/internal/acme"
	dur "github.com/certgate/certgate/internal/duration"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/va"
)

// Serve holds the settings of `certgate serve`.
type Serve struct {
	Data          string        // data directory (SQLite database by default, CA keys, lock file)
	DB            string        // database: "" = SQLite at Data/certgate.db; postgres:// URL; else a SQLite file path
	Listen        string        // HTTPS listen address, host:port
	MetricsListen string        // plain-HTTP host:port serving /metrics (Prometheus), /healthz, /readyz; "" = none
	AdminListen   string        // HTTPS host:port serving the admin API (/api/v1) instead of Listen; "" = on Listen
	Hostname      string        // name clients use to reach the server
	VAHTTPPort    int           // port http-01 validation connects to
	VATLSPort     int           // port tls-alpn-01 validation connects to
	VADNSResolver string        // host:port of the DNS server validation uses, or several comma-separated; "" = system resolver
	VADNSTimeout  time.Duration // one DNS query to one server
	VADNSSEC      bool          // accept only DNSSEC-authenticated answers (AD bit) from VADNSResolver
	CertValidity  time.Duration // validity period of issued certificates (default DefaultCertValidity)
	// CertValidityFollowsBR is set by ServeFlags when cert-validity was
	// not given (flag, environment or config file): the default profile
	// then follows the CA/B Forum BR (policy.Profile.FollowsBR).
	CertValidityFollowsBR bool
	ClientAuth            bool          // add the clientAuth EKU to issued leaves
	AuthzReuse            time.Duration // reuse valid authorizations validated within this window; 0 disables
	LogLevel              string        // debug | info | warn | error
	LogFormat             string        // text | json
	ShutdownGrace         time.Duration // how long shutdown waits for requests and validations
	// HTTP2 offers HTTP/2 (ALPN "h2") on the HTTPS listener besides
	// HTTP/1.1. Off by default: ACME clients send one request at a time
	// per connection, so HTTP/2's multiplexing buys nothing, and serving a
	// request over HTTP/2 costs more server CPU (a goroutine per stream
	// whose stack grows anew, frame scheduling; docs/performance.md).
	HTTP2          bool
	TermsOfService string // directory meta.termsOfService
	Website        string // directory meta.website
	// CAA (RFC 8659, RFC 8657).
	CAAIdentities   []string      // issuer domain names naming this CA in CAA records; directory meta.caaIdentities
	CAARecheckAfter time.Duration // finalize re-checks CAA for authorizations validated longer ago; 0 = always
	// Address policy (internal/va/policy.go): networks http-01 and
	// tls-alpn-01 never connect to; empty allows internal addresses.
	VADenyNetworks []netip.Prefix
	// ApprovalWebhook receives a JSON POST for every escalated approval
	// (docs/profiles.md); "" sends none.
	ApprovalWebhook string
	// Revocation status: OCSP serves the OCSP responder (RFC 6960) at
	// /pki/ocsp and names it in issued leaves' AIA; RevocationRefresh is
	// how long a signed CRL or OCSP response is reused, the bound within
	// which a revocation not made through this node shows.
	OCSP              bool
	RevocationRefresh time.Duration // see OCSP above
	// ARIRetryAfter is the Retry-After of ACME Renewal Information
	// (RFC 9773) answers: how often clients ask again.
	ARIRetryAfter time.Duration
	// ARIExplanationURL, when set, is the explanationURL of renewalInfo
	// answers.
	ARIExplanationURL string
	// RateLimits (internal/ratelimit, docs/rate-limits.md).
	RateLimits ratelimit.Config
	// Perspectives: multi-perspective validation (internal/va/mpic).
	Perspectives Perspectives
	// CAOrganization is the subject O= of the built-in CA's root and
	// intermediate when serve creates them; an existing CA keeps its own.
	CAOrganization string
	// CACountry is their subject C= (ISO 3166-1 alpha-2, upper case; ""
	// for none), likewise.
	CACountry string
	// TLSCert and TLSKey are PEM files holding the HTTPS listeners'
	// certificate chain (leaf first) and its private key, both or neither;
	// "" = a certificate the built-in CA issues itself (docs/configuration.md).
	TLSCert string
	// TLSKey: see TLSCert.
	TLSKey string
	// IssuersFile is a YAML file of the issuers besides the built-in CA
	// that profiles may name (docs/issuers.md); "" = none.
	IssuersFile string
	// ScanInterval is how often one node of the cluster runs the
	// scheduled certificate discovery scan of ScanTargets
	// (docs/discovery.md); 0 = never.
	ScanInterval time.Duration
	// ScanTargets are the target specifications of the scheduled scan
	// (discovery.ParseTarget), each value one or several separated by
	// white space (values that are empty or blank are dropped: none);
	// server.New refuses invalid ones.
	ScanTargets []string
	// ScanStartTLS maps ports of the scheduled scan to the plain-text
	// protocol spoken before the TLS handshake, as PORT=PROTOCOL words
	// (discovery.ParseStartTLS, e.g. "2525=smtp"); well-known ports need
	// none (discovery.DefaultStartTLS).
	ScanStartTLS []string
	// Notify: expiry notifications (internal/notify).
	Notify Notify
	// SSO: dashboard sign-in with OpenID Connect (sso-*); off when
	// SSO.Issuer is "".
	SSO SSO
	// PKCS11: the built-in CA's issuing key in a PKCS#11 token; Module ""
	// for none (the key file in DATA/ca).
	PKCS11 PKCS11
	// fileOnly: the settings as the configuration file alone would set
	// them, when a flag or variable overrides some of its values
	// (CheckFileOnly); nil otherwise.
	fileOnly *fileOnly
}

// fileOnly is Serve.fileOnly: the settings with the file's values in
// place of the overriding ones, the file and its overridden settings.
type fileOnly struct {
	settings   *Serve
	path       string
	overridden []fileOverride
}

// CheckFileOnly runs check on the settings as the configuration file
// alone would set them (those in force, with the file's values in place
// of the ones a flag or CERTGATE_* variable overrides; ServeFlags has held
// them to its own checks) and returns check's refusal, naming the file
// and what overrides its values as ServeFlags names them. Without an
// overridden file value it returns nil and does not call check. The
// server runs the start checks of its own through it (server.New: the
// files of tls-cert and tls-key, scan-targets, perspective-secret-file,
// the issuance lint of cert-validity), so that a file that would not
// start the server on its own is refused while an override hides the
// value, not on the day the override is dropped.
func (s *Serve) CheckFileOnly(check func(*Serve) error) error {
	if s.fileOnly == nil {
		return nil
	}
	if err := check(s.fileOnly.settings); err != nil {
		return overriddenError(s.fileOnly.path, s.fileOnly.overridden, err)
	}
	return nil
}

// MinScanInterval is the shortest scan-interval.
const MinScanInterval = time.Minute

// MaxCAOrganization is the longest ca-organization, in characters: the
// CA's common names are it and " Intermediate CA " and six hex digits,
// at most 64 characters (RFC 5280 ub-common-name).
const MaxCAOrganization = 64 - len(" Intermediate CA 000000")

// MaxRevocationRefresh is the longest revocation-refresh: half the 24-hour
// validity of CRLs and OCSP responses.
const MaxRevocationRefresh = 12 * time.Hour

// Bounds of ari-retry-after: RFC 9773 §4.3.2 has clients treat a
// Retry-After under a minute as a minute and one over a day as a day.
const (
	MinARIRetryAfter = time.Minute
	MaxARIRetryAfter = 24 * time.Hour
)

// ServeFlags registers the serve settings on fs with their defaults and
// returns a function that resolves them after fs.Parse: flags given on the
// command line win, then CERTGATE_* variables, then the YAML file named by
// --config (or CERTGATE_CONFIG), then defaults. Errors name the setting,
// and the file or the variable when the refused value came from one. The file's values that a flag or variable overrides are
// checked as the file alone would set them (Resolve, overriddenError), and
// kept for the server's own start checks (Serve.CheckFileOnly).
func ServeFlags(fs *pflag.FlagSet) func() (*Serve, error) {
	s := &Serve{}
	fs.String("config", "", "YAML configuration file (keys are the flag names)")
	fs.StringVar(&s.Data, "data", "./certgate-data", "data directory: SQLite database and CA keys")
	fs.StringVar(&s.DB, "db", "", "database: empty uses SQLite at DATA/certgate.db; postgres://USER@HOST:PORT/DB?sslmode=disable uses PostgreSQL (nodes may share it); any other value is a SQLite file path")
	fs.StringVar(&s.Listen, "listen", ":8443", "HTTPS listen address (plain HTTP on the same port serves only the CRL, OCSP, the CA certificates, /healthz and /readyz)")
	fs.StringVar(&s.MetricsListen, "metrics-listen", "", "plain-HTTP address (e.g. 127.0.0.1:9464) serving Prometheus metrics at /metrics, and /healthz and /readyz; empty serves no metrics. Anyone who reaches it can read them: keep it on loopback or an internal network")
	fs.StringVar(&s.AdminListen, "admin-listen", "", "HTTPS address (e.g. 127.0.0.1:9443) serving the admin API (/api/v1), and /healthz and /readyz, instead of the listen address, which then answers /api/v1 with 404; empty serves the admin API on the listen address. Keep it on loopback, a management network or a VPN address")
	fs.StringVar(&s.Hostname, "hostname", "localhost", "host name clients use to reach this server")
	fs.StringVar(&s.TLSCert, "tls-cert", "", "PEM file with the certificate chain (leaf first) of the HTTPS listeners (listen, admin-listen), with tls-key; re-read on SIGHUP and when it changes. Empty: the built-in CA issues the listeners' certificate")
	fs.StringVar(&s.TLSKey, "tls-key", "", "PEM file with the private key (RSA, ECDSA or Ed25519; PKCS#1, PKCS#8 or SEC 1, unencrypted) of tls-cert")
	fs.IntVar(&s.VAHTTPPort, "va-http-port", 80, "port that http-01 validation connects to")
	fs.IntVar(&s.VATLSPort, "va-tls-port", 443, "port that tls-alpn-01 validation connects to")
	fs.StringVar(&s.VADNSResolver, "va-dns-resolver", "", "DNS server (host:port) for every validation lookup, or several comma-separated, asked in order when one does not answer; empty uses the system resolver")
	fs.Var(newDuration(&s.VADNSTimeout, 5*time.Second), "va-dns-timeout", "timeout of one DNS query to one server (each validation attempt is bounded by 10s in all)")
	fs.BoolVar(&s.VADNSSEC, "va-dnssec", false, "accept only DNSSEC-authenticated DNS answers (AD bit) from va-dns-resolver, which must be a validating resolver on a trusted path; unsigned zones then fail validation")
	var denyNetworks string
	fs.StringVar(&denyNetworks, "va-deny-networks", "", "comma-separated networks http-01 and tls-alpn-01 never connect to, at any redirect hop: CIDRs, addresses, or private, loopback, link-local, ula; empty allows internal addresses (a public-facing CA should set "+va.PublicDenyNetworks+")")
	validitySet := false
	fs.Var(trackedDuration{newDuration(&s.CertValidity, DefaultCertValidity), &validitySet}, "cert-validity",
		"validity period of issued certificates (e.g. 90d, 2160h); by default 90d, shortened when the CA/B Forum BR allow less (46d from 2029-03-15)")
	fs.BoolVar(&s.ClientAuth, "client-auth", false, "add the clientAuth extended key usage to issued certificates")
	fs.Var(newDuration(&s.AuthzReuse, 30*24*time.Hour), "authz-reuse", "reuse an account's valid authorizations validated within this window (0 disables)")
	fs.StringVar(&s.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&s.LogFormat, "log-format", "text", "log format: text or json")
	fs.Var(newDuration(&s.ShutdownGrace, 30*time.Second), "shutdown-grace", "how long shutdown waits for in-flight requests and validations")
	fs.BoolVar(&s.HTTP2, "http2", false, "also offer HTTP/2 (ALPN h2) on the HTTPS listener; HTTP/1.1 with keep-alive is served either way and costs less server CPU per ACME request")
	fs.StringVar(&s.TermsOfService, "terms-of-service", "", "terms of service URL shown in the ACME directory")
	fs.StringVar(&s.Website, "website", "", "website URL shown in the ACME directory")
	fs.StringSliceVar(&s.CAAIdentities, "caa-identities", nil, "comma-separated issuer domain names that name this CA in CAA issue/issuewild records (shown in the directory's meta.caaIdentities); empty: CAA is still checked and any issue/issuewild record refuses")
	fs.Var(newDuration(&s.CAARecheckAfter, 8*time.Hour), "caa-recheck-after", "finalize checks CAA again for authorizations validated longer ago than this (CA/B BR: 8h; 0 checks at every finalize)")
	fs.StringVar(&s.ApprovalWebhook, "approval-webhook", "", "URL that receives a JSON POST for every approval escalated after its profile's escalateAfter")
	fs.BoolVar(&s.OCSP, "ocsp", true, "serve the OCSP responder (RFC 6960) at /pki/ocsp and name it in issued certificates (AIA); --ocsp=false turns both off")
	fs.Var(newDuration(&s.RevocationRefresh, time.Minute), "revocation-refresh", "how long a signed CRL or OCSP response is reused: revocations through this node show at once, others (another node, an admin command) within this (at most 12h)")
	fs.Var(newDuration(&s.ARIRetryAfter, 6*time.Hour), "ari-retry-after", "Retry-After of renewalInfo answers (RFC 9773): how long ARI clients wait before asking again (between "+
		FormatDuration(MinARIRetryAfter)+" and "+FormatDuration(MaxARIRetryAfter)+")")
	fs.StringVar(&s.ARIExplanationURL, "ari-explanation-url", "", "URL sent as explanationURL in renewalInfo answers (RFC 9773), a page explaining the suggested renewal windows; empty sends none")
	fs.StringVar(&s.CAOrganization, "ca-organization", "certgate", "subject O= of the built-in CA's root and intermediate when the first start creates them (an existing CA keeps its own)")
	fs.StringVar(&s.CACountry, "ca-country", "", "subject C= (ISO 3166-1 two-letter code, e.g. DE) of the built-in CA's root and intermediate when the first start creates them; CA/B Forum BR §7.1.2.10.2 asks a CA for the country of its place of business. Empty: none (an existing CA keeps its own)")
	fs.StringVar(&s.IssuersFile, "issuers-file", "", "YAML file naming the issuers besides the built-in CA (\"local\") that a profile's issuer may name, e.g. an upstream ACME CA (docs/issuers.md); empty: the built-in CA only")
	fs.Var(newDuration(&s.ScanInterval, 0), "scan-interval", "run the scheduled certificate discovery scan of scan-targets this often (one node of a cluster runs each; at least 1m); 0: never")
	fs.StringArrayVar(&s.ScanTargets, "scan-targets", nil, "targets of the scheduled scan (HOST[:PORTS][@SNI,...], e.g. 10.0.0.0/28:443,8443), repeatable or separated by spaces; docs/discovery.md")
	fs.StringArrayVar(&s.ScanStartTLS, "scan-starttls", nil, "PORT=PROTOCOL (smtp, postgres, none) for scheduled-scan ports that begin in plain text beyond the well-known 25, 587 (smtp) and 5432 (postgres), repeatable or separated by spaces; docs/discovery.md")
	checkRateLimits := rateLimitFlags(fs, &s.RateLimits)
	checkPerspectives := perspectiveFlags(fs, &s.Perspectives)
	checkNotify := notifyFlags(fs, &s.Notify)
	checkSSO := ssoFlags(fs, &s.SSO)
	checkPKCS11 := pkcs11Flags(fs, &s.PKCS11)
	for _, name := range []string{"va-dns-resolver", "va-deny-networks", "perspectives"} {
		_ = fs.SetAnnotation(name, listAnnotation, []string{"true"}) // the flags exist
	}
	// check checks the resolved settings as a whole; it sets the fields
	// derived from them (VADenyNetworks, normalized names), so running it
	// again after a setting changed brings them up to date.
	check := func() error {
		if err := checkRateLimits(); err != nil {
			return err
		}
		if err := checkPerspectives(); err != nil {
			return err
		}
		if err := checkNotify(); err != nil {
			return err
		}
		if err := checkSSO(); err != nil {
			return err
		}
		if err := checkPKCS11(); err != nil {
			return err
		}
		switch s.LogLevel {
		case "debug", "info", "warn", "error":
		default:
			return fmt.Errorf("log-level: %q is not one of debug, info, warn, error", s.LogLevel)
		}
		if s.LogFormat != "text" && s.LogFormat != "json" {
			return fmt.Errorf("log-format: %q is not text or json", s.LogFormat)
		}
		for _, p := range []struct {
			name string
			v    int
		}{{"va-http-port", s.VAHTTPPort}, {"va-tls-port", s.VATLSPort}} {
			if p.v < 1 || p.v > 65535 {
				return fmt.Errorf("%s: %d is not a port number (1-65535)", p.name, p.v)
			}
		}
		if s.CertValidity <= 0 {
			return fmt.Errorf("cert-validity: must be positive")
		}
		if s.ShutdownGrace < 0 {
			return fmt.Errorf("shutdown-grace: must not be negative")
		}
		if s.AuthzReuse < 0 {
			return fmt.Errorf("authz-reuse: must not be negative (0 disables reuse)")
		}
		if s.RevocationRefresh <= 0 || s.RevocationRefresh > MaxRevocationRefresh {
			return fmt.Errorf("revocation-refresh: must be positive and at most %s (half the 24h validity of CRLs and OCSP responses)", FormatDuration(MaxRevocationRefresh))
		}
		if s.ARIRetryAfter < MinARIRetryAfter || s.ARIRetryAfter > MaxARIRetryAfter {
			return fmt.Errorf("ari-retry-after: must be between %s and %s (RFC 9773 §4.3.2: clients clamp to that range)", FormatDuration(MinARIRetryAfter), FormatDuration(MaxARIRetryAfter))
		}
		if s.CAARecheckAfter < 0 {
			return fmt.Errorf("caa-recheck-after: must not be negative (0 checks at every finalize)")
		}
		if s.ScanInterval != 0 && s.ScanInterval < MinScanInterval {
			return fmt.Errorf("scan-interval: must be 0 (no scheduled scan) or at least %s", FormatDuration(MinScanInterval))
		}
		// A value with no target (empty, blank: "scan-targets:" in the
		// file, CERTGATE_SCAN_TARGETS=) names none, as an empty
		// scan-starttls, notify-rules or caa-identities does.
		s.ScanTargets = nonBlank(s.ScanTargets)
		switch {
		case s.ScanInterval != 0 && len(s.ScanTargets) == 0:
			return fmt.Errorf("scan-interval: set, but scan-targets is not: set both for a scheduled scan, or neither")
		case s.ScanInterval == 0 && len(s.ScanTargets) > 0:
			return fmt.Errorf("scan-targets: set, but scan-interval is not: set both for a scheduled scan, or neither")
		}
		ids, err := checkCAAIdentities(s.CAAIdentities)
		if err != nil {
			return err
		}
		s.CAAIdentities = ids
		if strings.TrimSpace(s.Data) == "" {
			return fmt.Errorf("data: must name a directory")
		}
		if err := checkDB(s.DB); err != nil {
			return err
		}
		if err := checkHostPort("listen", s.Listen); err != nil {
			return err
		}
		if s.MetricsListen != "" {
			if s.Perspectives.Roles == RoleVA {
				return fmt.Errorf("metrics-listen: a remote perspective (--roles va) serves no metrics")
			}
			if err := checkHostPort("metrics-listen", s.MetricsListen); err != nil {
				return err
			}
			if sameListenAddress(s.Listen, s.MetricsListen) {
				return fmt.Errorf("metrics-listen %s and listen %s are the same address: give metrics-listen a port of its own", s.MetricsListen, s.Listen)
			}
		}
		if s.AdminListen != "" {
			if s.Perspectives.Roles == RoleVA {
				return fmt.Errorf("admin-listen: a remote perspective (--roles va) serves no admin API")
			}
			if err := checkHostPort("admin-listen", s.AdminListen); err != nil {
				return err
			}
			for _, o := range []struct{ name, v string }{{"listen", s.Listen}, {"metrics-listen", s.MetricsListen}} {
				if o.v != "" && sameListenAddress(s.AdminListen, o.v) {
					return fmt.Errorf("admin-listen %s and %s %s are the same address: give admin-listen a port of its own", s.AdminListen, o.name, o.v)
				}
			}
		}
		if err := checkTLSFiles(s); err != nil {
			return err
		}
		for _, server := range va.SplitServers(s.VADNSResolver) {
			if err := checkHostPort("va-dns-resolver", server); err != nil {
				return err
			}
		}
		if s.VADNSSEC && len(va.SplitServers(s.VADNSResolver)) == 0 {
			return fmt.Errorf("va-dnssec: needs va-dns-resolver (a validating resolver); the system resolver does not report DNSSEC status")
		}
		if s.VADNSTimeout <= 0 {
			return fmt.Errorf("va-dns-timeout: must be positive")
		}
		deny, err := va.ParseDenyNetworks(denyNetworks)
		if err != nil {
			return fmt.Errorf("va-deny-networks: %w", err)
		}
		s.VADenyNetworks = deny
		if err := checkHostname(s.Hostname); err != nil {
			return err
		}
		s.Hostname = NormalizeHostname(s.Hostname)
		if s.CACountry, err = CheckCASubject(s.CAOrganization, s.CACountry); err != nil {
			return err
		}
		for _, u := range []struct{ name, v string }{{"terms-of-service", s.TermsOfService}, {"website", s.Website}, {"approval-webhook", s.ApprovalWebhook}, {"ari-explanation-url", s.ARIExplanationURL}} {
			if u.v == "" {
				continue
			}
			if p, err := url.Parse(u.v); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
				return fmt.Errorf("%s: %q is not an absolute http(s) URL", u.name, redactPasswords(u.v))
			}
		}
		return nil
	}
	return func() (*Serve, error) {
		r, err := resolve(fs)
		if err != nil {
			return nil, err
		}
		s.CertValidityFollowsBR = !validitySet
		// check fills fields from others (a PIN read from its file, the
		// parsed va-deny-networks): the file's values are checked from
		// the settings as resolved, and the checked ones put back after.
		resolved := *s
		if err := check(); err != nil {
			return nil, r.sourceError(err)
		}
		if len(r.overridden) > 0 {
			inForce := *s
			*s = resolved
			var file Serve
			err := withFileValues(r.overridden, func() error {
				err := check()
				file = *s // as checked, for CheckFileOnly
				return err
			})
			*s = inForce
			if err != nil {
				return nil, overriddenError(r.path, r.overridden, err)
			}
			s.fileOnly = &fileOnly{settings: &file, path: r.path, overridden: r.overridden}
		}
		return s, nil
	}
}

// CheckCASubject checks the ca-organization and ca-country settings (the
// subject O= and C= of a new built-in CA; serve and init take them) and
// returns country in upper case. Errors name the setting: an organization
// of 1 to MaxCAOrganization characters without control characters, a
// country that is "" or an ISO 3166-1 alpha-2 code.
func CheckCASubject(organization, country string) (string, error) {
	if strings.TrimSpace(organization) == "" || strings.ContainsFunc(organization, unicode.IsControl) || utf8.RuneCountInString(organization) > MaxCAOrganization {
		return "", fmt.Errorf("ca-organization: %q must be a name of 1 to %d characters without control characters (the CA's common names add 23 to it, within the 64 RFC 5280 allows)", organization, MaxCAOrganization)
	}
	if country == "" {
		return "", nil
	}
	if len(country) != 2 || !zlintutil.IsISOCountryCode(country) {
		return "", fmt.Errorf("ca-country: %q is not an ISO 3166-1 two-letter country code (e.g. DE, US)", country)
	}
	return strings.ToUpper(country), nil
}

// checkTLSFiles checks that tls-cert and tls-key come together, and not
// with --roles va (blank counts as not given); the files themselves are
// read by the server at start.
func checkTLSFiles(s *Serve) error {
	if strings.TrimSpace(s.TLSCert) == "" {
		s.TLSCert = ""
	}
	if strings.TrimSpace(s.TLSKey) == "" {
		s.TLSKey = ""
	}
	cert, key := s.TLSCert != "", s.TLSKey != ""
	switch {
	case cert && !key:
		return fmt.Errorf("tls-cert: needs tls-key, the file with the certificate's private key (give both or neither)")
	case key && !cert:
		return fmt.Errorf("tls-key: needs tls-cert, the file with the certificate chain (give both or neither)")
	case cert && s.Perspectives.Roles == RoleVA:
		return fmt.Errorf("tls-cert: a remote perspective (--roles va) serves its own self-signed certificate (the primary authenticates it by the shared secret)")
	}
	return nil
}

// nonBlank returns the values of vs that are not empty or white space
// only: a list setting given an empty value ("" from a variable, a null
// or "" in the file) has none.
func nonBlank(vs []string) []string {
	var out []string
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			out = append(out, v)
		}
	}
	return out
}

// hasValue reports whether setting f holds a value that is not empty or
// white space only (for a list, one such element): a blank value is
// none, as for tls-cert.
func hasValue(f *pflag.Flag) bool {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return len(nonBlank(sv.GetSlice())) > 0
	}
	return strings.TrimSpace(f.Value.String()) != ""
}

// checkHostPort checks a host:port setting; the host may be empty (all
// interfaces) only for listen addresses.
func checkHostPort(name, v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		hint := ""
		if _, err := strconv.Atoi(v); err == nil {
			hint = fmt.Sprintf(" (did you mean \":%s\"?)", v)
		}
		return fmt.Errorf("%s: %q is not HOST:PORT%s", name, v, hint)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%s: %q has no valid port", name, v)
	}
	if host == "" && name != "listen" && name != "metrics-listen" && name != "admin-listen" {
		return fmt.Errorf("%s: %q needs a host", name, v)
	}
	return nil
}

// sameListenAddress reports whether listen addresses a and b (valid
// host:port) cannot both be bound: the same port (not 0, which picks a
// free one) and the same host, or either host being all interfaces ("",
// 0.0.0.0 or ::). Host names are compared as written, not resolved, except
// that "localhost" is the same host as any loopback address (RFC 6761
// §6.3): "localhost:9443" binds 127.0.0.1 only, so beside "[::1]:9443" both
// bind, and https://localhost:9443 reaches either.
func sameListenAddress(a, b string) bool {
	ah, ap, _ := net.SplitHostPort(a)
	bh, bp, _ := net.SplitHostPort(b)
	an, _ := strconv.Atoi(ap)
	bn, _ := strconv.Atoi(bp)
	if an == 0 || an != bn {
		return false
	}
	allIfaces := func(h string) bool {
		ip := net.ParseIP(h)
		return h == "" || ip != nil && ip.IsUnspecified()
	}
	if allIfaces(ah) || allIfaces(bh) {
		return true
	}
	aip, bip := net.ParseIP(ah), net.ParseIP(bh)
	if aip != nil && bip != nil {
		return aip.Equal(bip)
	}
	isLocalhost := func(h string) bool { return strings.EqualFold(strings.TrimSuffix(h, "."), "localhost") }
	loopback := func(h string, ip net.IP) bool { return isLocalhost(h) || ip != nil && ip.IsLoopback() }
	if isLocalhost(ah) || isLocalhost(bh) {
		return loopback(ah, aip) && loopback(bh, bip)
	}
	return strings.EqualFold(ah, bh)
}

// checkDB accepts an empty value, a SQLite file path, or a postgres:// or
// postgresql:// URL naming a host; a URL of another scheme is refused. Its
// errors never echo a password.
func checkDB(v string) error {
	l := strings.ToLower(v)
	if !strings.HasPrefix(l, "postgres://") && !strings.HasPrefix(l, "postgresql://") {
		if v != "" && strings.TrimSpace(v) == "" {
			return fmt.Errorf("db: must be empty, a SQLite file path or a postgres:// URL")
		}
		if scheme, _, ok := strings.Cut(l, "://"); ok && isScheme(scheme) {
			// Another database's URL, not a file path: opening it as
			// SQLite would create a directory named "mysql:".
			return fmt.Errorf("db: %s:// is not supported (want a SQLite file path or postgres://USER@HOST:PORT/DATABASE?sslmode=disable)", scheme)
		}
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return fmt.Errorf("db: not a valid URL (want postgres://USER@HOST:PORT/DATABASE?sslmode=disable)")
	}
	return nil
}

// isScheme reports whether s is a URL scheme (RFC 3986 §3.1: a letter,
// then letters, digits, "+", "-" and ".").
func isScheme(s string) bool {
	for i, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// checkCAAIdentities lower-cases the CAA identities and checks each is an
// issuer domain name (RFC 8659 §4.2: LDH labels, no trailing dot),
// dropping empty entries and duplicates.
func checkCAAIdentities(ids []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, id := range ids {
		id = strings.ToLower(strings.TrimSpace(id))
		if id == "" || seen[id] {
			continue
		}
		bad := len(id) > 253
		for _, l := range strings.Split(id, ".") {
			bad = bad || l == "" || l[0] == '-' || l[len(l)-1] == '-'
			for _, c := range l {
				if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
					bad = true
				}
			}
		}
		if bad {
			return nil, fmt.Errorf("caa-identities: %q is not a domain name (RFC 8659 §4.2; e.g. ca.example.com, no scheme, no trailing dot)", id)
		}
		seen[id] = true
		out = append(out, id)
	}
	return out, nil
}

// CheckHostname refuses a hostname setting serve would refuse
// (checkHostname), for the commands that take the server's hostname.
func CheckHostname(h string) error { return checkHostname(h) }

// NormalizeHostname is the form serve uses of a hostname that
// CheckHostname accepts: lower case, since the host of a URL and a DNS
// name compare case-insensitively (RFC 3986 §3.2.2, RFC 4343), so the
// URLs certgate prints and embeds in certificates and the name in its
// server certificate are the same whatever case the setting was written in.
func NormalizeHostname(h string) string { return strings.ToLower(h) }

// checkHostname accepts an IP address or an LDH DNS name (RFC 1123) that
// passes the rules of a newOrder's DNS identifiers (acme.CheckDNSName: no
// invalid IDNA A-label, bare top-level domain or onion name), which keep it
// out of the issuance lint's refusals when the built-in CA names it in the
// server's HTTPS certificate at start-up; not a wildcard. Its error names
// what is wrong (a scheme, a port, a trailing dot, an empty or long label,
// a character outside letters, digits and hyphens).
func checkHostname(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	if why := hostnameFault(h); why != "" {
		return fmt.Errorf("hostname: %q is not a DNS name or IP address: %s", h, why)
	}
	if why := acme.CheckDNSName(strings.ToLower(h)); why != "" {
		return fmt.Errorf("hostname: %q is not a valid DNS name: %s", h, why)
	}
	return nil
}

// hostnameFault says what keeps h from being an LDH DNS name (RFC 1123
// §2.1, RFC 1035 §2.3.4 lengths), "" when nothing does.
func hostnameFault(h string) string {
	switch {
	case h == "":
		return "it is empty"
	case strings.Contains(h, "://"):
		return "give the name only, without a scheme (e.g. acme.example.com, not https://acme.example.com)"
	case strings.Contains(h, "/"):
		return "give the name only, without a path"
	case strings.Count(h, ":") == 1:
		return "give the name only, without a port (the port is in listen)"
	case h == ".":
		return "it is the DNS root, not a host name"
	case strings.HasSuffix(h, "."):
		return fmt.Sprintf("it ends with a dot; give it without the trailing dot (%s)", strings.TrimRight(h, "."))
	case len(h) > 253:
		return fmt.Sprintf("it is %d characters long, at most 253 are allowed", len(h))
	}
	for _, l := range strings.Split(h, ".") {
		switch {
		case l == "" && strings.HasPrefix(h, "."):
			return "it begins with a dot"
		case l == "":
			return "it has an empty label (two dots in a row)"
		case len(l) > 63:
			return fmt.Sprintf("label %q is %d characters long, at most 63 are allowed", l, len(l))
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Sprintf("label %q begins or ends with a hyphen", l)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Sprintf("%q is not allowed; a name has letters, digits, hyphens and dots only", c)
			}
		}
	}
	return ""
}

// UnknownEnv returns the CERTGATE_* variables in environ that name no
// setting of fs (likely typos), so the caller can warn about them.
func UnknownEnv(fs *pflag.FlagSet, environ []string) []string {
	known := map[string]bool{EnvName("config"): true, "CERTGATE_CPUPROFILE": true,
		"CERTGATE_MEMPROFILE": true, "CERTGATE_TRACE": true, "CERTGATE_RUNTIME_METRICS": true}
	fs.VisitAll(func(f *pflag.Flag) { known[EnvName(f.Name)] = true })
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "CERTGATE_") && !known[k] {
			out = append(out, k)
		}
	}
	return out
}

// EnvName is the environment variable for a flag: CERTGATE_ + upper case,
// dashes as underscores.
func EnvName(flag string) string {
	return "CERTGATE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// OtherKeysAnnotation is the annotation (pflag.FlagSet.SetAnnotation) of
// a flag set's "config" flag that lists the flags of the CLI's other
// commands: Resolve accepts a configuration-file key naming one of them
// without applying it, so that one file can hold the settings of every
// command (`format: json` for the administrative commands beside the
// server's settings).
const OtherKeysAnnotation = "certgate_other_config_keys"

// Resolve fills every flag of fs that was not set on the command line from
// its CERTGATE_* variable, else from the YAML file named by the "config"
// flag (or CERTGATE_CONFIG). YAML keys that name no setting of `certgate
// serve`, of fs or of another command (OtherKeysAnnotation) are errors;
// serve settings, and other commands' flags, that fs lacks are ignored, so
// every command reads the server's file.
//
// A file setting that a flag or a CERTGATE_* variable overrides is still
// read: a value the setting cannot take (a malformed duration or number,
// a list or mapping where one value goes) is an error naming the file, the
// setting and what overrides it, so a file that would not start the server
// on its own does not pass unnoticed.
func Resolve(fs *pflag.FlagSet) error {
	_, err := resolve(fs)
	return err
}

// fileOverride is a setting of the configuration file that a flag or a
// CERTGATE_* variable overrides.
type fileOverride struct {
	flag *pflag.Flag
	node yaml.Node
	by   string // what overrides it: "--NAME" or "CERTGATE_NAME"
}

// resolution is what resolve found besides the values it set.
type resolution struct {
	path       string          // the configuration file, "" for none
	overridden []fileOverride  // its settings a flag or variable overrides (each a value the setting takes)
	fromFile   map[string]bool // settings whose value in force came from the file
	// fromEnv maps the settings whose value in force came from a
	// CERTGATE_* variable to the variable as errors name it (envSource).
	fromEnv map[string]string
}

// sourceError is err, an error of the checks of the resolved settings,
// with the source named before it when the setting the error begins with
// ("va-http-port: ...", "metrics-listen ADDR and ...") took its value from
// the configuration file ("config file PATH: ") or a variable
// ("CERTGATE_NAME=VALUE: ", or "CERTGATE_NAME: " for a secret: see
// envSource), as a malformed value from either is reported.
func (r resolution) sourceError(err error) error {
	name, _, _ := strings.Cut(err.Error(), ":")
	name, _, _ = strings.Cut(name, " ")
	if r.fromFile[name] {
		return fmt.Errorf("config file %s: %w", r.path, err)
	}
	if src, ok := r.fromEnv[name]; ok {
		return fmt.Errorf("%s: %w", src, err)
	}
	return err
}

// secretAnnotation marks a setting whose value is a secret
// (pkcs11-pin, notify-smtp-password, notify-webhook-secret,
// sso-client-secret): refused on the command line, and never shown in an
// error (envSource).
const secretAnnotation = "certgate_secret"

// markSecret marks the settings names of fs as secrets (secretAnnotation).
func markSecret(fs *pflag.FlagSet, names ...string) {
	for _, name := range names {
		_ = fs.SetAnnotation(name, secretAnnotation, []string{"true"}) // the flags exist
	}
}

// envSource names the CERTGATE_* variable of setting f, whose value is v,
// as errors about the value show it: the variable alone for a secret
// (secretAnnotation), else NAME="VALUE" with any password in the value
// masked (redactPasswords), so that neither reaches the terminal or a log
// that collects the server's output.
func envSource(f *pflag.Flag, v string) string {
	if len(f.Annotations[secretAnnotation]) > 0 {
		return EnvName(f.Name)
	}
	return fmt.Sprintf("%s=%q", EnvName(f.Name), redactPasswords(v))
}

// passwordParam matches a password parameter of a URL's query or a
// key=value connection string (password, sslpassword; a value quoted in
// single quotes or running to the next separator).
var passwordParam = regexp.MustCompile(`(?i)(^|[?&;\s])((?:ssl)?password)\s*=\s*('(?:[^'\\]|\\.)*'?|[^&#;\s]*)`)

// redactPasswords returns v with the password of a URL's user information
// ("postgres://USER:PASSWORD@HOST/DB") and the value of every password or
// sslpassword parameter (of a URL's query or a key=value connection
// string) replaced by xxxxx, as the database's errors mask them
// ("postgres://u:xxxxx@..."). Anything else is kept as it is. A value
// too malformed to tell where the password ends may lose more than it.
func redactPasswords(v string) string {
	if i := strings.Index(v, "://"); i >= 0 {
		rest := v[i+3:]
		end := len(rest)
		if j := strings.IndexAny(rest, "?#"); j >= 0 {
			end = j
		}
		// The user information ends at the authority's last "@" (a
		// password may hold one, or a "/", unescaped).
		if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
			if colon := strings.Index(rest[:at], ":"); colon >= 0 {
				v = v[:i+3] + rest[:colon] + ":xxxxx" + rest[at:]
			}
		}
	}
	return passwordParam.ReplaceAllString(v, "${1}${2}=xxxxx")
}

// resolve is Resolve, also returning what it found (resolution).
func resolve(fs *pflag.FlagSet) (resolution, error) {
	serve := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	ServeFlags(serve)
	other := map[string]bool{}
	if f := fs.Lookup("config"); f != nil {
		for _, k := range f.Annotations[OtherKeysAnnotation] {
			other[k] = true
		}
	}
	known := func(k string) bool {
		return k != "config" && (fs.Lookup(k) != nil || serve.Lookup(k) != nil || other[k])
	}
	file := map[string]yaml.Node{}
	path, _ := fs.GetString("config")
	if path == "" {
		path = os.Getenv(EnvName("config"))
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return resolution{}, fmt.Errorf("config file: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
			return resolution{}, fmt.Errorf("config file %s: not valid YAML: %s", path, yamlErrorText(err))
		}
		if err := decodeSettings(&doc, file); err != nil {
			return resolution{}, fmt.Errorf("config file %s: %w", path, err)
		}
		var more yaml.Node
		if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
			// A second document ("---") would otherwise be ignored.
			return resolution{}, fmt.Errorf("config file %s: more than one YAML document (a second \"---\"): put every setting in one", path)
		}
		for k := range file {
			if !known(k) {
				var names []string
				for _, f := range []*pflag.FlagSet{serve, fs} {
					f.VisitAll(func(f *pflag.Flag) {
						if f.Name != "config" {
							names = append(names, f.Name)
						}
					})
				}
				for o := range other {
					names = append(names, o)
				}
				slices.Sort(names)
				if s := suggest(k, names); s != "" {
					return resolution{}, fmt.Errorf("config file %s: unknown setting %q (did you mean %q?)", path, k, s)
				}
				return resolution{}, fmt.Errorf("config file %s: unknown setting %q", path, k)
			}
		}
	}
	var err error
	var overridden []fileOverride
	fromFile, fromEnv := map[string]bool{}, map[string]string{}
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Name == "config" {
			return
		}
		n, inFile := file[f.Name]
		if f.Changed {
			if inFile {
				overridden = append(overridden, fileOverride{flag: f, node: n, by: "--" + f.Name})
			}
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			fromEnv[f.Name] = envSource(f, v)
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s: %s", fromEnv[f.Name], valueError(f, e))
			}
			if inFile {
				overridden = append(overridden, fileOverride{flag: f, node: n, by: EnvName(f.Name)})
			}
			return
		}
		if inFile {
			fromFile[f.Name] = true
			if e := setFromYAML(f, &n); e != nil {
				err = fmt.Errorf("config file %s: %s: %w", path, f.Name, e)
			}
		}
	})
	if err != nil {
		return resolution{}, err
	}
	// The overridden file values: each must be one its setting takes.
	for _, o := range overridden {
		if e := withFileValues([]fileOverride{o}, nil); e != nil {
			return resolution{}, fmt.Errorf("config file %s: %s: %w (%s overrides it; correct or remove it in the file)", path, o.flag.Name, e, o.by)
		}
	}
	return resolution{path: path, overridden: overridden, fromFile: fromFile, fromEnv: fromEnv}, nil
}

// overriddenError is err, the refusal of the configuration file's values
// of the overridden settings (the settings checked as the file alone
// would set them), naming the file and what overrides them.
func overriddenError(path string, overridden []fileOverride, err error) error {
	by := make([]string, len(overridden))
	for i, o := range overridden {
		by[i] = o.by
	}
	return fmt.Errorf("config file %s: %w (checked as the file sets it, without the override by %s; correct or remove it in the file)", path, err, strings.Join(by, ", "))
}

// withFileValues sets each overridden flag to its file value, runs fn
// (when not nil) and sets the flags back to the values they had, whatever
// the outcome. It returns the first error of setting a file value or of
// fn.
func withFileValues(overridden []fileOverride, fn func() error) (err error) {
	for _, o := range overridden {
		f := o.flag
		var restore func() error
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			old := slices.Clone(sv.GetSlice())
			restore = func() error { return sv.Replace(old) }
		} else {
			old := f.Value.String()
			restore = func() error { return f.Value.Set(old) }
		}
		defer func() {
			if e := restore(); e != nil && err == nil {
				err = fmt.Errorf("%s: restore %q: %w", f.Name, f.Value.String(), e)
			}
		}()
		n := o.node
		if e := setFromYAML(f, &n); e != nil {
			return e
		}
	}
	if fn != nil {
		return fn()
	}
	return nil
}

// decodeSettings decodes doc, the configuration file's one YAML document,
// into file. A document that is empty or holds only comments (or null) has
// no settings; any other top level than a mapping is refused, naming what
// it is, as is a setting given twice.
func decodeSettings(doc *yaml.Node, file map[string]yaml.Node) error {
	root := doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.AliasNode && root.Alias != nil {
		root = root.Alias
	}
	switch {
	case root.Kind == 0, root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null":
		return nil
	case root.Kind == yaml.SequenceNode:
		return fmt.Errorf("line %d: the file is a YAML list; want a mapping of settings, one \"setting: value\" line each", root.Line)
	case root.Kind != yaml.MappingNode:
		return fmt.Errorf("line %d: the file is the single value %q; want a mapping of settings, one \"setting: value\" line each", root.Line, root.Value)
	}
	if err := root.Decode(&file); err != nil {
		return errors.New(yamlErrorText(err))
	}
	return nil
}

// yamlErrorText is the text of an error of the YAML decoder on one line,
// without its "yaml: " and "unmarshal errors:" prefixes.
func yamlErrorText(err error) string {
	t := strings.Join(strings.Fields(err.Error()), " ")
	t = strings.TrimPrefix(t, "yaml: ")
	return strings.TrimPrefix(t, "unmarshal errors: ")
}

// listAnnotation marks a string setting that takes several comma-separated
// values (va-dns-resolver, va-deny-networks, perspectives): in the
// --config file it also takes a YAML list (setFromYAML).
const listAnnotation = "certgate_list"

// setFromYAML sets f to the YAML value n of its setting, as a flag or
// CERTGATE_* variable would give it: a scalar as written (2024-01-01 stays
// that, not a time), "" for null. A list is taken by a setting of several
// values only: one of a list type (caa-identities) gets its elements, one
// that takes comma-separated values (listAnnotation) the elements joined
// with commas ("va-dns-resolver: [10.0.0.53:53, 10.0.1.53:53]"); any other
// setting refuses it, as it refuses a mapping, rather than read "[a, b]"
// as the one value "a,b" (a data directory named "a,b", one webhook URL
// made of two). Errors name the YAML form or the value expected.
func setFromYAML(f *pflag.Flag, n *yaml.Node) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	scalar := func(n *yaml.Node) (string, bool) {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		if n.Kind != yaml.ScalarNode {
			return "", false
		}
		if n.Tag == "!!null" {
			return "", true
		}
		if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			// A block scalar ("|", ">") ends with the line break of its
			// last line; no setting's value does.
			return strings.TrimRight(n.Value, "\n"), true
		}
		return n.Value, true
	}
	if v, ok := scalar(n); ok {
		if err := f.Value.Set(v); err != nil {
			return errors.New(valueError(f, err))
		}
		return nil
	}
	sv, isSlice := f.Value.(pflag.SliceValue)
	several := isSlice || len(f.Annotations[listAnnotation]) > 0
	if n.Kind != yaml.SequenceNode {
		if !several {
			return errors.New("want one value, not a mapping")
		}
		return errors.New("want a value or a list of values, not a mapping")
	}
	if !several {
		return errors.New("want one value, not a list")
	}
	parts := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		v, ok := scalar(c)
		if !ok {
			return errors.New("want a value or a list of values, not a nested list or mapping")
		}
		parts = append(parts, v)
	}
	var err error
	if isSlice {
		err = sv.Replace(parts)
	} else {
		err = f.Value.Set(strings.Join(parts, ","))
	}
	if err != nil {
		return errors.New(valueError(f, err))
	}
	return nil
}

// valueError says what a setting expects instead of a parser's internals.
func valueError(f *pflag.Flag, err error) string {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		switch t := f.Value.Type(); {
		case t == "bool":
			return "want true or false"
		case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"): // int, int64, uint...
			return "want a whole number"
		}
	}
	return err.Error()
}

// duration is a pflag.Value accepting what ParseDuration does, e.g. "90d",
// "2w", "36h", "1d12h".
type duration struct{ p *time.Duration }

// DefaultCertValidity is the validity period of issued certificates when
// cert-validity is not set (then shortened to what the CA/B Forum BR
// allow at signing time when that is less: policy.Profile.FollowsBR).
const DefaultCertValidity = 90 * 24 * time.Hour

// trackedDuration is a duration setting that records in set that it was
// given.
type trackedDuration struct {
	*duration
	set *bool
}

func (d trackedDuration) Set(s string) error {
	if err := d.duration.Set(s); err != nil {
		return err
	}
	*d.set = true
	return nil
}

func newDuration(p *time.Duration, def time.Duration) *duration {
	*p = def
	return &duration{p}
}

// DurationValue returns a pflag.Value that stores into p, set to def now,
// and accepts what ParseDuration does (Go durations plus "w" for weeks and
// "d" for days, e.g. "2w", "1d12h"); for commands other than serve that take durations
// (e.g. certgate bench acme --timeout).
func DurationValue(p *time.Duration, def time.Duration) pflag.Value {
	return newDuration(p, def)
}

func (d *duration) String() string {
	if d.p == nil {
		return ""
	}
	return FormatDuration(*d.p)
}

// FormatDuration writes a positive whole number of days as "90d",
// anything else as Go does without its zero minutes and seconds ("36h",
// "1h30m", "-24h", "1m30s", "500ms"; Go writes "36h0m0s"), as such
// settings are written: ParseDuration reads every result back as v (it
// refuses a negative day count).
func FormatDuration(v time.Duration) string {
	if v > 0 && v%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(v/(24*time.Hour)), 10) + "d"
	}
	s := v.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2] // "1h30m0s": "1h30m"
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2] // "36h0m": "36h"
	}
	return s
}

func (d *duration) Type() string { return "duration" }

func (d *duration) Set(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d.p = v
	return nil
}

// ParseDuration parses a duration as every user-facing setting takes it
// (duration.Parse): optional whole weeks, then optional whole days, then a
// Go duration ("2w", "90d", "1w3d", "1d12h", "36h"). "0" is zero. A
// duration longer than time.Duration holds (about 292 years, 106751 days)
// is an error, never a wrapped value.
func ParseDuration(s string) (time.Duration, error) { return dur.Parse(s) }
