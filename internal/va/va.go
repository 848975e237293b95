// Package va is the validation authority: it performs single attempts of
// the ACME challenges http-01 and dns-01 (RFC 8555 §8.3, §8.4) and
// tls-alpn-01 (RFC 8737), for dns and ip identifiers (RFC 8738), and
// reports failures as RFC 8555 §6.7 problems. Retrying (RFC 8555 §8.2) and
// running validations in the background are the caller's job.
//
// Every DNS lookup a validation makes goes through the package's Resolver,
// so tests and validation workers can point it at a chosen DNS server.
package va

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultHTTPPort = 80               // http-01 port, RFC 8555 §8.3
	DefaultTLSPort  = 443              // tls-alpn-01 port, RFC 8737 §3
	DefaultTimeout  = 10 * time.Second // per validation attempt
)

// Config configures a VA. Zero fields take the defaults above.
type Config struct {
	// HTTPPort is the TCP port http-01 connects to (default 80). Redirects
	// to http URLs without a port go here too.
	HTTPPort int
	// TLSPort is the TCP port tls-alpn-01 connects to (default 443).
	// Redirects to https URLs without a port go here too.
	TLSPort int
	// DNSResolver is the "host:port" of a recursive DNS server, or several
	// separated by commas, asked in order when one does not answer; ""
	// uses the system resolver (Go's net.Resolver semantics, including
	// /etc/hosts).
	DNSResolver string
	// DNSTimeout bounds one DNS query to one server (default 5s).
	DNSTimeout time.Duration
	// DNSSEC accepts only DNSSEC-authenticated answers (AD bit) from
	// DNSResolver, which must be a validating resolver (see
	// ResolverOptions.DNSSEC).
	DNSSEC bool
	// Timeout bounds one validation attempt, DNS lookups included
	// (default 10s).
	Timeout time.Duration

	// Address policy (see policy.go).
	//
	// DenyNetworks are the networks http-01 and tls-alpn-01 never connect
	// to, checked on every address of every redirect hop at dial time, on
	// top of the always-denied unspecified, broadcast, multicast and
	// reserved ranges. Empty allows internal addresses, as a private CA
	// wants; a public-facing CA should use
	// ParseDenyNetworks(PublicDenyNetworks).
	DenyNetworks []netip.Prefix

	// CAA (RFC 8659, RFC 8657; see caa.go).
	//
	// CAAIdentities are the issuer domain names that name this CA in CAA
	// issue and issuewild records, compared case-insensitively. Empty
	// means no record can name this CA: CAA is still checked and any
	// issue/issuewild restriction refuses issuance.
	CAAIdentities []string
	// CAACacheTTL caps how long the CAA answers of a requested name's
	// parents are reused (caacache.go; never longer than their TTL):
	// 0 means DefaultCAACacheTTL (one minute), a negative value turns the
	// cache off. Only with DNSResolver set.
	CAACacheTTL time.Duration
}

// VA performs challenge validations. It is safe for concurrent use. Its
// mutable state is its resolvers' reusable sockets and CAA cache, shared
// with the VAs WithDNS derives from it.
type VA struct {
	cfg       Config
	resolver  Resolver
	resolvers *resolverSet // shared by v and the VAs of its WithDNS
	log       *slog.Logger
	policy    *addressPolicy
}

// New returns a VA for cfg. A nil logger discards log output. It fails when
// a port is out of range or DNSResolver is not "host:port".
func New(cfg Config, logger *slog.Logger) (*VA, error) {
	if cfg.HTTPPort == 0 {
		cfg.HTTPPort = DefaultHTTPPort
	}
	if cfg.TLSPort == 0 {
		cfg.TLSPort = DefaultTLSPort
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	for _, p := range []int{cfg.HTTPPort, cfg.TLSPort} {
		if p < 1 || p > 65535 {
			return nil, fmt.Errorf("va: port %d out of range 1-65535", p)
		}
	}
	deny, err := normalizePrefixes(cfg.DenyNetworks)
	if err != nil {
		return nil, fmt.Errorf("va: deny networks: %w", err)
	}
	cfg.DenyNetworks = deny
	resolvers := &resolverSet{m: map[resolverKey]Resolver{}}
	r, err := resolvers.get(cfg.resolverOptions(SplitServers(cfg.DNSResolver)))
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &VA{cfg: cfg, resolver: r, resolvers: resolvers, log: logger, policy: &addressPolicy{deny: deny}}, nil
}

// Resolver returns the resolver the VA uses for all its DNS lookups, so
// other checks (e.g. CAA) can share it.
func (v *VA) Resolver() Resolver { return v.resolver }

// Validate performs one attempt of challenge typ ("http-01", "dns-01" or
// "tls-alpn-01") for id, whose Value never starts with "*." (the caller
// strips it for wildcard authorizations). keyAuthorization is
// token + "." + base64url(JWK thumbprint) (RFC 8555 §8.1).
//
// It returns nil on success. Otherwise it returns an *acme.Problem with
// Identifier set and a detail safe to show to the client:
//   - malformed: unknown challenge type, bad identifier value, bad token,
//     or dns-01 for an ip identifier (RFC 8738 §7);
//   - unsupportedIdentifier: identifier type other than dns or ip;
//   - dns: NXDOMAIN, SERVFAIL, timeouts, CNAME loops, no addresses;
//   - connection: TCP connect/read failures, timeouts, bad redirects,
//     addresses the address policy denies (policy.go);
//   - tls: TLS handshake failures (tls-alpn-01, https redirects);
//   - unauthorized: tls-alpn-01 server did not negotiate acme-tls/1;
//   - incorrectResponse: the response did not prove control (wrong body,
//     non-200 status, missing or wrong TXT, wrong validation certificate).
//
// The attempt is bounded by Config.Timeout and by ctx.
func (v *VA) Validate(ctx context.Context, id acme.Identifier, typ, token, keyAuthorization string) error {
	start := time.Now()
	err := v.validate(ctx, id, typ, token, keyAuthorization)
	if err != nil {
		p, ok := acme.AsProblem(err)
		if !ok { // should not happen: every path returns a problem
			v.log.Error("validation internal error", "identifier", id.Value, "type", typ, "err", err)
			p = acme.NewProblem(acme.ServerInternal, "internal error during validation")
		}
		if p.Identifier == nil {
			idc := id
			p.Identifier = &idc
		}
		if v.log.Enabled(context.Background(), slog.LevelInfo) {
			attrs := []any{"identifier", id.Value, "identifierType", id.Type, "challenge", typ,
				"problem", string(p.Type), "detail", p.Detail}
			// err only when it says more than the problem: its text is
			// "TYPE: DETAIL" for the problem itself, which the line
			// would give twice.
			if err != error(p) {
				attrs = append(attrs, "err", err)
			}
			v.log.Info("validation failed", append(attrs, logMS(time.Since(start)))...)
		}
		return p
	}
	// Asked first: the arguments of a record that is not logged (at
	// --log-level warn or error) would still be boxed, for every
	// validation.
	if v.log.Enabled(context.Background(), slog.LevelInfo) {
		v.log.Info("validation succeeded", "identifier", id.Value, "identifierType", id.Type,
			"challenge", typ, logMS(time.Since(start)))
	}
	return nil
}

func (v *VA) validate(ctx context.Context, id acme.Identifier, typ, token, keyAuthorization string) error {
	target, err := parseTarget(id)
	if err != nil {
		return err
	}
	if !validToken(token) {
		return problem(id, acme.Malformed, "invalid challenge token")
	}
	if keyAuthorization == "" {
		return problem(id, acme.Malformed, "empty key authorization")
	}
	ctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
	defer cancel()
	switch typ {
	case acme.ChallengeHTTP01:
		return v.validateHTTP01(ctx, target, token, keyAuthorization)
	case acme.ChallengeDNS01:
		return v.validateDNS01(ctx, target, keyAuthorization)
	case acme.ChallengeTLSALPN01:
		return v.validateTLSALPN01(ctx, target, keyAuthorization)
	default:
		return problem(id, acme.Malformed, "unsupported challenge type %q", typ)
	}
}

// target is a parsed identifier: name for dns, ip for ip identifiers.
type target struct {
	id   acme.Identifier
	name string     // dns: lower-case name, no trailing dot
	ip   netip.Addr // ip: the address (valid only for ip identifiers)
}

func (t target) isIP() bool { return t.ip.IsValid() }

// host returns the URL/Host-header form: the name, or the IP with IPv6 in
// brackets.
func (t target) host() string {
	if t.isIP() {
		if t.ip.Is6() {
			return "[" + t.ip.String() + "]"
		}
		return t.ip.String()
	}
	return t.name
}

func parseTarget(id acme.Identifier) (target, error) {
	t := target{id: id}
	switch id.Type {
	case acme.IdentifierDNS:
		name := strings.ToLower(strings.TrimSuffix(id.Value, "."))
		if name == "" || strings.HasPrefix(name, "*.") || !validDNSName(name) {
			return t, problem(id, acme.Malformed, "invalid DNS identifier %q", id.Value)
		}
		t.name = name
	case acme.IdentifierIP:
		ip, err := netip.ParseAddr(id.Value)
		if err != nil || ip.Zone() != "" {
			return t, problem(id, acme.Malformed, "invalid IP identifier %q", id.Value)
		}
		t.ip = ip.Unmap()
	default:
		return t, problem(id, acme.UnsupportedIdentifier, "unsupported identifier type %q", id.Type)
	}
	return t, nil
}

// validDNSName is a syntax check only (policy lives elsewhere): LDH labels
// (underscore tolerated) of 1-63 octets, at most 253 octets in all.
func validDNSName(name string) bool {
	if len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if len(label) == 0 || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// validToken reports whether token is non-empty base64url (RFC 8555 §8.1:
// tokens must not contain characters outside the base64url alphabet).
func validToken(token string) bool {
	if token == "" || len(token) > 256 {
		return false
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// problem returns an *acme.Problem for id.
func problem(id acme.Identifier, t acme.ProblemType, format string, args ...any) *acme.Problem {
	p := acme.NewProblem(t, format, args...)
	p.Identifier = &id
	return p
}

// validationError carries a problem for the client and the internal cause
// for the log; Validate reports the problem.
type validationError struct {
	prob  *acme.Problem
	cause error
}

func (e *validationError) Error() string {
	if e.cause == nil {
		return e.prob.Error()
	}
	return e.prob.Error() + ": " + e.cause.Error()
}

func (e *validationError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.prob}
	}
	return []error{e.prob, e.cause}
}

// failf wraps cause behind a problem; errors.As finds both.
func failf(id acme.Identifier, cause error, t acme.ProblemType, format string, args ...any) error {
	return &validationError{prob: problem(id, t, format, args...), cause: cause}
}

// dnsProblem turns a resolver error into a dns problem, or into the
// problem of a cancelled validation (cancelledLookup) when the lookup was
// cancelled.
func dnsProblem(id acme.Identifier, err error) error {
	var le *LookupError
	if errors.As(err, &le) {
		if le.Cancelled {
			p := cancelledLookup(le)
			p.Identifier = &id
			return &validationError{prob: p, cause: err}
		}
		return failf(id, err, acme.DNS, "DNS problem: %s", le.Detail())
	}
	return failf(id, err, acme.DNS, "DNS problem: lookup failed")
}

// cancelledLookup is the problem of a validation or CAA check cancelled
// during the lookup le (le.Cancelled): a connection problem whose detail
// says "validation cancelled", as http-01 reports an exchange its context
// cancelled (connDetail), not a dns or caa problem, which would blame the
// identifier's DNS for the caller giving up. Identifier is left unset.
func cancelledLookup(le *LookupError) *acme.Problem {
	return acme.NewProblem(acme.Connection, "validation cancelled while looking up %s for %s", le.Type, le.Name)
}

// orderAddrs returns addrs with IPv6 first then IPv4, duplicates removed
// (RFC 8555 §8.3 leaves the choice to the server; this mirrors common CAs).
func orderAddrs(addrs []netip.Addr) []netip.Addr {
	seen := make(map[netip.Addr]bool, len(addrs))
	var v6, v4 []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if seen[a] {
			continue
		}
		seen[a] = true
		if a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	return append(v6, v4...)
}

// resolve returns the addresses to try for t: the IP itself, or the
// resolved addresses of the name, IPv6 first.
func (v *VA) resolve(ctx context.Context, t target) ([]netip.Addr, error) {
	if t.isIP() {
		return []netip.Addr{t.ip}, nil
	}
	addrs, err := v.resolver.LookupIPs(ctx, t.name)
	if err != nil {
		return nil, dnsProblem(t.id, err)
	}
	return orderAddrs(addrs), nil
}

// dialError records the failure to connect to every candidate address.
type dialError struct {
	addr string // last address tried, "ip:port"
	err  error
}

func (e *dialError) Error() string { return fmt.Sprintf("connect to %s: %v", e.addr, e.err) }
func (e *dialError) Unwrap() error { return e.err }

// dialAny connects to the first reachable of addrs on port, in order,
// skipping the addresses policy denies (and checking again at connect
// time). With no allowed address it returns the first *deniedAddrError.
//
// When ctx has a deadline, each connect may take an equal share of the
// time left among the allowed addresses not tried yet, so that an
// address that drops packets (a firewalled AAAA record: the connect
// waits for SYN-ACKs that never come) cannot take the whole attempt and
// leave none for the next address (IPv4 after IPv6). An address that
// fails fast leaves its share to the next ones.
func dialAny(ctx context.Context, policy *addressPolicy, addrs []netip.Addr, port int) (net.Conn, error) {
	d := net.Dialer{Control: policy.control}
	var last, denied error
	allowed := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if err := policy.check(a); err != nil {
			if denied == nil {
				denied = err
			}
			continue
		}
		allowed = append(allowed, a)
	}
	deadline, bounded := ctx.Deadline()
	for i, a := range allowed {
		ap := netip.AddrPortFrom(a, uint16(port)).String()
		dctx, cancel := ctx, context.CancelFunc(func() {})
		if left := len(allowed) - i; bounded && left > 1 {
			dctx, cancel = context.WithTimeout(ctx, time.Until(deadline)/time.Duration(left))
		}
		c, err := d.DialContext(dctx, "tcp", ap)
		cancel()
		if err == nil {
			return c, nil
		}
		last = &dialError{addr: ap, err: err}
		if ctx.Err() != nil {
			break
		}
	}
	if last == nil {
		last = denied
	}
	if last == nil {
		last = &dialError{err: errors.New("no addresses")}
	}
	return nil, last
}

// connDetail describes a network error in client-safe words.
func connDetail(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout (likely a firewall problem)"
	case errors.Is(err, context.Canceled):
		return "validation cancelled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "address unreachable"
	default:
		return "connection failed"
	}
}

// afterConnectDetail describes, in client-safe words, a failure once the
// connection to the applicant's server was made: a timeout there is the
// server's slowness, not a firewall's silence (connDetail's words for a
// connection that never opens); response headers over the 16 KiB limit
// are named as such.
func afterConnectDetail(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout after connecting (the server accepted the connection but did not answer in time: it may be slow or overloaded)"
	case strings.Contains(err.Error(), "response headers exceeded"):
		return "the response's headers exceed 16 KiB"
	}
	return connDetail(err)
}

// logMS is the "ms" attribute of a log line: d in milliseconds with
// microsecond precision, as the request lines of the ACME front end and the
// admin API give their time (a time.Duration attribute is written by the
// JSON handler as an integer count of nanoseconds, under another key).
func logMS(d time.Duration) slog.Attr {
	return slog.Float64("ms", float64(d.Microseconds())/1000)
}
