package va

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/testenv/testdns"
)

// hostLog records the Host header of each request.
type hostLog struct {
	mu    sync.Mutex
	hosts []string
}

func (h *hostLog) add(s string) { h.mu.Lock(); h.hosts = append(h.hosts, s); h.mu.Unlock() }
func (h *hostLog) get() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.hosts...)
}

// startHTTP serves handler on host:0 and returns its port.
func startHTTP(t *testing.T, host string, handler http.Handler) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", host, err)
	}
	srv := httptest.NewUnstartedServer(handler)
	_ = srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return ln.Addr().(*net.TCPAddr).Port
}

const challengePath = "/.well-known/acme-challenge/" + testToken

func TestHTTP01(t *testing.T) {
	body := func(s string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(s)) }
	}
	tests := []struct {
		name      string
		id        acme.Identifier
		listen    string // "127.0.0.1" (default) or "::1"
		handler   http.HandlerFunc
		refused   bool // point the VA at a closed port
		setup     func(*testdns.Server)
		want      acme.ProblemType
		details   []string
		wantHosts []string
	}{
		{
			name:      "success with trailing newline",
			id:        dnsID("example.com"),
			handler:   body(testKeyAuth + "\r\n"),
			wantHosts: []string{"example.com"},
		},
		{
			name:    "wrong body",
			id:      dnsID("example.com"),
			handler: body("nope"),
			want:    acme.IncorrectResponse,
			details: []string{`"nope"`, "does not match"},
		},
		{
			name:    "404",
			id:      dnsID("example.com"),
			handler: http.NotFound,
			want:    acme.IncorrectResponse,
			details: []string{"HTTP 404", "404 page not found", "http://example.com:"},
		},
		{
			name:    "connection refused",
			id:      dnsID("example.com"),
			refused: true,
			want:    acme.Connection,
			details: []string{"connection refused", "127.0.0.1:"},
		},
		{
			name: "redirect followed",
			id:   dnsID("example.com"),
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.Host == "example.com" {
					http.Redirect(w, r, "http://other.example/elsewhere", http.StatusFound)
					return
				}
				if r.URL.Path == "/elsewhere" {
					_, _ = w.Write([]byte(testKeyAuth))
					return
				}
				http.NotFound(w, r)
			},
			wantHosts: []string{"example.com", "other.example"},
		},
		{
			name: "redirect loop",
			id:   dnsID("example.com"),
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/a" {
					http.Redirect(w, r, challengePath, http.StatusFound)
					return
				}
				http.Redirect(w, r, "/a", http.StatusFound)
			},
			want:    acme.Connection,
			details: []string{"redirect loop"},
		},
		{
			name: "too many redirects",
			id:   dnsID("example.com"),
			handler: func(w http.ResponseWriter, r *http.Request) {
				n, _ := strconv.Atoi(r.URL.Query().Get("n"))
				http.Redirect(w, r, fmt.Sprintf("/hop?n=%d", n+1), http.StatusFound)
			},
			want:    acme.Connection,
			details: []string{"too many redirects"},
		},
		{
			name: "redirect to other port refused",
			id:   dnsID("example.com"),
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://example.com:1/x", http.StatusFound)
			},
			want:    acme.Connection,
			details: []string{"port 1"},
		},
		{
			name: "redirect to ftp refused",
			id:   dnsID("example.com"),
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "ftp://example.com/x", http.StatusFound)
			},
			want:    acme.Connection,
			details: []string{"unsupported scheme"},
		},
		{
			name:    "oversize body",
			id:      dnsID("example.com"),
			handler: body(testKeyAuth + strings.Repeat(" ", maxBodyBytes)),
			want:    acme.IncorrectResponse,
			details: []string{"larger than 65536 bytes"},
		},
		{
			name:      "ip identifier v4",
			id:        ipID("127.0.0.1"),
			handler:   body(testKeyAuth),
			wantHosts: []string{"127.0.0.1"},
		},
		{
			name:      "ip identifier v6",
			id:        ipID("::1"),
			listen:    "::1",
			handler:   body(testKeyAuth),
			wantHosts: []string{"[::1]"},
		},
		{
			name:    "ipv6 address refused, falls back to ipv4",
			id:      dnsID("dual.example"),
			handler: body(testKeyAuth),
			setup: func(s *testdns.Server) {
				s.SetAAAA("dual.example", net.ParseIP("::1"))
			},
			wantHosts: []string{"dual.example"},
		},
		{
			name:    "NXDOMAIN from the configured resolver",
			id:      dnsID("unknown.example"),
			handler: body(testKeyAuth),
			setup:   func(s *testdns.Server) { s.SetDefaultA(nil) },
			want:    acme.DNS,
			details: []string{"NXDOMAIN", "unknown.example"},
		},
		{
			name:    "SERVFAIL",
			id:      dnsID("broken.example"),
			handler: body(testKeyAuth),
			setup:   func(s *testdns.Server) { s.SetRcode("broken.example", 2) },
			want:    acme.DNS,
			details: []string{"SERVFAIL"},
		},
		{
			name: "slow server times out",
			id:   dnsID("example.com"),
			handler: func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			},
			want: acme.Connection,
			// The server was reached: not "likely a firewall problem".
			details: []string{"timeout after connecting", "slow or overloaded"},
		},
		{
			name: "response headers over 16 KiB",
			id:   dnsID("example.com"),
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Big", strings.Repeat("x", 20<<10))
				io.WriteString(w, testKeyAuth)
			},
			want:    acme.Connection,
			details: []string{"the response's headers exceed 16 KiB"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dnsSrv := startDNS(t)
			if tc.setup != nil {
				tc.setup(dnsSrv)
			}
			listen := tc.listen
			if listen == "" {
				listen = "127.0.0.1"
			}
			var hosts hostLog
			var port int
			if tc.refused {
				port = freePort(t, listen)
			} else {
				port = startHTTP(t, listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					hosts.add(r.Host)
					tc.handler(w, r)
				}))
			}
			v := newVA(t, Config{HTTPPort: port, DNSResolver: dnsSrv.Addr(), Timeout: time.Second})
			err := v.Validate(t.Context(), tc.id, acme.ChallengeHTTP01, testToken, testKeyAuth)
			checkResult(t, err, tc.id, tc.want, tc.details...)
			if tc.wantHosts != nil {
				if got := hosts.get(); strings.Join(got, ",") != strings.Join(tc.wantHosts, ",") {
					t.Fatalf("Host headers %v, want %v", got, tc.wantHosts)
				}
			}
		})
	}
}

func TestHTTP01SystemResolverIP(t *testing.T) {
	port := startHTTP(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(testKeyAuth))
	}))
	v := newVA(t, Config{HTTPPort: port})
	id := ipID("127.0.0.1")
	checkResult(t, v.Validate(t.Context(), id, acme.ChallengeHTTP01, testToken, testKeyAuth), id, "")
}

func TestExcerpt(t *testing.T) {
	if got := excerpt([]byte("abc\n")); got != `"abc"` {
		t.Fatalf("excerpt = %s", got)
	}
	long := strings.Repeat("é", 100) // 200 bytes
	got := excerpt([]byte(long))
	if !strings.HasSuffix(got, `"...`) || strings.Contains(got, `\x`) {
		t.Fatalf("excerpt cut badly: %s", got)
	}
}
