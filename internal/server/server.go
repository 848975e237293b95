// Package server is certgate's composition root for `certgate serve`: it
// opens the store, loads or creates the built-in CA, wires the validation
// authority, registration authority and ACME front end, and serves HTTPS
// (plus plain HTTP for CRL and CA certificates on the same port) until its
// context ends, then shuts down gracefully. internal/testenv and cmd/certgate
// both boot the server through it.
package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/ocspresponder"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/va"
	"github.com/certgate/certgate/internal/wfe"
)

// Options adjusts a server beyond its configuration, for tests and tools.
type Options struct {
	// RA overrides RA settings that have no flag (zero fields keep defaults).
	RA ra.Config
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Listener, when set, is used instead of listening on cfg.Listen.
	Listener net.Listener
	// OrdersPerPage overrides the orders list page size.
	OrdersPerPage int
	// ProfileTTL is how long profile lookups are cached (0: 2 seconds).
	ProfileTTL time.Duration
}

// Server is a running certgate instance.
type Server struct {
	cfg   *config.Serve
	log   *slog.Logger
	store *store.Store
	ca    *local.CA
	ra    *ra.RA
	wfe   *wfe.WFE
	api   http.Handler // admin API under /api/v1 (admin.go)
	ln    net.Listener

	lock    *os.File // flock on the data directory, held while the server runs
	certMu  sync.Mutex
	tlsCert *tls.Certificate
	now     func() time.Time
}

// CADir is where the built-in CA's files live below the data directory.
func CADir(data string) string { return filepath.Join(data, "ca") }

// New prepares a server: creates the data directory, opens (and migrates)
// the database (cfg.DB; by default SQLite in the data directory), loads or
// creates the CA, and binds the listener.
// It does not serve yet; call Serve.
func New(ctx context.Context, cfg *config.Serve, opts Options, log *slog.Logger) (*Server, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	lock, err := LockDataDir(cfg.Data)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			lock.Close()
		}
	}()
	st, err := store.Open(ctx, DSN(cfg.Data, cfg.DB))
	if err != nil {
		return nil, err
	}
	defer func() {
		if !ok {
			st.Close()
		}
	}()
	ln := opts.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
		}
	}
	defer func() {
		if !ok {
			ln.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	pkiBase := "http://" + net.JoinHostPort(cfg.Hostname, port)
	// The database records the fingerprint of its CA's root (setting
	// ca_root_sha256, first writer wins), so that a node sharing it never
	// creates a second CA: a data directory without a CA is refused once the
	// database has one, and a CA other than the database's is refused.
	caDir := CADir(cfg.Data)
	copyHint := "copy it from a node with: certgate ca export --data DIR | certgate ca import --data " + cfg.Data
	caRoot, err := st.GetSetting(ctx, "ca_root_sha256")
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("built-in CA: %w", err)
	}
	hadCA, err := local.Exists(caDir)
	if err != nil {
		return nil, fmt.Errorf("built-in CA: %w", err)
	}
	if caRoot != "" && !hadCA {
		return nil, fmt.Errorf("the database belongs to the CA with root SHA-256 %s, but %s has none; %s", caRoot, caDir, copyHint)
	}
	ca, err := local.LoadOrCreate(caDir, local.Options{Now: now, LintBeforeSign: true,
		IssuerURL: pkiBase + wfe.IntermediatePath, CRLURL: pkiBase + wfe.CRLPath})
	if err != nil {
		return nil, fmt.Errorf("built-in CA: %w", err)
	}
	ours := local.Fingerprint(ca.Root())
	if caRoot, err = st.InitSetting(ctx, "ca_root_sha256", ours); err != nil {
		return nil, fmt.Errorf("built-in CA: %w", err)
	}
	if caRoot != ours {
		if !hadCA {
			// Another node starting at the same moment won the race; the CA
			// made here has signed nothing, so remove it rather than leave a
			// second CA behind.
			for _, f := range []string{local.RootCertFile, local.IntermediateCertFile, local.RootKeyFile, local.IntermediateKeyFile} {
				os.Remove(filepath.Join(caDir, f))
			}
			return nil, fmt.Errorf("the database belongs to the CA with root SHA-256 %s, but %s has none; %s", caRoot, caDir, copyHint)
		}
		return nil, fmt.Errorf("the database belongs to the CA with root SHA-256 %s, but %s holds another CA (root SHA-256 %s); "+
			"a node must use the database's CA: move %s aside and %s", caRoot, caDir, ours, caDir, copyHint)
	}
	ocspURL := ""
	if cfg.OCSP {
		ocspURL = pkiBase + wfe.OCSPPath
	}
	if err := preflight(ca, cfg, ocspURL, now()); err != nil {
		return nil, err
	}
	validator, err := va.New(va.Config{HTTPPort: cfg.VAHTTPPort, TLSPort: cfg.VATLSPort, DNSResolver: cfg.VADNSResolver,
		DNSTimeout: cfg.VADNSTimeout, DNSSEC: cfg.VADNSSEC,
		CAAIdentities: cfg.CAAIdentities,
		DenyNetworks:  cfg.VADenyNetworks, // address policy
	}, log.With("component", "va"))
	if err != nil {
		return nil, fmt.Errorf("validation: %w", err)
	}
	rcfg := opts.RA
	rcfg.CertValidity = cfg.CertValidity
	rcfg.AuthzReuse = cfg.AuthzReuse
	// CAA: 0 in the configuration re-checks at every finalize (negative
	// in ra.Config). accounturi (RFC 8657) is compared with the account
	// URLs clients see at the configured hostname, with the listen port
	// and without one (port 443, or a proxy on 443); the path is wfe's
	// account path.
	rcfg.CAARecheckAfter = cfg.CAARecheckAfter
	if rcfg.CAARecheckAfter == 0 {
		rcfg.CAARecheckAfter = -1
	}
	if len(rcfg.AccountURIPrefixes) == 0 {
		rcfg.AccountURIPrefixes = []string{"https://" + net.JoinHostPort(cfg.Hostname, port) + "/acme/account/",
			"https://" + hostForURL(cfg.Hostname) + "/acme/account/"}
	}
	if rcfg.RateLimits == (ratelimit.Config{}) {
		rcfg.RateLimits = cfg.RateLimits
	}
	// SQLite serves this process alone (the data directory lock).
	rcfg.Exclusive = st.Engine() == store.EngineSQLite
	if rcfg.AuthzReuse == 0 {
		rcfg.AuthzReuse = -1
	}
	profiles, err := policy.NewRegistry(st, ra.DefaultProfile(cfg.CertValidity, rcfg.MaxCertValidity, cfg.ClientAuth), opts.ProfileTTL, now)
	if err != nil {
		return nil, err
	}
	if err := preflightProfiles(ctx, ca, profiles, now(), log); err != nil {
		return nil, err
	}
	rcfg.Profiles = profiles
	if rcfg.ApprovalWebhook == "" {
		rcfg.ApprovalWebhook = cfg.ApprovalWebhook
	}
	iss := &local.Issuer{CA: ca, ClientAuth: cfg.ClientAuth, IssuerURL: pkiBase + wfe.IntermediatePath, CRLURL: pkiBase + wfe.CRLPath, OCSPURL: ocspURL}
	rcfg.CRLRefresh = cfg.RevocationRefresh
	var ocspHandler http.Handler
	if cfg.OCSP {
		resp, err := ocspresponder.New(ocspresponder.Config{Path: wfe.OCSPPath, IssuerName: iss.Name(), Refresh: cfg.RevocationRefresh,
			Validity: rcfg.CRLValidity, Now: now}, iss, st, log.With("component", "ocsp"))
		if err != nil {
			return nil, err
		}
		rcfg.OnRevoke = resp.Invalidate
		ocspHandler = resp
	}
	auditLog := audit.New(st, now)
	rcfg.Audit = auditLog
	rv, err := corroborate(ctx, cfg, validator, now, log.With("component", "va"))
	if err != nil {
		return nil, err
	}
	r := ra.New(rcfg, st, rv, iss, now, log.With("component", "ra"))
	nonces, err := clusterNonces(ctx, st, now)
	if err != nil {
		return nil, err
	}
	w := wfe.New(wfe.Config{TermsOfService: cfg.TermsOfService, Website: cfg.Website, CAAIdentities: cfg.CAAIdentities, OrdersPerPage: opts.OrdersPerPage, AccountCacheTTL: 5 * time.Second, Nonces: nonces,
		IntermediateDER: ca.Intermediate().Raw, RootPEM: ca.RootPEM(), OCSP: ocspHandler}, r, st, log.With("component", "wfe"))
	s := &Server{cfg: cfg, log: log, store: st, ca: ca, ra: r, wfe: w, ln: ln, now: now, lock: lock}
	s.api = newAdminAPI(st, r, auditLog, now, log, profiles, ca)
	if _, err := s.certificate(nil); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// hostForURL is host as the host part of a URL without port: IPv6
// addresses in brackets.
func hostForURL(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// clusterNonces returns nonces that every node sharing st's database
// accepts once (wfe.ClusterNonces), keyed by a secret created once in the
// database; nil (the faster in-memory store) on SQLite, which serves one
// process only.
func clusterNonces(ctx context.Context, st *store.Store, now func() time.Time) (wfe.Nonces, error) {
	if st.Engine() != store.EnginePostgres {
		return nil, nil
	}
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("nonce key: %w", err)
	}
	v, err := st.InitSetting(ctx, "nonce_hmac_key", base64.StdEncoding.EncodeToString(fresh))
	if err != nil {
		return nil, fmt.Errorf("nonce key: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("nonce key in the database is damaged: %w", err)
	}
	n, err := wfe.NewClusterNonces(key, time.Hour, now, st)
	if err != nil {
		return nil, fmt.Errorf("nonce key: %w", err)
	}
	return n, nil
}

// DSN is the database a server uses: db when set, else the SQLite file
// certgate.db in the data directory.
func DSN(data, db string) string {
	if db != "" {
		return db
	}
	return filepath.Join(data, "certgate.db")
}

// LockDataDir creates dir and takes an exclusive flock on dir/certgate.lock,
// so that two processes never share one SQLite database and CA directory.
// Closing the returned file releases the lock (so does the process's death).
func LockDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(dir, "certgate.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another certgate process (lock %s held)", dir, path)
	}
	return f, nil
}

// preflight lints a sample of the certificates this configuration would
// issue (with the OCSP responder URL ocspURL in the AIA, "" for none),
// without using the CA key, so that a setting every certificate would fail
// on (e.g. a validity over the CA/B maximum) stops the start instead of
// every finalize.
func preflight(ca *local.CA, cfg *config.Serve, ocspURL string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("preflight key: %w", err)
	}
	serial, err := local.RandomSerial()
	if err != nil {
		return fmt.Errorf("preflight serial: %w", err)
	}
	nb := now.Add(-time.Minute)
	err = ca.CheckLeaf(local.LeafRequest{Serial: serial, PublicKey: key.Public(), DNSNames: []string{"preflight.certgate.test"},
		NotBefore: nb, NotAfter: nb.Add(cfg.CertValidity), ClientAuth: cfg.ClientAuth, OCSPURL: ocspURL})
	if err != nil {
		return lintSettingError("", "cert-validity", cfg.CertValidity, err)
	}
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// CA is the built-in CA.
func (s *Server) CA() *local.CA { return s.ca }

// Store is the server's storage (tests inspect it).
func (s *Server) Store() *store.Store { return s.store }

// certificate returns the HTTPS server certificate, renewing it from the
// built-in CA when less than a third of its 90-day life is left. It covers
// the configured hostname, localhost, 127.0.0.1 and ::1.
func (s *Server) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.certMu.Lock()
	defer s.certMu.Unlock()
	if c := s.tlsCert; c != nil && c.Leaf != nil && s.now().Before(c.Leaf.NotAfter.Add(-30*24*time.Hour)) {
		return c, nil
	}
	names := []string{"localhost"}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if ip := net.ParseIP(s.cfg.Hostname); ip != nil {
		if !ip.IsLoopback() {
			ips = append(ips, ip)
		}
	} else if s.cfg.Hostname != "localhost" {
		names = append([]string{s.cfg.Hostname}, names...)
	}
	c, err := s.ca.ServerCertificate(names, ips, 90*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("server TLS certificate: %w", err)
	}
	s.tlsCert = &c
	return &c, nil
}

// Serve serves until ctx is done, then shuts down gracefully: it stops
// accepting, waits up to the shutdown grace period for in-flight requests
// and validations, and closes the database. Validations cut short stay
// processing and resume on the next start.
func (s *Server) Serve(ctx context.Context) error {
	defer s.lock.Close()
	defer s.store.Close()
	if err := s.ra.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	split := newSplitListener(s.ln)
	// HTTP/1.1 only unless --http2: an ACME client sends one request at a
	// time, and HTTP/1.1 serves it on the connection's goroutine, whose
	// stack is already grown, instead of a new goroutine per HTTP/2 stream.
	nextProtos := []string{"http/1.1"}
	if s.cfg.HTTP2 {
		nextProtos = []string{"h2", "http/1.1"}
	}
	tlsCfg := &tls.Config{GetCertificate: s.certificate, MinVersion: tls.VersionTLS12, NextProtos: nextProtos}
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	httpsSrv := &http.Server{Handler: s.httpsHandler(), TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: errLog}
	plainSrv := &http.Server{Handler: s.plainHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	// Connections that never sent a request (a client's spare connection)
	// would hold Shutdown for 5 s (net/http treats them as busy that long);
	// they carry no request, so shutdown closes them at once.
	var fresh sync.Map // net.Conn → struct{}, connections in StateNew
	httpsSrv.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			fresh.Store(c, struct{}{})
		} else {
			fresh.Delete(c)
		}
	}
	errc := make(chan error, 2)
	go func() { errc <- httpsSrv.Serve(tls.NewListener(split.tls, tlsCfg)) }()
	go func() { errc <- plainSrv.Serve(split.plain) }()
	s.log.Info("certgate serving", "listen", s.ln.Addr().String(), "directory", "https://"+net.JoinHostPort(s.cfg.Hostname, s.port())+"/acme/directory",
		"data", s.cfg.Data)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	split.Close()
	fresh.Range(func(c, _ any) bool {
		c.(net.Conn).Close()
		return true
	})
	herr := errors.Join(httpsSrv.Shutdown(sctx), plainSrv.Shutdown(sctx))
	s.ra.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return errors.Join(err, herr)
}

func (s *Server) port() string {
	_, p, _ := net.SplitHostPort(s.ln.Addr().String())
	return p
}

// plainHandler serves the CRL, OCSP and CA certificates over plain HTTP and
// points everything else at HTTPS (RFC 8555 §6.1 requires HTTPS for ACME).
func (s *Server) plainHandler() http.Handler {
	m := http.NewServeMux()
	for _, p := range []string{wfe.CRLPath, wfe.IntermediatePath, wfe.RootPath, "/healthz"} {
		m.Handle("GET "+p, s.wfe)
	}
	m.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		http.Error(rw, "certgate serves ACME over HTTPS only: https://"+net.JoinHostPort(s.cfg.Hostname, s.port())+"/acme/directory", http.StatusBadRequest)
	})
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		// OCSP (RFC 6960 Appendix A.1) is normally fetched over plain
		// HTTP; its GET paths hold base64 that the mux would clean.
		if s.cfg.OCSP && wfe.IsOCSPPath(r.URL.Path) {
			s.wfe.ServeHTTP(rw, r)
			return
		}
		m.ServeHTTP(rw, r)
	})
}
