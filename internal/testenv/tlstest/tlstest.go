// Package tlstest holds the loopback TLS servers that the discovery tests
// of several packages scan: one that serves a certificate and one port
// where nothing listens.
package tlstest

import (
	"crypto/tls"
	"net"
	"testing"
)

// Serve listens on 127.0.0.1 at a free port, completes a TLS handshake
// with cert (leaf first, then the chain it sends) on every connection and
// closes it, until t ends; it returns the port.
func Serve(t testing.TB, cert tls.Certificate) int {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// ClosedPort returns a port of 127.0.0.1 where nothing listens (one that
// was free a moment ago): a connection to it is refused.
func ClosedPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}
