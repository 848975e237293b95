package va

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// selfSignedCert returns a self-signed certificate for name that no client
// would verify (unknown issuer).
func selfSignedCert(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{name},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// serveOn serves handler on ln (TLS with cert when cert is not nil).
func serveOn(t *testing.T, ln net.Listener, handler http.Handler, cert *tls.Certificate) {
	t.Helper()
	srv := httptest.NewUnstartedServer(handler)
	_ = srv.Listener.Close()
	srv.Listener = ln
	if cert != nil {
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
}

// listenPair listens on 127.0.0.1 and 127.0.0.2 on one port, so a denied
// address can be served on the port the VA would use.
func listenPair(t *testing.T) (allowed, denied net.Listener) {
	t.Helper()
	for range 20 {
		a, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Skipf("cannot listen on 127.0.0.1: %v", err)
		}
		port := a.Addr().(*net.TCPAddr).Port
		d, err := net.Listen("tcp", net.JoinHostPort("127.0.0.2", strconv.Itoa(port)))
		if err == nil {
			return a, d
		}
		_ = a.Close()
	}
	t.Skip("cannot listen on 127.0.0.1 and 127.0.0.2 on a common port")
	return nil, nil
}

// redirectTo answers every request with a 302 to loc.
func redirectTo(loc string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, loc, http.StatusFound) }
}

// hop redirects path p (with n in the query) to the next hop until n
// reaches hops, then serves the key authorization.
func hopChain(hops int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if n >= hops {
			_, _ = w.Write([]byte(testKeyAuth))
			return
		}
		http.Redirect(w, r, fmt.Sprintf("http://hop%d.example/chain?n=%d", n+1, n+1), http.StatusFound)
	}
}

// TestHTTP01RedirectPolicy is the redirect/SSRF table test of the address
// and redirect policy: in-process HTTP and HTTPS servers on loopback, a
// test DNS server answering 127.0.0.1 for every name, and a deny list of
// 127.0.0.2/32 and ::1/128 with a server on 127.0.0.2 that must never be
// reached.
func TestHTTP01RedirectPolicy(t *testing.T) {
	const big = maxBodyBytes // 64 KiB
	tests := []struct {
		name      string
		id        acme.Identifier // default example.com
		plain     http.HandlerFunc
		secure    http.HandlerFunc // the https server (self-signed)
		want      acme.ProblemType
		details   []string
		absent    []string // substrings the detail must not contain
		wantHosts []string // Host headers seen by the plain and secure servers, in order
	}{
		{
			name: "chain of 3 hops",
			plain: func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case challengePath:
					http.Redirect(w, r, "http://hop1.example/1", http.StatusMovedPermanently)
				case "/1":
					http.Redirect(w, r, "http://hop2.example./2", http.StatusFound) // trailing dot
				case "/2":
					http.Redirect(w, r, "/3", http.StatusTemporaryRedirect) // relative
				case "/3":
					_, _ = w.Write([]byte(testKeyAuth + "\n"))
				}
			},
			wantHosts: []string{"example.com", "hop1.example", "hop2.example", "hop2.example"},
		},
		{
			name:  "10 redirects (the limit)",
			plain: hopChain(10),
		},
		{
			name:    "11 redirects",
			plain:   hopChain(11),
			want:    acme.Connection,
			details: []string{"redirect to http://hop11.example/chain?n=11 refused: too many redirects (more than 10)"},
		},
		{
			name:  "to https with a self-signed certificate",
			plain: redirectTo("https://secure.example/final"),
			secure: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/final" {
					_, _ = w.Write([]byte(testKeyAuth))
				}
			},
			wantHosts: []string{"example.com", "secure.example"},
		},
		{
			name:   "to https on explicit port 443",
			plain:  redirectTo("https://secure.example:443/final"),
			secure: func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(testKeyAuth)) },
		},
		{
			name:    "to a denied IP literal",
			plain:   redirectTo("http://127.0.0.2/x"),
			want:    acme.Connection,
			details: []string{"redirect to http://127.0.0.2/x refused", "127.0.0.2 is a loopback address"},
		},
		{
			name:    "to a denied IPv6 literal",
			plain:   redirectTo("http://[::1]/x"),
			want:    acme.Connection,
			details: []string{"::1 is a loopback address"},
		},
		{
			name:    "to a denied IPv4-mapped IPv6 literal",
			plain:   redirectTo("http://[::ffff:127.0.0.2]/x"),
			want:    acme.Connection,
			details: []string{"127.0.0.2 is a loopback address"},
		},
		{
			name:    "to 0.0.0.0 (always denied)",
			plain:   redirectTo("http://0.0.0.0/x"),
			want:    acme.Connection,
			details: []string{"0.0.0.0 is an unspecified address"},
		},
		{
			name:    "to a name resolving to a denied address",
			plain:   redirectTo("http://denied.example/x"),
			want:    acme.Connection,
			details: []string{"fetching http://denied.example:", "127.0.0.2 is a loopback address"},
		},
		{
			name:    "name resolving to a denied address at the first hop",
			id:      dnsID("denied.example"),
			plain:   func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(testKeyAuth)) },
			want:    acme.Connection,
			details: []string{"fetching http://denied.example:", "127.0.0.2 is a loopback address, which this server does not connect to"},
		},
		{
			name:      "denied address skipped, allowed one used",
			id:        dnsID("mixed.example"),
			plain:     func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(testKeyAuth)) },
			wantHosts: []string{"mixed.example"},
		},
		{
			name: "303 See Other",
			plain: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://example.com/x", http.StatusSeeOther)
			},
			want:    acme.Connection,
			details: []string{"refused: HTTP 303 is not a redirect the CA/B Forum allows"},
		},
		{
			name:    "to ftp",
			plain:   redirectTo("ftp://example.com/x"),
			want:    acme.Connection,
			details: []string{`unsupported scheme "ftp" (only http and https)`},
		},
		{
			name: "loop",
			plain: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/a" {
					http.Redirect(w, r, "http://example.com"+challengePath, http.StatusFound)
					return
				}
				http.Redirect(w, r, "/a", http.StatusFound)
			},
			want:    acme.Connection,
			details: []string{"refused: redirect loop"},
		},
		{
			name: "oversized body after a redirect",
			plain: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/big" {
					_, _ = w.Write([]byte(testKeyAuth + strings.Repeat("\n", big+1-len(testKeyAuth))))
					return
				}
				http.Redirect(w, r, "/big", http.StatusFound)
			},
			want:    acme.IncorrectResponse,
			details: []string{"/big: body larger than 65536 bytes"},
		},
		{
			name: "body of exactly 64 KiB",
			plain: func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(testKeyAuth + strings.Repeat("\n", big-len(testKeyAuth))))
			},
		},
		{
			name:    "to a port other than 80/443",
			plain:   redirectTo("http://example.com:22/x"),
			want:    acme.Connection,
			details: []string{"port 22 not allowed (http redirects must use port 80 or "},
		},
		{
			name:    "https to port 80",
			plain:   redirectTo("https://example.com:80/x"),
			want:    acme.Connection,
			details: []string{"port 80 not allowed (https redirects must use port 443 or "},
		},
		{
			name:    "userinfo",
			plain:   redirectTo("http://user:hunter2@example.com/x"),
			want:    acme.Connection,
			details: []string{"redirect to http://example.com/x refused: URL has userinfo"},
			absent:  []string{"hunter2", "user:hunter2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dnsSrv := startDNS(t)
			dnsSrv.SetA("denied.example", net.ParseIP("127.0.0.2"))
			dnsSrv.SetA("mixed.example", net.ParseIP("127.0.0.2"), net.ParseIP("127.0.0.1"))

			var hosts hostLog
			record := func(h http.HandlerFunc) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					hosts.add(r.Host)
					if h == nil {
						http.NotFound(w, r)
						return
					}
					h(w, r)
				}
			}
			plainLn, deniedLn := listenPair(t)
			serveOn(t, plainLn, record(tc.plain), nil)
			var deniedHits atomic.Int32
			serveOn(t, deniedLn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				deniedHits.Add(1)
				_, _ = w.Write([]byte(testKeyAuth))
			}), nil)
			secureLn, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			cert := selfSignedCert(t, "untrusted.invalid")
			serveOn(t, secureLn, record(tc.secure), &cert)

			v := newVA(t, Config{
				HTTPPort:     plainLn.Addr().(*net.TCPAddr).Port,
				TLSPort:      secureLn.Addr().(*net.TCPAddr).Port,
				DNSResolver:  dnsSrv.Addr(),
				Timeout:      2 * time.Second,
				DenyNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("::1/128")},
			})
			id := tc.id
			if id.Value == "" {
				id = dnsID("example.com")
			}
			err = v.Validate(t.Context(), id, acme.ChallengeHTTP01, testToken, testKeyAuth)
			checkResult(t, err, id, tc.want, tc.details...)
			if p, ok := err.(*acme.Problem); ok {
				for _, s := range tc.absent {
					if strings.Contains(p.Detail, s) {
						t.Fatalf("detail %q contains %q", p.Detail, s)
					}
				}
			}
			if n := deniedHits.Load(); n != 0 {
				t.Fatalf("the server on the denied address got %d requests", n)
			}
			if tc.wantHosts != nil {
				if got := hosts.get(); strings.Join(got, ",") != strings.Join(tc.wantHosts, ",") {
					t.Fatalf("Host headers %v, want %v", got, tc.wantHosts)
				}
			}
		})
	}
}
