package server

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// headerStatus sends on c a GET of path with a header of pad bytes
// (X-Pad) and returns the status of the answer.
func headerStatus(t *testing.T, c net.Conn, path string, pad int) int {
	t.Helper()
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + strings.Repeat("a", pad) + "\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestMaxHeaderBytes: every listener — listen (HTTPS and plain HTTP),
// admin-listen (both), metrics-listen and a validation perspective's —
// refuses a header block larger than MaxHeaderBytes (64 KiB) with 431 and
// answers a request with 16 KiB of headers as usual. Before, they kept
// net/http's default of 1 MiB, so the 80 KiB block was read and served.
func TestMaxHeaderBytes(t *testing.T) {
	cfg := testServeConfig(filepath.Join(t.TempDir(), "data"))
	cfg.AdminListen = "127.0.0.1:0"
	cfg.MetricsListen = "127.0.0.1:0"
	srv := serveForTest(t, cfg, Options{})

	// A perspective (serve --roles va) on a free loopback port.
	perspective := perspectiveForTest(t, Options{})

	dial := func(addr string, tlsOn bool) func() net.Conn {
		return func() net.Conn {
			t.Helper()
			var c net.Conn
			var err error
			for range 50 { // the perspective may still be starting
				if tlsOn {
					c, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
				} else {
					c, err = net.Dial("tcp", addr)
				}
				if err == nil {
					return c
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Fatalf("%s: %v", addr, err)
			return nil
		}
	}
	for _, l := range []struct {
		name   string
		dial   func() net.Conn
		path   string
		normal int // the status of a request with normal headers
	}{
		{"listen HTTPS", dial(srv.Addr().String(), true), "/healthz", http.StatusOK},
		{"listen plain HTTP", dial(srv.Addr().String(), false), "/healthz", http.StatusOK},
		{"admin-listen HTTPS", dial(srv.AdminAddr().String(), true), "/healthz", http.StatusOK},
		{"admin-listen plain HTTP", dial(srv.AdminAddr().String(), false), "/healthz", http.StatusOK},
		{"metrics-listen", dial(srv.MetricsAddr().String(), false), "/healthz", http.StatusOK},
		{"perspective", dial(perspective, true), "/", 0},
	} {
		got := headerStatus(t, l.dial(), l.path, 16<<10)
		if got == http.StatusRequestHeaderFieldsTooLarge || (l.normal != 0 && got != l.normal) {
			t.Errorf("%s: 16 KiB of headers answered %d, want %d", l.name, got, l.normal)
		}
		if got := headerStatus(t, l.dial(), l.path, 80<<10); got != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%s: 80 KiB of headers answered %d, want 431", l.name, got)
		}
	}
}
