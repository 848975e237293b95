package va

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

func TestParseDenyNetworks(t *testing.T) {
	tests := []struct {
		in   string
		want string // prefixes joined by " "
		err  string
	}{
		{in: "", want: ""},
		{in: " , ", want: ""},
		{in: "loopback", want: "127.0.0.0/8 ::1/128"},
		{in: "Private", want: "10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 100.64.0.0/10"},
		{in: "link-local, ula", want: "169.254.0.0/16 fe80::/10 fc00::/7"},
		{in: "127.0.0.2, ::1", want: "127.0.0.2/32 ::1/128"},
		{in: "10.1.2.3/8,2001:db8::1/32", want: "10.0.0.0/8 2001:db8::/32"},
		{in: "::ffff:10.0.0.0/104", want: "10.0.0.0/8"},
		{in: "public", err: `"public" is not a CIDR prefix`},
		{in: "10.0.0.0/33", err: "not a CIDR prefix"},
		{in: "fe80::1%lo", err: "not a CIDR prefix"},
		{in: "::ffff:0:0/95", err: "more than the IPv4-mapped range"},
	}
	for _, tc := range tests {
		got, err := ParseDenyNetworks(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseDenyNetworks(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDenyNetworks(%q): %v", tc.in, err)
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if strings.Join(s, " ") != tc.want {
			t.Errorf("ParseDenyNetworks(%q) = %v, want %s", tc.in, s, tc.want)
		}
	}
	if _, err := ParseDenyNetworks(PublicDenyNetworks); err != nil {
		t.Fatal(err)
	}
}

func TestAddressPolicyCheck(t *testing.T) {
	public, _ := ParseDenyNetworks(PublicDenyNetworks)
	custom, _ := ParseDenyNetworks("203.0.113.0/24")
	tests := []struct {
		deny   []netip.Prefix
		addr   string
		detail string // "" = allowed
	}{
		// Always denied, whatever the list.
		{nil, "0.0.0.0", "0.0.0.0 is an unspecified address"},
		{nil, "0.1.2.3", "unspecified address"},
		{nil, "::", ":: is an unspecified address"},
		{nil, "255.255.255.255", "a broadcast address"},
		{nil, "224.0.0.1", "a multicast address"},
		{nil, "ff02::1", "a multicast address"},
		{nil, "240.0.0.1", "a reserved address"},
		{nil, "::ffff:0.0.0.0", "0.0.0.0 is an unspecified address"},
		// The built-in private CA default: internal addresses allowed.
		{nil, "127.0.0.1", ""},
		{nil, "10.0.0.1", ""},
		{nil, "fe80::1", ""},
		// Public profile.
		{public, "127.0.0.1", "127.0.0.1 is a loopback address, which this server does not connect to for validation"},
		{public, "::1", "::1 is a loopback address"},
		{public, "::ffff:127.0.0.1", "127.0.0.1 is a loopback address"},
		{public, "10.9.8.7", "10.9.8.7 is a private address"},
		{public, "172.31.255.255", "a private address"},
		{public, "172.32.0.1", ""},
		{public, "192.168.1.1", "a private address"},
		{public, "100.64.0.1", "a shared (carrier-grade NAT) address"},
		{public, "169.254.169.254", "169.254.169.254 is a link-local address"},
		{public, "fe80::1", "a link-local address"},
		{public, "fd00::1", "fd00::1 is a unique local address"},
		{public, "8.8.8.8", ""},
		{public, "2001:4860:4860::8888", ""},
		// A range outside the named classes.
		{custom, "203.0.113.9", "203.0.113.9 is in a network this server does not connect to for validation"},
		{custom, "198.51.100.1", ""},
	}
	for _, tc := range tests {
		p := &addressPolicy{deny: tc.deny}
		err := p.check(netip.MustParseAddr(tc.addr))
		if tc.detail == "" {
			if err != nil {
				t.Errorf("%s with %d networks: denied: %v", tc.addr, len(tc.deny), err)
			}
			continue
		}
		var de *deniedAddrError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), tc.detail) {
			t.Errorf("%s with %d networks: got %v, want %q", tc.addr, len(tc.deny), err, tc.detail)
		}
	}
}

func TestNewRejectsBadNetworks(t *testing.T) {
	if _, err := New(Config{DenyNetworks: []netip.Prefix{{}}}, nil); err == nil {
		t.Fatal("New accepted an invalid prefix")
	}
	v := newVA(t, Config{DenyNetworks: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")}})
	if got := v.cfg.DenyNetworks[0].String(); got != "10.0.0.0/8" {
		t.Fatalf("prefix not masked: %s", got)
	}
}

// acceptCounter listens on host:0 and counts accepted connections.
func acceptCounter(t *testing.T, host string) (int, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", host, err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			_ = c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, &n
}

// TestDialTimeCheck: the check runs on the address being connected to,
// whoever resolved it, so a name that resolves differently between a
// check and the connection (DNS rebinding) cannot reach a denied address.
func TestDialTimeCheck(t *testing.T) {
	port, accepted := acceptCounter(t, "127.0.0.2")
	p := &addressPolicy{deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}
	target := net.JoinHostPort("127.0.0.2", strconv.Itoa(port))

	d := net.Dialer{Control: p.control}
	_, err := d.DialContext(t.Context(), "tcp", target)
	var de *deniedAddrError
	if !errors.As(err, &de) || de.addr != netip.MustParseAddr("127.0.0.2") {
		t.Fatalf("Control: got %v, want a deniedAddrError", err)
	}

	_, err = dialAny(t.Context(), p, []netip.Addr{netip.MustParseAddr("127.0.0.2")}, port)
	if !errors.As(err, &de) {
		t.Fatalf("dialAny: got %v, want a deniedAddrError", err)
	}

	// An allowed address next to a denied one is used.
	okPort, okAccepted := acceptCounter(t, "127.0.0.1")
	c, err := dialAny(t.Context(), p, []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")}, okPort)
	if err != nil {
		t.Fatalf("dialAny with an allowed address: %v", err)
	}
	_ = c.Close()

	time.Sleep(50 * time.Millisecond) // let the accept loops count
	if n := accepted.Load(); n != 0 {
		t.Fatalf("denied listener accepted %d connections", n)
	}
	if n := okAccepted.Load(); n != 1 {
		t.Fatalf("allowed listener accepted %d connections, want 1", n)
	}
}

// TestTLSALPN01AddressPolicy: tls-alpn-01 obeys the same policy.
func TestTLSALPN01AddressPolicy(t *testing.T) {
	deny := []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name    string
		id      acme.Identifier
		listen  string
		want    acme.ProblemType
		details []string
	}{
		{"allowed name", dnsID("example.com"), "127.0.0.1", "", nil},
		{"name resolving to a denied address", dnsID("denied.example"), "127.0.0.2", acme.Connection,
			[]string{"tls-alpn-01", "127.0.0.2 is a loopback address"}},
		{"denied IPv6 identifier", ipID("::1"), "::1", acme.Connection, []string{"::1 is a loopback address"}},
		{"unspecified IP identifier", ipID("0.0.0.0"), "127.0.0.1", acme.Connection, []string{"0.0.0.0 is an unspecified address"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dnsSrv := startDNS(t)
			dnsSrv.SetA("denied.example", net.ParseIP("127.0.0.2"))
			sans := certOpts{keyAuth: testKeyAuth}
			if tc.id.Type == acme.IdentifierIP {
				sans.ips = []net.IP{net.ParseIP(tc.id.Value)}
			} else {
				sans.dnsNames = []string{tc.id.Value}
			}
			port, snis := startTLS(t, tc.listen, alpnCert(t, sans), []string{ALPNProto})
			v := newVA(t, Config{TLSPort: port, DNSResolver: dnsSrv.Addr(), DenyNetworks: deny, Timeout: 2 * time.Second})
			err := v.Validate(t.Context(), tc.id, acme.ChallengeTLSALPN01, testToken, testKeyAuth)
			checkResult(t, err, tc.id, tc.want, tc.details...)
			if tc.want != "" && len(snis()) != 0 {
				t.Fatalf("denied server saw handshakes %v", snis())
			}
		})
	}
}

// TestHTTP01PublicProfile: with the public deny list an identifier on
// loopback is refused before any request, by IP and by name.
func TestHTTP01PublicProfile(t *testing.T) {
	var hits atomic.Int32
	port := startHTTP(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(testKeyAuth))
	}))
	dnsSrv := startDNS(t)
	public, _ := ParseDenyNetworks(PublicDenyNetworks)
	v := newVA(t, Config{HTTPPort: port, DNSResolver: dnsSrv.Addr(), DenyNetworks: public})
	for _, id := range []acme.Identifier{ipID("127.0.0.1"), dnsID("example.com")} {
		err := v.Validate(t.Context(), id, acme.ChallengeHTTP01, testToken, testKeyAuth)
		checkResult(t, err, id, acme.Connection, "127.0.0.1 is a loopback address")
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("server got %d requests", n)
	}
}
