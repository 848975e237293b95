package va

import (
	"fmt"
	"net/netip"
	"strings"
	"syscall"
)

// The address policy decides which IP addresses http-01 and tls-alpn-01
// may connect to. It is checked for every address of every hop (the
// identifier's addresses and those of each redirect target) at dial time,
// on the very address being connected, so a DNS answer that changes
// between a check and the connection cannot bypass it.
//
// A name whose addresses are partly denied is validated on the allowed
// ones only (denied addresses are skipped, as Boulder skips reserved
// addresses); a name with only denied addresses fails with a connection
// problem whose detail names the class of the address ("127.0.0.2 is a
// loopback address ..."). The problem type is connection, not
// rejectedIdentifier: the identifier itself is acceptable, the server could
// not connect to where it points (RFC 8555 §6.7: "The server could not
// connect to validation target").

// PublicDenyNetworks is the deny list a public-facing deployment should
// use: no validation request can then reach the CA's own network.
const PublicDenyNetworks = "private,loopback,link-local,ula"

// namedNetworks are the shorthands ParseDenyNetworks accepts.
var namedNetworks = map[string][]netip.Prefix{
	"loopback": prefixes("127.0.0.0/8", "::1/128"),
	"private": prefixes("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", // RFC 1918
		"100.64.0.0/10"), // RFC 6598 shared address space (carrier-grade NAT)
	"link-local": prefixes("169.254.0.0/16", "fe80::/10"),
	"ula":        prefixes("fc00::/7"), // RFC 4193 unique local addresses
}

// classes name an address in a problem detail ("a loopback address"),
// first match wins. The first group is always denied: no validation target
// legitimately lives there, and connecting to 0.0.0.0 or :: reaches the
// local host on Linux.
var classes = []struct {
	prefix netip.Prefix
	class  string
	always bool
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified", true},
	{netip.MustParsePrefix("::/128"), "an unspecified", true},
	{netip.MustParsePrefix("255.255.255.255/32"), "a broadcast", true},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast", true},
	{netip.MustParsePrefix("ff00::/8"), "a multicast", true},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved", true},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback", false},
	{netip.MustParsePrefix("::1/128"), "a loopback", false},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private", false},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private", false},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private", false},
	{netip.MustParsePrefix("100.64.0.0/10"), "a shared (carrier-grade NAT)", false},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local", false},
	{netip.MustParsePrefix("fe80::/10"), "a link-local", false},
	{netip.MustParsePrefix("fc00::/7"), "a unique local", false},
}

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// ParseDenyNetworks reads a comma-separated deny list: CIDR prefixes
// ("10.0.0.0/8", "2001:db8::/32"), single addresses (a /32 or /128), and
// the shorthands private, loopback, link-local and ula. Blank entries are
// ignored; "" is an empty list. IPv4-mapped IPv6 prefixes are converted to
// IPv4.
func ParseDenyNetworks(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if named, ok := namedNetworks[strings.ToLower(f)]; ok {
			out = append(out, named...)
			continue
		}
		var p netip.Prefix
		var err error
		if strings.Contains(f, "/") {
			p, err = netip.ParsePrefix(f)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(f); err == nil && a.Zone() == "" {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil || !p.IsValid() {
			return nil, fmt.Errorf("%q is not a CIDR prefix, an IP address or one of private, loopback, link-local, ula", f)
		}
		out = append(out, p)
	}
	return normalizePrefixes(out)
}

// normalizePrefixes masks each prefix and turns IPv4-mapped IPv6 prefixes
// into IPv4 ones, so they match the unmapped addresses the policy checks.
func normalizePrefixes(in []netip.Prefix) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for _, p := range in {
		if !p.IsValid() {
			return nil, fmt.Errorf("invalid network prefix %v", p)
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return nil, fmt.Errorf("network %v covers more than the IPv4-mapped range", p)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// addressPolicy is the compiled deny list. The zero value denies only the
// always-denied ranges.
type addressPolicy struct {
	deny []netip.Prefix
}

// deniedAddrError is an address the policy refuses; its Error is
// client-safe.
type deniedAddrError struct {
	addr  netip.Addr
	class string // "a loopback"; "" when the address is in no named class
}

func (e *deniedAddrError) Error() string {
	if e.class == "" {
		return fmt.Sprintf("%s is in a network this server does not connect to for validation", e.addr)
	}
	return fmt.Sprintf("%s is %s address, which this server does not connect to for validation", e.addr, e.class)
}

// addrClass names the standard range a is in, or "".
func addrClass(a netip.Addr) (class string, always bool) {
	for _, c := range classes {
		if c.prefix.Contains(a) {
			return c.class, c.always
		}
	}
	return "", false
}

// AlwaysDenied reports whether validation never connects to a, whatever
// va-deny-networks says: unspecified (0.0.0.0/8, ::), broadcast, multicast
// and 240.0.0.0/4 addresses (IPv4-mapped IPv6 as the IPv4 address). class
// names the range for a message, e.g. "a multicast". No http-01 or
// tls-alpn-01 validation of an ip identifier there can ever succeed.
func AlwaysDenied(a netip.Addr) (class string, denied bool) {
	return addrClass(a.Unmap().WithZone(""))
}

// AddressDenied returns an error whose text is safe to show to ACME
// clients (e.g. "10.1.2.3 is a private address, which this server does
// not connect to for validation") when http-01 and tls-alpn-01 never
// connect to a: Config.DenyNetworks and the always-denied ranges (see
// AlwaysDenied), an IPv4-mapped IPv6 address as the IPv4 address; nil
// otherwise.
func (v *VA) AddressDenied(a netip.Addr) error { return v.policy.check(a) }

// check returns a *deniedAddrError if validation must not connect to a.
func (p *addressPolicy) check(a netip.Addr) error {
	a = a.Unmap().WithZone("")
	if !a.IsValid() {
		return &deniedAddrError{addr: a}
	}
	class, always := addrClass(a)
	if always {
		return &deniedAddrError{addr: a, class: class}
	}
	for _, d := range p.deny {
		if d.Contains(a) {
			return &deniedAddrError{addr: a, class: class}
		}
	}
	return nil
}

// control is a net.Dialer Control function: it runs on the address the
// socket is about to connect to, after any name resolution, so it is the
// last word whatever the caller resolved.
func (p *addressPolicy) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("va: dial %s %q: not an IP address and port", network, address)
	}
	return p.check(ap.Addr())
}
