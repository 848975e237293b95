// Package loadgentest boots an in-process certgate for tests of the load
// tool: like internal/testenv, but http-01 validation connects to a port
// the test's own responder (the load tool's) listens on.
package loadgentest

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/testenv/testdns"
)

// Env is a running certgate whose validation resolves every name to
// 127.0.0.1 and connects to HTTP01Port for http-01.
type Env struct {
	DirectoryURL string         // https://localhost:PORT/acme/directory
	Roots        *x509.CertPool // trusts the server's TLS certificate
	RootPEM      []byte         // the built-in root, PEM
	HTTP01Port   int            // where http-01 validation connects
	// HTTP01Listeners listen on 127.0.0.1:HTTP01Port (and [::1] when
	// available), for the load tool's responder, which closes them.
	HTTP01Listeners []net.Listener
	Server          *server.Server
}

// Start boots the server for t; everything stops when t ends.
func Start(t testing.TB) *Env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dns, err := testdns.Start(ctx)
	if err != nil {
		cancel()
		t.Fatalf("loadgentest: dns: %v", err)
	}
	ln4, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("loadgentest: listen: %v", err)
	}
	e := &Env{HTTP01Port: ln4.Addr().(*net.TCPAddr).Port, HTTP01Listeners: []net.Listener{ln4}}
	if ln6, err := net.Listen("tcp", "[::1]:"+strconv.Itoa(e.HTTP01Port)); err == nil {
		e.HTTP01Listeners = append(e.HTTP01Listeners, ln6)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("loadgentest: listen: %v", err)
	}
	cfg := &config.Serve{Data: t.TempDir(), Listen: ln.Addr().String(), Hostname: "localhost",
		VAHTTPPort: e.HTTP01Port, VATLSPort: 1, VADNSResolver: dns.Addr(), CertValidity: 90 * 24 * time.Hour,
		LogLevel: "info", LogFormat: "text", ShutdownGrace: 5 * time.Second}
	srv, err := server.New(ctx, cfg, server.Options{Listener: ln}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		t.Fatalf("loadgentest: server: %v", err)
	}
	e.Server = srv
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("loadgentest: serve: %v", err)
		}
		dns.Close()
		for _, l := range e.HTTP01Listeners {
			l.Close() // in case the test never handed them over
		}
	})
	e.Roots = x509.NewCertPool()
	e.Roots.AddCert(srv.CA().Root())
	e.RootPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.CA().Root().Raw})
	e.DirectoryURL = "https://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + "/acme/directory"
	return e
}
