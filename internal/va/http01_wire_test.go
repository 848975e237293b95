package va

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/testenv/testdns"
)

// wireRequest is one request as a raw server read it off the connection.
type wireRequest struct {
	method, uri, host string
	header            http.Header
}

// rawServer accepts connections on 127.0.0.1 and, for each, reads one
// request with http.ReadRequest, records it, writes answer(index of the
// request, request) verbatim and closes the connection.
type rawServer struct {
	port int
	mu   sync.Mutex
	reqs []wireRequest
}

func startRaw(t *testing.T, answer func(n int, r *http.Request) string) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{port: ln.Addr().(*net.TCPAddr).Port}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer func() { _ = c.Close() }()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				r, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				s.mu.Lock()
				n := len(s.reqs)
				s.reqs = append(s.reqs, wireRequest{method: r.Method, uri: r.RequestURI, host: r.Host, header: r.Header})
				s.mu.Unlock()
				_, _ = io.WriteString(c, answer(n, r))
			})
		}
	})
	return s
}

func (s *rawServer) requests() []wireRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// TestHTTP01Wire pins what the http-01 request looks like on the wire and
// how responses that net/http's client handles specially are treated: a
// raw TCP server reads each request with http.ReadRequest and answers
// with fixed bytes.
func TestHTTP01Wire(t *testing.T) {
	ok := "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
	okBody := fmt.Sprintf(ok, len(testKeyAuth), testKeyAuth)
	tests := []struct {
		name    string
		answer  func(n int, r *http.Request) string
		want    acme.ProblemType
		details []string
		check   func(t *testing.T, port int, reqs []wireRequest)
	}{
		{
			name: "request headers, also after a redirect",
			answer: func(n int, r *http.Request) string {
				if n == 0 {
					return "HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n"
				}
				return okBody
			},
			check: func(t *testing.T, port int, reqs []wireRequest) {
				if len(reqs) != 2 {
					t.Fatalf("%d requests, want 2", len(reqs))
				}
				first := fmt.Sprintf("http://example.com:%d%s", port, challengePath)
				for i, want := range []struct{ uri, referer string }{{challengePath, ""}, {"/next", first}} {
					r := reqs[i]
					if r.method != "GET" || r.uri != want.uri || r.host != "example.com" {
						t.Fatalf("request %d: %s %s Host %s, want GET %s Host example.com", i, r.method, r.uri, r.host, want.uri)
					}
					wantHeader := http.Header{"User-Agent": {userAgent}, "Accept": {"*/*"}, "Connection": {"close"}}
					if want.referer != "" {
						wantHeader["Referer"] = []string{want.referer}
					}
					if fmt.Sprint(r.header) != fmt.Sprint(wantHeader) {
						t.Fatalf("request %d: header %v, want %v", i, r.header, wantHeader)
					}
				}
			},
		},
		{
			name: "103 Early Hints before the answer",
			answer: func(int, *http.Request) string {
				return "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" + okBody
			},
		},
		{
			name: "body until the connection closes",
			answer: func(int, *http.Request) string {
				return "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + testKeyAuth + "\n"
			},
		},
		{
			name: "chunked body",
			answer: func(int, *http.Request) string {
				return fmt.Sprintf("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(testKeyAuth), testKeyAuth)
			},
		},
		{
			name: "response headers over 16 KiB",
			answer: func(int, *http.Request) string {
				return "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 17<<10) + "\r\n" +
					fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(testKeyAuth), testKeyAuth)
			},
			want:    acme.Connection,
			details: []string{"fetching http://example.com:", "the response's headers exceed 16 KiB"},
		},
		{
			name:    "connection closed without an answer",
			answer:  func(int, *http.Request) string { return "" },
			want:    acme.Connection,
			details: []string{"fetching http://example.com:", "connection failed"},
		},
		{
			name:    "not HTTP",
			answer:  func(int, *http.Request) string { return "SSH-2.0-OpenSSH_9.6\r\n" },
			want:    acme.Connection,
			details: []string{"connection failed"},
		},
		{
			name: "truncated body",
			answer: func(int, *http.Request) string {
				return "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + testKeyAuth
			},
			want:    acme.Connection,
			details: []string{"reading response: connection failed"},
		},
		{
			name: "redirect to an internationalized name",
			answer: func(n int, r *http.Request) string {
				if n == 0 {
					return "HTTP/1.1 301 Moved Permanently\r\nLocation: http://Bücher.example/x\r\nContent-Length: 0\r\n\r\n"
				}
				return okBody
			},
			check: func(t *testing.T, port int, reqs []wireRequest) {
				if len(reqs) != 2 || reqs[1].host != "xn--bcher-kva.example" || reqs[1].uri != "/x" {
					t.Fatalf("requests %+v, want the second to ask xn--bcher-kva.example for /x", reqs)
				}
			},
		},
		{
			name: "redirect without Location",
			answer: func(int, *http.Request) string {
				return "HTTP/1.1 302 Found\r\nContent-Length: 3\r\n\r\nabc"
			},
			want:    acme.IncorrectResponse,
			details: []string{"HTTP 302", `body "abc"`},
		},
		{
			name: "unparsable Location",
			answer: func(int, *http.Request) string {
				return "HTTP/1.1 302 Found\r\nLocation: http://[::1\r\nContent-Length: 0\r\n\r\n"
			},
			want:    acme.Connection,
			details: []string{"fetching http://example.com:", "connection failed"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dnsSrv := startDNS(t)
			srv := startRaw(t, tc.answer)
			v := newVA(t, Config{HTTPPort: srv.port, DNSResolver: dnsSrv.Addr(), Timeout: 2 * time.Second})
			id := dnsID("example.com")
			err := v.Validate(t.Context(), id, acme.ChallengeHTTP01, testToken, testKeyAuth)
			checkResult(t, err, id, tc.want, tc.details...)
			if tc.check != nil {
				tc.check(t, srv.port, srv.requests())
			}
		})
	}
}

// TestHTTP01Cancelled: a validation whose context is cancelled while the
// server has not answered fails at once as cancelled, not as a timeout.
func TestHTTP01Cancelled(t *testing.T) {
	dnsSrv := startDNS(t)
	got := make(chan struct{})
	port := startHTTP(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(got)
		<-r.Context().Done()
	}))
	v := newVA(t, Config{HTTPPort: port, DNSResolver: dnsSrv.Addr(), Timeout: 5 * time.Second})
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-got; cancel() }()
	id := dnsID("example.com")
	start := time.Now()
	err := v.Validate(ctx, id, acme.ChallengeHTTP01, testToken, testKeyAuth)
	checkResult(t, err, id, acme.Connection, "validation cancelled")
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancelled validation took %v", d)
	}
}

// TestHTTP01EndlessBody: a server that announces a huge body and keeps
// sending it fails the validation as soon as the VA has read more than
// maxBodyBytes, not at the validation's deadline.
func TestHTTP01EndlessBody(t *testing.T) {
	for _, header := range []string{"Content-Length: 1073741824", "Transfer-Encoding: chunked"} {
		t.Run(header, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
			wg.Go(func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer func() { _ = c.Close() }()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				chunked := strings.HasPrefix(header, "Transfer")
				if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\n"+header+"\r\n\r\n"); err != nil {
					return
				}
				block := strings.Repeat("x", 4096)
				if chunked {
					block = fmt.Sprintf("%x\r\n%s\r\n", len(block), block)
				}
				for {
					if _, err := io.WriteString(c, block); err != nil {
						return // the VA closed the connection
					}
				}
			})
			dnsSrv := startDNS(t)
			v := newVA(t, Config{HTTPPort: ln.Addr().(*net.TCPAddr).Port, DNSResolver: dnsSrv.Addr(), Timeout: 8 * time.Second})
			id := dnsID("example.com")
			start := time.Now()
			err = v.Validate(t.Context(), id, acme.ChallengeHTTP01, testToken, testKeyAuth)
			checkResult(t, err, id, acme.IncorrectResponse, "body larger than 65536 bytes")
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("validation took %v: the endless body was read on after the limit", d)
			}
		})
	}
}

// TestHTTP01ContextDoneBeforeDial: when the validation's context ends
// before a hop's connection is made (a redirect whose body stalls until
// the deadline, or a cancellation while the hop's name is looked up),
// the problem is the connection's timeout or cancellation at that hop,
// as with net/http's Transport, not a DNS problem of a lookup that was
// never answered for want of time.
func TestHTTP01ContextDoneBeforeDial(t *testing.T) {
	t.Run("deadline during a redirect's body", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
		wg.Go(func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer func() { _ = c.Close() }()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
				return
			}
			// No length: net/http's client reads up to 2 KiB of the body
			// before it follows the redirect; none comes.
			_, _ = io.WriteString(c, "HTTP/1.1 302 Found\r\nLocation: /next\r\n\r\n")
			_, _ = io.Copy(io.Discard, c) // until the VA closes
		})
		port := ln.Addr().(*net.TCPAddr).Port
		dnsSrv := startDNS(t)
		v := newVA(t, Config{HTTPPort: port, DNSResolver: dnsSrv.Addr(), Timeout: time.Second})
		id := dnsID("example.com")
		err = v.Validate(t.Context(), id, acme.ChallengeHTTP01, testToken, testKeyAuth)
		checkResult(t, err, id, acme.Connection, fmt.Sprintf("fetching http://example.com:%d/next: timeout", port))
	})
	t.Run("cancelled during the lookup", func(t *testing.T) {
		dnsSrv := startDNS(t)
		dnsSrv.SetRcode("example.com", testdns.Drop)
		v := newVA(t, Config{HTTPPort: freePort(t, "127.0.0.1"), DNSResolver: dnsSrv.Addr(), Timeout: time.Second})
		id := dnsID("example.com")
		err := v.Validate(cancelOnQuery(t, dnsSrv, "example.com"), id, acme.ChallengeHTTP01, testToken, testKeyAuth)
		checkResult(t, err, id, acme.Connection, "validation cancelled")
	})
}

// TestHTTP01CancelledDuringLookup: a validation cancelled while the
// identifier's name is being looked up ends at once as cancelled, as one
// cancelled while the server has not answered does (TestHTTP01Cancelled).
func TestHTTP01CancelledDuringLookup(t *testing.T) {
	dnsSrv := startDNS(t)
	dnsSrv.SetRcode("example.com", testdns.Drop)
	v := newVA(t, Config{HTTPPort: freePort(t, "127.0.0.1"), DNSResolver: dnsSrv.Addr(), Timeout: 5 * time.Second})
	ctx := cancelOnQuery(t, dnsSrv, "example.com")
	id := dnsID("example.com")
	start := time.Now()
	err := v.Validate(ctx, id, acme.ChallengeHTTP01, testToken, testKeyAuth)
	checkResult(t, err, id, acme.Connection, "validation cancelled")
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("validation cancelled during the lookup took %v", d)
	}
}
