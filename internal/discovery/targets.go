// Package discovery finds the certificates that TLS servers present on
// the network (docs/discovery.md): it expands scan targets (host,
// host:port, CIDR ranges with port lists) into endpoints, completes a TLS
// handshake with each (bounded concurrency, a timeout per connection),
// checks the served chain (trust against the system roots and certgate's
// CA, completeness, expiry, name) and records what it found: the scan and
// its findings in the store, each certificate in the inventory (source
// discovered unless issued or imported already: a "shadow" certificate).
package discovery

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// ErrInvalidTarget wraps every target that ParseTarget or Expand refuses,
// and a target list above the endpoint limit.
var ErrInvalidTarget = errors.New("invalid scan target")

// TooManyEndpointsError is Expand's refusal of targets that expand to more
// endpoints than its limit; it wraps ErrInvalidTarget. Its message says to
// scan less; a caller whose limit can be raised (certgate scan run
// --max-endpoints) names its setting.
type TooManyEndpointsError struct {
	Endpoints *big.Int // endpoints the targets expand to
	Max       int      // the limit
}

// Error says how many endpoints the targets expand to, the limit, and to
// scan fewer or smaller ranges.
func (e *TooManyEndpointsError) Error() string {
	return fmt.Sprintf("%v: the targets expand to %s endpoints (addresses × ports × SNI names), more than the limit of %d per scan: "+
		"scan fewer or smaller ranges", ErrInvalidTarget, e.Endpoints, e.Max)
}

// Unwrap returns ErrInvalidTarget.
func (e *TooManyEndpointsError) Unwrap() error { return ErrInvalidTarget }

// DefaultPort is the port of a target that names none.
const DefaultPort = 443

// DefaultMaxEndpoints is the most endpoints (address × port × SNI name) one
// scan tries unless its caller allows more: a /20 on one port.
const DefaultMaxEndpoints = 4096

// Target is one parsed target specification:
//
//	HOST[:PORTS][@SNI[,SNI...]]
//
// where HOST is a DNS name, an IPv4 address, an IPv4 CIDR range
// ("10.0.0.0/28"), or an IPv6 address or range in brackets when ports
// follow ("[2001:db8::1]:443", "[2001:db8::/120]:443"); PORTS is a
// comma-separated list of ports and ranges ("443,8443", "8000-8010"); the
// SNI names after "@" are sent in turn to every address (RFC 6066 §3
// server_name). Without them a DNS name is sent as its own SNI name and an
// address is tried without SNI.
type Target struct {
	Spec   string       // as given
	Host   string       // DNS name (lower case); "" for an address or range
	Prefix netip.Prefix // the address (a /32 or /128) or range; invalid for a DNS name
	Ports  []int        // nil: the caller's default ports
	SNI    []string     // server names to send; nil: see above
}

// ParseTarget parses one target specification (see Target). Errors wrap
// ErrInvalidTarget and name what is wrong.
func ParseTarget(spec string) (Target, error) {
	t := Target{Spec: spec}
	bad := func(format string, a ...any) (Target, error) {
		return Target{}, fmt.Errorf("%w %q: %s", ErrInvalidTarget, spec, fmt.Sprintf(format, a...))
	}
	s := strings.TrimSpace(spec)
	if s == "" {
		return bad("empty")
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		for _, n := range strings.Split(s[i+1:], ",") {
			n = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(n)), ".")
			if !validName(n) {
				return bad("SNI name %q is not a DNS name", n)
			}
			t.SNI = append(t.SNI, n)
		}
		s = s[:i]
	}
	host, ports := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return bad("missing ]")
		}
		host = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return bad("expected :PORTS after ]")
			}
			ports = rest[1:]
		}
	case strings.Count(s, ":") == 1:
		host, ports, _ = strings.Cut(s, ":")
	}
	if ports != "" || strings.HasSuffix(s, ":") {
		p, err := ParsePorts(ports)
		if err != nil {
			return bad("%v", err)
		}
		t.Ports = p
	}
	switch {
	case strings.Contains(host, "/"):
		p, err := netip.ParsePrefix(host)
		if err != nil {
			return bad("not a CIDR range (e.g. 10.0.0.0/28)")
		}
		t.Prefix = p.Masked()
	default:
		if a, err := netip.ParseAddr(host); err == nil {
			if a.Zone() != "" {
				return bad("addresses with a zone are not scanned")
			}
			a = a.Unmap()
			t.Prefix = netip.PrefixFrom(a, a.BitLen())
			break
		}
		h := strings.TrimSuffix(strings.ToLower(host), ".")
		if !validName(h) {
			return bad("not a host name, IP address or CIDR range")
		}
		t.Host = h
	}
	return t, nil
}

// validName reports whether n is a DNS name a scan may dial and send as
// SNI: labels of letters, digits, hyphens and underscores, 1 to 63 octets,
// 253 in all. (A single label such as "localhost" is allowed.)
func validName(n string) bool {
	if n == "" || len(n) > 253 {
		return false
	}
	for _, l := range strings.Split(n, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	// All digits and dots is an IPv4 address that did not parse.
	return !allDigitsDots(n)
}

func allDigitsDots(n string) bool {
	return !strings.ContainsFunc(n, func(r rune) bool { return r != '.' && (r < '0' || r > '9') })
}

// ParsePorts parses a comma-separated list of TCP ports and ranges
// ("443,8443", "8000-8010") into sorted, distinct ports (1..65535).
func ParsePorts(s string) ([]int, error) {
	var out []int
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("no port after ':'")
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		if isRange && (lo == "" || hi == "") {
			lo = part // "-1", "80-": name it whole, not the empty side
		}
		a, err := port(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = port(hi); err != nil {
				return nil, err
			}
			if b < a {
				return nil, fmt.Errorf("port range %s runs backwards", part)
			}
		}
		for p := a; p <= b; p++ {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func port(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("port %q is not a number from 1 to 65535", s)
	}
	return p, nil
}

// Endpoint is one TCP endpoint and server name to handshake with.
type Endpoint struct {
	Host string // IP address (canonical text) or DNS name
	Port int    // TCP port, 1..65535
	SNI  string // "" for none
}

// Addr returns host:port for net.Dial.
func (e Endpoint) Addr() string {
	return netipHostPort(e.Host, e.Port)
}

func netipHostPort(host string, p int) string {
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a, uint16(p)).String()
	}
	return host + ":" + strconv.Itoa(p)
}

// Expand turns targets into their endpoints, in target order, each
// endpoint once: every address of a range (for an IPv4 range of more than
// two addresses, not its network and broadcast addresses), on each of the
// target's ports (defaultPorts when it names none), with each of its SNI
// names (sni when it names none; a DNS name target without either sends
// itself). It refuses targets that expand to more than max endpoints in
// all, before enumerating them, with a *TooManyEndpointsError (wrapping
// ErrInvalidTarget).
func Expand(targets []Target, defaultPorts []int, sni []string, max int) ([]Endpoint, error) {
	if len(defaultPorts) == 0 {
		defaultPorts = []int{DefaultPort}
	}
	total := new(big.Int)
	for _, t := range targets {
		n := new(big.Int).SetInt64(1)
		if t.Host == "" {
			n = hostCount(t.Prefix)
		}
		n.Mul(n, big.NewInt(int64(len(orDefault(t.Ports, defaultPorts)))))
		n.Mul(n, big.NewInt(int64(max1(len(orDefault(t.SNI, sni))))))
		total.Add(total, n)
	}
	if total.Cmp(big.NewInt(int64(max))) > 0 {
		return nil, &TooManyEndpointsError{Endpoints: total, Max: max}
	}
	seen := map[Endpoint]bool{}
	var out []Endpoint
	add := func(e Endpoint) {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	for _, t := range targets {
		names := orDefault(t.SNI, sni)
		ports := orDefault(t.Ports, defaultPorts)
		var hosts []string
		if t.Host != "" {
			hosts = []string{t.Host}
			if len(names) == 0 {
				names = []string{t.Host}
			}
		} else {
			for a := range prefixAddrs(t.Prefix) {
				hosts = append(hosts, a.String())
			}
		}
		if len(names) == 0 {
			names = []string{""}
		}
		for _, h := range hosts {
			for _, p := range ports {
				for _, n := range names {
					add(Endpoint{Host: h, Port: p, SNI: n})
				}
			}
		}
	}
	return out, nil
}

func orDefault[T any](v, def []T) []T {
	if len(v) == 0 {
		return def
	}
	return v
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// skipsEnds reports whether p's first and last addresses (IPv4 network
// and broadcast) are left out: an IPv4 range of more than two addresses.
func skipsEnds(p netip.Prefix) bool {
	return p.Addr().Is4() && p.Bits() < 31
}

// hostCount is how many addresses of p Expand tries.
func hostCount(p netip.Prefix) *big.Int {
	n := new(big.Int).Lsh(big.NewInt(1), uint(p.Addr().BitLen()-p.Bits()))
	if skipsEnds(p) {
		n.Sub(n, big.NewInt(2))
	}
	return n
}

// prefixAddrs yields the addresses of p that Expand tries, in order.
func prefixAddrs(p netip.Prefix) func(yield func(netip.Addr) bool) {
	return func(yield func(netip.Addr) bool) {
		a := p.Addr()
		skip := skipsEnds(p)
		if skip {
			a = a.Next()
		}
		for ; a.IsValid() && p.Contains(a); a = a.Next() {
			if skip && !p.Contains(a.Next()) {
				return // the broadcast address
			}
			if !yield(a) {
				return
			}
		}
	}
}
