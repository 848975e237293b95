package va

import (
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// blackholeTCP6 makes [::1]:port a port that never completes a
// connection, as a host behind a firewall that drops packets does: a
// listening socket with a backlog of 0 whose accept queue is filled by one
// connection and never drained, so the kernel drops further SYNs and a
// connect waits until its deadline. It skips the test when IPv6 loopback
// is unavailable.
func blackholeTCP6(t *testing.T, port int) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET6, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Skipf("no IPv6 socket: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	sa := &syscall.SockaddrInet6{Port: port, Addr: [16]byte{15: 1}}
	if err := syscall.Bind(fd, sa); err != nil {
		t.Skipf("cannot bind [::1]:%d: %v", port, err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("::1", strconv.Itoa(port))
	// Fill the accept queue (backlog 0 holds one connection).
	for i := 0; i < 2; i++ {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			break // the queue is full: connects now hang
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	if c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond); err == nil {
		_ = c.Close()
		t.Skip("cannot make a blackholed IPv6 port on this host")
	}
}

// TestIPv6BlackholeFallsBackToIPv4: a name with an AAAA record whose
// address drops connections (a common misconfiguration) and an A record
// that serves the challenge validates over IPv4. IPv6 is tried first,
// but one unresponsive address must not take the whole attempt's time:
// each address gets its share, so the next one is still tried (RFC 8555
// §8.3 leaves the choice of address to the server; docs/validation.md
// promises IPv6 first, then IPv4).
func TestIPv6BlackholeFallsBackToIPv4(t *testing.T) {
	port := startHTTP(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(testKeyAuth))
	}))
	blackholeTCP6(t, port)
	tlsPort, _ := startTLS(t, "127.0.0.1", alpnCert(t, certOpts{dnsNames: []string{"dual.example"}, keyAuth: testKeyAuth}), []string{ALPNProto})
	blackholeTCP6(t, tlsPort)

	dnsSrv := startDNS(t)
	dnsSrv.SetA("dual.example", net.ParseIP("127.0.0.1"))
	dnsSrv.SetAAAA("dual.example", net.ParseIP("::1"))
	v := newVA(t, Config{HTTPPort: port, TLSPort: tlsPort, DNSResolver: dnsSrv.Addr(), Timeout: 4 * time.Second})
	id := dnsID("dual.example")
	for _, typ := range []string{acme.ChallengeHTTP01, acme.ChallengeTLSALPN01} {
		start := time.Now()
		err := v.Validate(t.Context(), id, typ, testToken, testKeyAuth)
		checkResult(t, err, id, "")
		t.Logf("%s: validated over IPv4 after %v", typ, time.Since(start).Round(time.Millisecond))
	}

	// Both blackholed: the attempt still ends within its timeout, as a
	// timeout.
	v6only := startDNS(t)
	v6only.SetDefaultA(nil)
	v6only.SetAAAA("dual.example", net.ParseIP("::1"))
	v = newVA(t, Config{HTTPPort: port, DNSResolver: v6only.Addr(), Timeout: 2 * time.Second})
	start := time.Now()
	err := v.Validate(t.Context(), id, acme.ChallengeHTTP01, testToken, testKeyAuth)
	checkResult(t, err, id, acme.Connection, "timeout")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v, beyond the 2s validation timeout", d)
	}
}
