// Package testenv boots a complete certgate server in-process on loopback
// for integration tests: temp data directory, free ports, an in-process DNS
// server (testdns) as the validation resolver, and challenge responders
// for http-01 and tls-alpn-01 that tests fill in.
package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv/testdns"
	"golang.org/x/crypto/acme"
)

// Env is a running in-process certgate with its test resolver and
// challenge responders. All of it stops when the test ends.
type Env struct {
	Server       *server.Server  // the running server
	DNS          *testdns.Server // the test DNS server the validation resolver asks
	DirectoryURL string          // https://localhost:PORT/acme/directory
	BaseURL      string          // https://localhost:PORT
	Roots        *x509.CertPool  // the built-in root, to verify the server and its certificates
	HTTPClient   *http.Client    // trusts the built-in root
	HTTPPort     int             // where http-01 validation connects (responder listens on 127.0.0.1 and ::1)
	// HTTP01Listeners, with Options.OwnHTTP01, listen on HTTPPort
	// (127.0.0.1, and ::1 when available) for the test's own http-01
	// responder, which is expected to close them.
	HTTP01Listeners []net.Listener
	TLSPort         int           // where tls-alpn-01 validation connects
	Config          *config.Serve // the configuration the server runs with
	// MetricsURL, with Options.Metrics, is http://127.0.0.1:PORT of
	// metrics-listen (/metrics, /healthz, /readyz); "" otherwise.
	MetricsURL string
	// AdminURL, with Options.AdminListen, is https://localhost:PORT of
	// admin-listen (the admin API under /api/v1, /healthz, /readyz); ""
	// otherwise (the admin API is at BaseURL).
	AdminURL string

	mu      sync.Mutex
	http01  map[string]string          // token → key authorization
	tlsalpn map[string]tls.Certificate // SNI → challenge certificate
}

// Options tunes the environment.
type Options struct {
	Server server.Options // for server.New; Listener is set, RA.RetryDelay 0 becomes 50 ms
	// Log receives the server's logs; nil discards them.
	Log io.Writer
	// OwnHTTP01: the test answers http-01 itself (e.g. the load tool's
	// responder) on Env.HTTP01Listeners; the environment runs none.
	OwnHTTP01 bool
	// CAAIdentities are the server's caa-identities (none by default).
	CAAIdentities []string
	// TermsOfService is the server's terms-of-service URL (none by
	// default): newAccount must then agree to it.
	TermsOfService string
	// NoOCSP turns the OCSP responder off (--ocsp=false); it is on by
	// default, as in `certgate serve`.
	NoOCSP bool
	// HTTP2 offers HTTP/2 on the HTTPS listener (--http2).
	HTTP2 bool
	// Metrics serves metrics-listen on a free loopback port (Env.MetricsURL).
	Metrics bool
	// AdminListen serves the admin API on admin-listen, a free loopback
	// port (Env.AdminURL), instead of on the listen address.
	AdminListen bool
	// Data is the server's data directory, e.g. one the test imported a CA
	// into; "" means a new temporary directory.
	Data string
	// DB is the server's database (config.Serve.DB): "" for SQLite in the
	// data directory, or a postgres:// URL (e.g. storetest.PostgresDSN).
	DB string
	// ARIRetryAfter is the server's ari-retry-after; zero: the default.
	ARIRetryAfter time.Duration
	// ARIExplanationURL is the server's ari-explanation-url.
	ARIExplanationURL string
	// SystemResolver leaves va-dns-resolver empty (the system resolver,
	// as `certgate serve` without --va-dns-resolver) instead of the
	// environment's test DNS server; validations of names it does not
	// know then fail.
	SystemResolver bool
	// ScanInterval and ScanTargets are the server's scan-interval and
	// scan-targets (the scheduled discovery scan); zero: none.
	ScanInterval time.Duration
	ScanTargets  []string // see ScanInterval
	// CACountry is the server's ca-country (subject C= of the CA it
	// creates); "" for none.
	CACountry string
	// TLSCert and TLSKey are the server's tls-cert and tls-key (PEM
	// files); "" lets the built-in CA issue the listeners' certificate.
	TLSCert, TLSKey string
	// Notify is the server's expiry notification settings (none: no
	// notifier runs); Interval may be under the minute the configuration
	// accepts.
	Notify config.Notify
	// SSO is the server's dashboard sign-in with OpenID Connect (none by
	// default); an empty RedirectURL becomes the server's
	// https://localhost:PORT/ui/sso/callback.
	SSO config.SSO
}

// New starts an environment for t with default options.
func New(t testing.TB) *Env { return NewWithOptions(t, Options{}) }

// NewWithOptions starts an environment for t.
func NewWithOptions(t testing.TB, o Options) *Env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dns, err := testdns.Start(ctx)
	if err != nil {
		t.Fatalf("testenv: dns: %v", err)
	}
	e := &Env{DNS: dns, http01: map[string]string{}, tlsalpn: map[string]tls.Certificate{}}
	if o.OwnHTTP01 {
		e.HTTPPort, e.HTTP01Listeners = listenLoopback(t)
		t.Cleanup(func() {
			for _, l := range e.HTTP01Listeners {
				l.Close() // in case the test never handed them over
			}
		})
	} else {
		e.HTTPPort = e.startHTTP01(t)
	}
	e.TLSPort = e.startTLSALPN(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: listen: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	data := o.Data
	if data == "" {
		data = t.TempDir()
		if o.DB == "" {
			// A copy of the package's template database when its TestMain
			// runs storetest.Main: the server opens it without migrating.
			storetest.CopySQLiteTemplate(t, server.DSN(data, ""))
		}
	}
	e.Config = &config.Serve{Data: data, Listen: ln.Addr().String(), Hostname: "localhost",
		VAHTTPPort: e.HTTPPort, VATLSPort: e.TLSPort, VADNSResolver: dns.Addr(), CertValidity: 90 * 24 * time.Hour,
		AuthzReuse: 30 * 24 * time.Hour, LogLevel: "info", LogFormat: "text", ShutdownGrace: 5 * time.Second,
		CAAIdentities: o.CAAIdentities, CAARecheckAfter: 8 * time.Hour, OCSP: !o.NoOCSP, RevocationRefresh: time.Minute,
		HTTP2: o.HTTP2, DB: o.DB, TermsOfService: o.TermsOfService, ARIRetryAfter: o.ARIRetryAfter, ARIExplanationURL: o.ARIExplanationURL}
	e.Config.TLSCert, e.Config.TLSKey = o.TLSCert, o.TLSKey
	e.Config.ScanInterval, e.Config.ScanTargets = o.ScanInterval, o.ScanTargets
	if o.SystemResolver {
		e.Config.VADNSResolver = ""
	}
	e.Config.CACountry = o.CACountry
	e.Config.Notify = o.Notify
	e.Config.SSO = o.SSO
	if e.Config.SSO.Enabled() && e.Config.SSO.RedirectURL == "" {
		e.Config.SSO.RedirectURL = "https://localhost:" + strconv.Itoa(port) + config.SSOCallbackPath
	}
	if o.Metrics {
		e.Config.MetricsListen = "127.0.0.1:0"
	}
	if o.AdminListen {
		e.Config.AdminListen = "127.0.0.1:0"
	}
	w := o.Log
	if w == nil {
		w = io.Discard
	}
	srvOpts := o.Server
	srvOpts.Listener = ln
	if srvOpts.RA.RetryDelay == 0 {
		srvOpts.RA.RetryDelay = 50 * time.Millisecond
	}
	srv, err := server.New(ctx, e.Config, srvOpts, slog.New(slog.NewTextHandler(w, nil)))
	if err != nil {
		t.Fatalf("testenv: server: %v", err)
	}
	e.Server = srv
	if a := srv.MetricsAddr(); a != nil {
		e.MetricsURL = "http://" + a.String()
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("testenv: serve: %v", err)
		}
		dns.Close()
	})
	e.Roots = x509.NewCertPool()
	e.Roots.AddCert(srv.CA().Root())
	e.HTTPClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.Roots}}}
	e.BaseURL = "https://localhost:" + strconv.Itoa(port)
	e.DirectoryURL = e.BaseURL + "/acme/directory"
	if a := srv.AdminAddr(); a != nil {
		e.AdminURL = "https://localhost:" + strconv.Itoa(a.(*net.TCPAddr).Port)
	}
	return e
}

// SetHTTP01 makes the http-01 responder answer token with keyAuth.
func (e *Env) SetHTTP01(token, keyAuth string) {
	e.mu.Lock()
	e.http01[token] = keyAuth
	e.mu.Unlock()
}

func (e *Env) startHTTP01(t testing.TB) int {
	h := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.URL.Path, "/.well-known/acme-challenge/")
		e.mu.Lock()
		ka, found := e.http01[token]
		e.mu.Unlock()
		if !ok || !found {
			http.NotFound(rw, r)
			return
		}
		io.WriteString(rw, ka)
	})
	port, lns := listenLoopback(t)
	srv := &http.Server{Handler: h}
	for _, ln := range lns {
		go srv.Serve(ln)
	}
	t.Cleanup(func() { srv.Close() })
	return port
}

// listenLoopback listens on a free port of 127.0.0.1 and, when available,
// the same port of ::1.
func listenLoopback(t testing.TB) (int, []net.Listener) {
	t.Helper()
	ln4, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: listen: %v", err)
	}
	port := ln4.Addr().(*net.TCPAddr).Port
	lns := []net.Listener{ln4}
	if ln6, err := net.Listen("tcp", "[::1]:"+strconv.Itoa(port)); err == nil {
		lns = append(lns, ln6)
	}
	return port, lns
}

// SetTLSALPN01 makes the tls-alpn-01 responder answer SNI name (a DNS name,
// or the reverse name of an IP; RFC 8738 §6) with a challenge certificate
// for identifier (DNS name or IP text) carrying keyAuth's digest (RFC 8737 §3).
func (e *Env) SetTLSALPN01(t testing.TB, sni, identifier, keyAuth string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(keyAuth))
	ext, _ := asn1.Marshal(digest[:])
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "acme challenge"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}, Critical: true, Value: ext}}}
	if ip := net.ParseIP(identifier); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{identifier}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	e.tlsalpn[strings.ToLower(sni)] = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	e.mu.Unlock()
}

func (e *Env) startTLSALPN(t testing.TB) int {
	cfg := &tls.Config{NextProtos: []string{"acme-tls/1"}, GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		c, ok := e.tlsalpn[strings.ToLower(hello.ServerName)]
		if !ok {
			return nil, io.EOF
		}
		return &c, nil
	}}
	serve := func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				tc := tls.Server(c, cfg)
				_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
				_ = tc.Handshake()
				tc.Close()
			}()
		}
	}
	port, lns := listenLoopback(t)
	for _, ln := range lns {
		go serve(ln)
		t.Cleanup(func() { ln.Close() })
	}
	return port
}

// AuthorizeHTTP01 answers every authorization of order o over http-01
// from e's responder and returns the order once it is ready; see
// AuthorizeHTTP01.
func (e *Env) AuthorizeHTTP01(ctx context.Context, t testing.TB, c *acme.Client, o *acme.Order) *acme.Order {
	t.Helper()
	return AuthorizeHTTP01(ctx, t, c, o, e.SetHTTP01)
}

// AuthorizeHTTP01 answers every authorization of order o (RFC 8555 §7.5)
// over http-01: for each it hands the challenge's token and key
// authorization (§8.3) to answer, which must make the validation's fetch
// of /.well-known/acme-challenge/TOKEN return it, then accepts the
// challenge (§7.5.1) and waits for the authorization to be valid. It
// returns the order once ready (§7.1.6). An authorization without an
// http-01 challenge or any failure ends the test; ctx bounds the waits.
func AuthorizeHTTP01(ctx context.Context, t testing.TB, c *acme.Client, o *acme.Order, answer func(token, keyAuth string)) *acme.Order {
	t.Helper()
	for _, u := range o.AuthzURLs {
		z, err := c.GetAuthorization(ctx, u)
		if err != nil {
			t.Fatalf("authorization %s: %v", u, err)
		}
		var chal *acme.Challenge
		for _, ch := range z.Challenges {
			if ch.Type == "http-01" {
				chal = ch
			}
		}
		if chal == nil {
			t.Fatalf("authorization %s offers no http-01 challenge", u)
		}
		ka, err := c.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			t.Fatal(err)
		}
		answer(chal.Token, ka)
		if _, err := c.Accept(ctx, chal); err != nil {
			t.Fatalf("accept %s: %v", chal.URI, err)
		}
		if _, err := c.WaitAuthorization(ctx, u); err != nil {
			t.Fatalf("authorization %s: %v", u, err)
		}
	}
	ready, err := c.WaitOrder(ctx, o.URI)
	if err != nil {
		t.Fatalf("order %s: %v", o.URI, err)
	}
	return ready
}

// IssueHTTP01 registers a new account (P-256 key) and has a certificate
// issued for name over http-01 with golang.org/x/crypto/acme, answering
// the challenge from e's responder; it returns the client, the account and
// the chain (DER, leaf first). Any failure ends the test. Bounded by one
// minute.
func (e *Env) IssueHTTP01(t testing.TB, name string) (*acme.Client, *acme.Account, [][]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c := &acme.Client{Key: key, DirectoryURL: e.DirectoryURL, HTTPClient: e.HTTPClient}
	acct, err := c.Register(ctx, &acme.Account{}, acme.AcceptTOS)
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.AuthorizeOrder(ctx, acme.DomainIDs(name))
	if err != nil {
		t.Fatal(err)
	}
	o = e.AuthorizeHTTP01(ctx, t, c, o)
	ck, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}}, ck)
	chain, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	if err != nil {
		t.Fatal(err)
	}
	return c, acct, chain
}
