package va

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// serveTLSRaw accepts TLS connections on 127.0.0.1 (handshake with cert),
// reads one request and writes answer; it returns the port.
func serveTLSRaw(t *testing.T, cert tls.Certificate, answer string) int {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				_ = c.SetDeadline(time.Now().Add(3 * time.Second))
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = io.WriteString(c, answer)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// serveRaw accepts TCP connections on 127.0.0.1 and writes answer at once
// (no TLS); it returns the port.
func serveRawBytes(t *testing.T, answer string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				_, _ = io.WriteString(c, answer)
				_, _ = io.Copy(io.Discard, io.LimitReader(c, 1<<16))
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestHTTP01HTTPSProblemTypes: after a redirect to https, only a failed
// TLS handshake is a tls problem (RFC 8555 §6.7: "The server received a
// TLS error during validation"); a server that completes the handshake
// and then answers something that is not HTTP, or closes the connection
// without an answer, is a connection problem, as the same answer over
// plain http is.
func TestHTTP01HTTPSProblemTypes(t *testing.T) {
	cert := selfSignedCert(t, "secure.example")
	dnsSrv := startDNS(t)
	plain := startHTTP(t, "127.0.0.1", redirectTo("https://secure.example/final"))
	for _, tc := range []struct {
		name    string
		tlsPort int
		want    acme.ProblemType
		detail  string
	}{
		{"garbage after the handshake", serveTLSRaw(t, cert, "SSH-2.0-OpenSSH_9.6\r\n\r\n"), acme.Connection,
			"fetching https://secure.example:"},
		{"closed after the handshake", serveTLSRaw(t, cert, ""), acme.Connection, "fetching https://secure.example:"},
		{"not TLS at all", serveRawBytes(t, "HTTP/1.1 400 Bad Request\r\n\r\n"), acme.TLS, "TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVA(t, Config{HTTPPort: plain, TLSPort: tc.tlsPort, DNSResolver: dnsSrv.Addr(), Timeout: 3 * time.Second})
			id := dnsID("example.com")
			err := v.Validate(t.Context(), id, acme.ChallengeHTTP01, testToken, testKeyAuth)
			checkResult(t, err, id, tc.want, tc.detail)
			if p := err.(*acme.Problem); strings.Contains(p.Detail, "127.0.0.1") {
				t.Fatalf("detail %q names the VA's socket", p.Detail)
			}
			t.Log(err)
		})
	}
}
