package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/config"
)

// closedWithin reports whether the server closes c (EOF or reset)
// within d, reading and dropping anything it sends first.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

// TestSlowClientsTimedOut: on a real server (listen and admin-listen), a
// request whose body stops arriving is cut off once BodyReadTimeout has
// passed — an ACME POST and an admin API POST over HTTPS, an OCSP POST
// over plain HTTP — and an idle keep-alive connection of the plain-HTTP
// side is closed after IdleTimeout. Before, such connections were held
// forever (no read deadline once the headers were in; the plain-HTTP
// servers had no idle timeout), so that a client trickling bodies or
// leaving connections open could exhaust the server's file descriptors.
// A body sent whole lifts the deadline: the same keep-alive connection
// serves a second request after BodyReadTimeout has passed.
func TestSlowClientsTimedOut(t *testing.T) {
	cfg := testServeConfig(filepath.Join(t.TempDir(), "data"))
	cfg.AdminListen = "127.0.0.1:0"
	const bodyTimeout, idleTimeout = 700 * time.Millisecond, 3 * time.Second
	srv := serveForTest(t, cfg, Options{BodyReadTimeout: bodyTimeout, IdleTimeout: idleTimeout})
	addr, admin := srv.Addr().String(), srv.AdminAddr().String()
	dialTLS := func(a string) net.Conn {
		c, err := tls.Dial("tcp", a, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	dialPlain := func(a string) net.Conn {
		c, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	stalls := []struct {
		name string
		conn net.Conn
		head string
	}{
		{"ACME newOrder over HTTPS", dialTLS(addr), "POST /acme/new-order HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/jose+json\r\n"},
		{"admin API over HTTPS on admin-listen", dialTLS(admin), "POST /api/v1/tokens HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"},
		{"OCSP over plain HTTP", dialPlain(addr), "POST /pki/ocsp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/ocsp-request\r\n"},
	}
	start := time.Now()
	for _, s := range stalls {
		if _, err := io.WriteString(s.conn, s.head+"Content-Length: 1000\r\n\r\n{"); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range stalls {
		if !closedWithin(s.conn, bodyTimeout+3*time.Second-time.Since(start)) {
			t.Errorf("%s: a body stalled after 1 of 1000 bytes still holds the connection %v later", s.name, time.Since(start).Round(time.Millisecond))
		}
		s.conn.Close()
	}

	// A whole body lifts the deadline; the plain side's idle connection
	// is closed after IdleTimeout.
	c := dialPlain(addr)
	defer c.Close()
	br := bufio.NewReader(c)
	get := func(req string) {
		t.Helper()
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: %v", strings.SplitN(req, "\r\n", 2)[0], err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get("POST /pki/ocsp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/ocsp-request\r\nContent-Length: 3\r\n\r\nabc")
	time.Sleep(bodyTimeout + 300*time.Millisecond)
	get("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
	idleStart := time.Now()
	if !closedWithin(c, idleTimeout+3*time.Second) {
		t.Errorf("plain HTTP: an idle keep-alive connection still open %v after its last response", time.Since(idleStart).Round(time.Millisecond))
	} else if d := time.Since(idleStart); d < idleTimeout-500*time.Millisecond {
		t.Errorf("plain HTTP: idle connection closed after %v, before IdleTimeout %v", d, idleTimeout)
	}
}

// TestBodyDeadlineLiftedAfterBody: the read deadline of ReadTimeout
// (DefaultBodyReadTimeout) does not bound the handler: one that has read
// its whole body and then works longer keeps its request context and its
// answer reaches the client (net/http lifts the deadline once the body is
// read; a read deadline passing while it watches the connection would
// cancel the request).
func TestBodyDeadlineLiftedAfterBody(t *testing.T) {
	const d = 300 * time.Millisecond
	ctxErr := make(chan error, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		time.Sleep(3 * d)
		ctxErr <- r.Context().Err()
		_, _ = w.Write(b)
	}))
	srv.Config.ReadHeaderTimeout, srv.Config.ReadTimeout = d, d
	srv.Start()
	defer srv.Close()
	resp, err := http.Post(srv.URL, "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := <-ctxErr; err != nil {
		t.Errorf("request context ended %v after the body was read: %v", 3*d, err)
	}
	if resp.StatusCode != http.StatusOK || string(body) != "hello" {
		t.Errorf("answer %d %q, want 200 \"hello\"", resp.StatusCode, body)
	}
}

// serveForTest starts New(cfg, opts) serving until the test ends, with its
// log discarded; Serve's error fails the test at cleanup.
func serveForTest(t *testing.T, cfg *config.Serve, opts Options) *Server {
	t.Helper()
	srv, err := New(context.Background(), cfg, opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

// perspectiveForTest starts a perspective (serve --roles va) with the
// timeouts of opts on opts.Listener or a free loopback port, stopped when
// the test ends, and returns its address (host:port); it may still be
// starting when this returns.
func perspectiveForTest(t *testing.T, opts Options) string {
	t.Helper()
	dir := t.TempDir()
	pcfg := testServeConfig(filepath.Join(dir, "va"))
	pcfg.Perspectives.Name = "p1"
	pcfg.Perspectives.SecretFile = filepath.Join(dir, "secret")
	if err := os.WriteFile(pcfg.Perspectives.SecretFile, []byte(strings.Repeat("s", 64)), 0o600); err != nil {
		t.Fatal(err)
	}
	if opts.Listener == nil {
		free, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		pcfg.Listen = free.Addr().String()
		free.Close()
	} else {
		pcfg.Listen = opts.Listener.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- servePerspective(ctx, pcfg, opts, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("servePerspective: %v", err)
		}
	})
	return pcfg.Listen
}
