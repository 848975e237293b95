// Package server is certgate's composition root for `certgate serve`: it
// opens the store, loads or creates the built-in CA, wires the validation
// authority, registration authority and ACME front end, and serves HTTPS
// (plus plain HTTP for CRL and CA certificates on the same port) until its
// context ends, then shuts down gracefully. internal/testenv and cmd/certgate
// both boot the server through it.
package server

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/adminapi"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/hsm"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/metrics"
	"github.com/certgate/certgate/internal/notify"
	"github.com/certgate/certgate/internal/ocspresponder"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/secretfile"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/va"
	"github.com/certgate/certgate/internal/va/mpic"
	"github.com/certgate/certgate/internal/wfe"
)

// Options adjusts a server beyond its configuration, for tests and tools.
type Options struct {
	// RA overrides RA settings that have no flag (zero fields keep defaults).
	RA ra.Config
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Listener, when set, is used instead of listening on cfg.Listen (by
	// the server and by a validation perspective, serve --roles va).
	Listener net.Listener
	// OrdersPerPage overrides the orders list page size.
	OrdersPerPage int
	// ProfileTTL is how long profile lookups are cached (0: 2 seconds).
	ProfileTTL time.Duration
	// BodyReadTimeout bounds how long a request, headers and body, may
	// take to arrive, on every listener (0: DefaultBodyReadTimeout).
	BodyReadTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its
	// next request, on every listener (0: DefaultIdleTimeout).
	IdleTimeout time.Duration
	// WriteProgressTimeout is how long each write of at most 64 KiB of an
	// answer may wait for the client to take it, on every listener (0:
	// DefaultWriteProgressTimeout).
	WriteProgressTimeout time.Duration
	// Issuers are the issuers besides the built-in CA that profiles may
	// name (built by the composition root from the issuers-file,
	// docs/issuers.md).
	Issuers []issuer.Issuer
	// TLSCheckInterval is how often the server looks whether tls-cert or
	// tls-key changed, to reload them (0: DefaultTLSCheckInterval).
	TLSCheckInterval time.Duration
}

// Server is a running certgate instance.
type Server struct {
	opts  Options
	cfg   *config.Serve
	log   *slog.Logger
	store *store.Store
	ca    *local.CA
	ra    *ra.RA
	wfe   *wfe.WFE
	api   http.Handler // admin API under /api/v1 (admin.go)
	ui    http.Handler // web dashboard under /ui/ (admin.go)
	ln    net.Listener

	metrics   *metrics.Metrics
	metricsLn net.Listener // metrics-listen; nil when not set
	adminLn   net.Listener // admin-listen; nil when not set (the admin API is on ln)
	stopping  atomic.Bool  // set when shutdown begins (/readyz answers 503)

	lock   *os.File // flock on the data directory, held while the server runs
	dbLock *os.File // flock beside a SQLite database (LockDatabase); nil for PostgreSQL

	notifier *notify.Notifier // expiry notifications; nil without notify-rules
	audit    *audit.Log       // the audit log (the scheduled scan's certificate.discover events)
	token    *hsm.Token       // the PKCS#11 token of the intermediate's key; nil without pkcs11-module
	// tokenCheck is token.Check (nil without a token), run by /readyz
	// one at a time (tokenProbe): tests replace it.
	tokenCheck func() error
	tokenMu    sync.Mutex
	tokenProbe *tokenProbe // the tokenCheck under way; nil when none runs
	now        func() time.Time

	// The HTTPS listeners' certificate (listencert.go): own, read from
	// tls-cert and tls-key, when they are set; else tlsCert, signed by
	// issueServerCert (the built-in CA) with a reserved serial, recorded
	// in the inventory as tlsSerial (listenerstore.go) and renewed with a
	// third of its life left, with a failed renewal tried again from
	// renewRetry on.
	certMu          sync.Mutex
	own             *ownCert
	tlsCert         *tls.Certificate
	tlsSerial       string
	renewRetry      time.Time
	issueServerCert func(ctx context.Context, serial *big.Int, dnsNames []string, ips []net.IP, validity time.Duration) (tls.Certificate, error)
}

// CADir is where the built-in CA's files live below the data directory.
func CADir(data string) string { return filepath.Join(data, "ca") }

// CARootSetting is the database setting that records the SHA-256
// fingerprint (lower-case hex, local.Fingerprint) of the built-in CA's
// root, written by the first node to start on the database: every node
// and administrative command must use that CA. Absent: no built-in CA has
// used the database.
const CARootSetting = "ca_root_sha256"

// New prepares a server: creates the data directory, opens (and migrates)
// the database (cfg.DB; by default SQLite in the data directory), loads or
// creates the CA, and binds the listener.
// It does not serve yet; call Serve.
//
// A failed New leaves the disk as it found it: it removes the files and
// directories it created (data directory, SQLite database, CA), never one
// that existed before, and records a new CA in the database only once
// every other check has passed, so that a failed start does not change
// the next one. A start that fails after that record (issuing its own
// TLS certificate) keeps the new CA and the database recording it
// together, with the serials it reserved: the next start uses both.
func New(ctx context.Context, cfg *config.Serve, opts Options, log *slog.Logger) (*Server, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	// Settings checked without creating anything come first, and the
	// configuration file's values that a flag or variable overrides are
	// held to the same checks (config.Serve.CheckFileOnly).
	secret, own, err := checkSettings(cfg, now())
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckFileOnly(func(file *config.Serve) error {
		_, _, err := checkSettings(file, now())
		return err
	}); err != nil {
		return nil, err
	}
	warnExposedSecrets(ctx, cfg, log)
	validator, err := va.New(va.Config{HTTPPort: cfg.VAHTTPPort, TLSPort: cfg.VATLSPort, DNSResolver: cfg.VADNSResolver,
		DNSTimeout: cfg.VADNSTimeout, DNSSEC: cfg.VADNSSEC,
		CAAIdentities: cfg.CAAIdentities,
		DenyNetworks:  cfg.VADenyNetworks, // address policy
	}, log.With("component", "va"))
	if err != nil {
		return nil, fmt.Errorf("validation: %w", err)
	}

	var created createdPaths
	created.dir(cfg.Data)
	created.file(filepath.Join(cfg.Data, LockFile))
	lock, err := LockDataDir(cfg.Data)
	if err != nil {
		// Nothing is removed: the directory may be another process's.
		return nil, err
	}
	// With the lock held, no other start or CA import creates files in the
	// data directory; the database is noted once its own lock is held
	// (administrative commands may open an existing database: see
	// noteStore).
	dsn := DSN(cfg.Data, cfg.DB)
	caDir := CADir(cfg.Data)
	created.noteCA(caDir)
	var (
		st     *store.Store
		token  *hsm.Token
		ln     net.Listener
		mln    net.Listener
		aln    net.Listener
		dbLock *os.File
		ok     bool
	)
	defer func() {
		if ok {
			return
		}
		if ln != nil {
			ln.Close()
		}
		if mln != nil {
			mln.Close()
		}
		if aln != nil {
			aln.Close()
		}
		if st != nil {
			st.Close()
		}
		if token != nil {
			token.Close()
		}
		// The lock file goes while the lock is held (LockDataDir checks that
		// the file it locked is still the one at the path).
		created.removeFiles()
		if dbLock != nil {
			dbLock.Close()
		}
		lock.Close()
		created.removeDirs()
	}()
	if err := tidyDataDir(cfg.Data, caDir, dsn, os.Geteuid(), log); err != nil {
		return nil, err
	}
	// After tidyDataDir, which removed the temporary CA directory (keys) a
	// restore killed while it put the CA in place left.
	if err := interruptedRestore(cfg); err != nil {
		return nil, err
	}
	// A SQLite database serves this process alone (rcfg.Exclusive below):
	// refused while a server on another data directory uses it (--db).
	// Its lock file goes with a failed start that created it, removed
	// while the lock is held; never when another process holds it.
	if path, err := DatabaseLockFile(dsn); err != nil {
		return nil, err
	} else if path != "" {
		created.file(path)
		if dbLock, err = LockDatabase(dsn, cfg.Data); err != nil {
			dbLock = nil
			created.keepFile(path)
			if errors.Is(err, ErrDatabaseInUse) {
				return nil, fmt.Errorf("%w: a SQLite database serves one server at a time; stop that process first, "+
					"or give each server its own database (nodes sharing one use PostgreSQL)", err)
			}
			return nil, err
		}
	}
	created.noteStore(dsn)
	ln = opts.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			ln = nil
			return nil, listenError("listen", cfg.Listen, err)
		}
	}
	if cfg.MetricsListen != "" {
		if mln, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			mln = nil
			return nil, listenError("metrics-listen", cfg.MetricsListen, err)
		}
	}
	if cfg.AdminListen != "" {
		if aln, err = net.Listen("tcp", cfg.AdminListen); err != nil {
			aln = nil
			return nil, listenError("admin-listen", cfg.AdminListen, err)
		}
	}
	if st, err = store.Open(store.WithMigrationLog(ctx, log), dsn); err != nil {
		if cfg.DB != "" {
			return nil, fmt.Errorf("db: %w", err)
		}
		return nil, err
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	pkiBase := "http://" + net.JoinHostPort(cfg.Hostname, port)
	// The database records the fingerprint of its CA's root (setting
	// ca_root_sha256, first writer wins), so that a node sharing it never
	// creates a second CA: a data directory without a CA is refused once the
	// database has one, and a CA other than the database's is refused.
	copyHint := "copy it from a node with: certgate ca export --data DIR | certgate ca import --data " + cfg.Data
	caRoot, err := st.GetSetting(ctx, CARootSetting)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, builtinCAError(err)
	}
	hadCA, err := local.Exists(caDir)
	if err != nil {
		return nil, builtinCAError(err)
	}
	if caRoot != "" && !hadCA {
		return nil, fmt.Errorf("the database belongs to the CA with root SHA-256 %s, but %s has none; %s", caRoot, caDir, copyHint)
	}
	// The cluster's root CRL, when the database has one: adopted rather
	// than a root CRL of this node's own (see rootCRLSync).
	var clusterCRL []byte
	if caRoot != "" {
		clusterCRL = ClusterRootCRL(ctx, st)
	}
	// The intermediate's key in a PKCS#11 token: opened, logged in to and
	// found before the CA is loaded, each failure one line naming its
	// setting; the token stays open while the server runs.
	var interKey crypto.Signer
	var interKeyName string
	if cfg.PKCS11.Module != "" {
		p := cfg.PKCS11
		hcfg := hsm.Config{Module: p.Module, TokenLabel: p.TokenLabel, Slot: p.Slot, PIN: p.PIN, PINSetting: p.PINSetting(),
			KeyLabel: p.KeyLabel, KeyID: p.KeyID}
		if token, err = hsm.Open(hcfg); err != nil {
			token = nil
			return nil, builtinCAError(err)
		}
		key, err := token.Key()
		if err != nil {
			return nil, builtinCAError(err)
		}
		interKey, interKeyName = key, hcfg.KeyName()
	}
	ca, err := local.LoadOrCreate(caDir, local.Options{Now: now, LintBeforeSign: true, Organization: cfg.CAOrganization, Country: cfg.CACountry, ClusterRootCRL: clusterCRL,
		IntermediateKey: interKey, IntermediateKeyName: interKeyName,
		IssuerURL: pkiBase + wfe.IntermediatePath, CRLURL: pkiBase + wfe.CRLPath,
		RootIssuerURL: pkiBase + wfe.RootCertPath, RootCRLURL: pkiBase + wfe.RootCRLPath, RotatedURLs: func(id string) (string, string) {
			return pkiBase + wfe.IntermediateCertPath(id), pkiBase + wfe.IntermediateCRLPath(id)
		}})
	if err != nil {
		return nil, builtinCAError(err)
	}
	ours := local.Fingerprint(ca.Root())
	anotherCA := func(caRoot string) error {
		return fmt.Errorf("the database belongs to the CA with root SHA-256 %s, but %s holds another CA (root SHA-256 %s); "+
			"a node must use the database's CA: move %s aside and %s", caRoot, caDir, ours, caDir, copyHint)
	}
	if caRoot != "" && caRoot != ours {
		return nil, anotherCA(caRoot)
	}
	ocspURL := ""
	if cfg.OCSP {
		ocspURL = pkiBase + wfe.OCSPPath
	}
	// A CA whose intermediate (or a certificate above it) is not valid
	// now signs nothing that verifies: refused with the way out.
	if err := ca.CheckValidAt(now()); err != nil {
		return nil, builtinCAError(err)
	}
	if err := preflight(ca, cfg, ocspURL, now()); err != nil {
		return nil, err
	}
	if err := cfg.CheckFileOnly(func(file *config.Serve) error {
		if file.Perspectives.Roles == config.RoleVA {
			return nil // a remote perspective issues nothing
		}
		fileOCSP := ""
		if file.OCSP {
			fileOCSP = "http://" + net.JoinHostPort(file.Hostname, port) + wfe.OCSPPath
		}
		return preflight(ca, file, fileOCSP, now())
	}); err != nil {
		return nil, err
	}
	warnIntermediateExpiry(log, ca, cfg, now())
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
	if rcfg.IPDenied == nil {
		// An ip identifier in va-deny-networks is refused at newOrder: no
		// challenge could validate it.
		rcfg.IPDenied = validator.AddressDenied
	}
	if rcfg.RateLimits == (ratelimit.Config{}) {
		rcfg.RateLimits = cfg.RateLimits
	}
	// SQLite serves this process alone (the database's lock, dbLock).
	rcfg.Exclusive = st.Engine() == store.EngineSQLite
	if rcfg.AuthzReuse == 0 {
		rcfg.AuthzReuse = -1
	}
	profiles, err := policy.NewRegistry(st, ra.DefaultProfile(cfg.CertValidity, rcfg.MaxCertValidity, cfg.ClientAuth, cfg.CertValidityFollowsBR), opts.ProfileTTL, now)
	if err != nil {
		return nil, err
	}
	issuerNames := []string{issuer.LocalName}
	for _, is := range opts.Issuers {
		issuerNames = append(issuerNames, is.Name())
	}
	rcfg.Issuers = opts.Issuers
	if err := preflightProfiles(ctx, ca, profiles, issuerNames, now(), cfg.VADNSResolver, log); err != nil {
		return nil, err
	}
	rcfg.Profiles = profiles
	if rcfg.ApprovalWebhook == "" {
		rcfg.ApprovalWebhook = cfg.ApprovalWebhook
	}
	iss := &local.Issuer{CA: ca, ClientAuth: cfg.ClientAuth, IssuerURL: pkiBase + wfe.IntermediatePath, CRLURL: pkiBase + wfe.CRLPath, OCSPURL: ocspURL}
	// A rotated CA (certgate ca rotate): the current intermediate's leaves
	// name it by its ID; the earlier ones keep signing the CRL and the
	// OCSP responses about theirs, at the URLs their leaves name.
	pkiCfg := wfe.Config{IntermediateDER: ca.Intermediate().Raw, Intermediates: map[string]wfe.Intermediate{}}
	if ca.Rotated() {
		id := local.IntermediateID(ca.Intermediate())
		iss.IssuerURL, iss.CRLURL = pkiBase+wfe.IntermediateCertPath(id), pkiBase+wfe.IntermediateCRLPath(id)
		pkiCfg.Intermediates[id] = wfe.Intermediate{DER: ca.Intermediate().Raw, CRL: iss}
	}
	var retiredOCSP []issuer.OCSPSigner
	for _, old := range ca.Retired() {
		signer := &local.Issuer{CA: old}
		rcfg.RetiredCRLSigners = append(rcfg.RetiredCRLSigners, signer)
		retiredOCSP = append(retiredOCSP, signer)
		if old.Rotated() {
			pkiCfg.Intermediates[local.IntermediateID(old.Intermediate())] = wfe.Intermediate{DER: old.Intermediate().Raw, CRL: signer}
		} else {
			pkiCfg.IntermediateDER, pkiCfg.CRL = old.Intermediate().Raw, signer
		}
	}
	rcfg.PrunedIntermediates = ca.Pruned()
	rcfg.CRLRefresh = cfg.RevocationRefresh
	rcfg.TermsOfService = cfg.TermsOfService
	// One registry per server: the request path counts into it, the
	// database is read when it is scraped (metrics-listen).
	m := metrics.New(log.With("component", "metrics"))
	m.RegisterDBPools(st.Pools())
	m.RegisterSQLiteWriter(st.WriterStats)
	m.RegisterInventory(st, now)
	rcfg.Metrics = m
	var ocspHandler http.Handler
	if cfg.OCSP {
		resp, err := ocspresponder.New(ocspresponder.Config{Path: wfe.OCSPPath, IssuerName: iss.Name(), Refresh: cfg.RevocationRefresh,
			Validity: rcfg.CRLValidity, Now: now, Retired: retiredOCSP}, iss, st, log.With("component", "ocsp"))
		if err != nil {
			return nil, err
		}
		rcfg.OnRevoke = resp.Invalidate
		ocspHandler = resp
	} else {
		// Certificates issued while it was on name the responder.
		ocspHandler = ocspresponder.Disabled{}
	}
	auditLog := audit.New(st, now)
	rcfg.Audit = auditLog
	notifier, err := newNotifier(st, &cfg.Notify, now, log, auditLog, m)
	if err != nil {
		return nil, err
	}
	warnUnknownRuleProfiles(ctx, st, cfg.Notify.Rules, log)
	nonces, err := clusterNonces(ctx, st, now)
	if err != nil {
		return nil, err
	}
	// Record the CA in the database only now: a start that failed before
	// removed the CA it created, and left no database bound to it. From
	// here on the CA stays even if this start fails, since the database may
	// name it (also when InitSetting fails: the outcome is unknown), and so
	// does a database this start created: it records the CA, the serials
	// reserved from here on and what was stored with them, and removing
	// it would leave a CA whose next start begins a new database, its
	// serials free again — unless the database names another CA, which a
	// new CA of ours lost the race to (another node starting at the same
	// moment); that CA has signed nothing and is removed rather than left
	// as a second CA. The database is kept then too: another process wrote
	// to it.
	created.keepStore(dsn)
	keepCA := func() {
		created.keep(caDir)
		if !hadCA {
			// Said now, not once the start succeeds: the CA stays even if
			// it fails, and the next start finds it made.
			log.Info("created the built-in CA", "root_sha256", ours, "dir", caDir,
				"trust", "clients trust its root: certgate ca root --data "+cfg.Data+" --out certgate-root.pem")
		}
	}
	recorded, err := st.InitSetting(ctx, CARootSetting, ours)
	if err != nil {
		keepCA()
		return nil, builtinCAError(err)
	}
	if recorded != ours {
		if !hadCA {
			return nil, fmt.Errorf("the database belongs to the CA with root SHA-256 %s, but %s has none; %s", recorded, caDir, copyHint)
		}
		return nil, anotherCA(recorded)
	}
	keepCA()
	if err := checkIntermediate(ctx, st, ca, caDir, cfg.Data); err != nil {
		return nil, err
	}
	rootCRL := &rootCRLSync{ca: ca, st: st, log: log.With("component", "rootcrl"), now: now, interval: cfg.RevocationRefresh}
	if _, err := rootCRL.get(); err != nil {
		// The CRL signed before, if any, is served; a new one is tried at
		// the next request.
		log.Warn("root CRL", "err", err)
	}
	// The revoked intermediates: those of DATA/ca, and those the root CRL
	// this node serves lists (another node's revocation, adopted from the
	// database now or while it runs).
	rcfg.RevokedIntermediates = rootCRL.revokedIntermediates
	rv := corroborate(ctx, cfg, validator, secret, now, log.With("component", "va"))
	r := ra.New(rcfg, st, rv, iss, now, log.With("component", "ra"))
	w := wfe.New(wfe.Config{TermsOfService: cfg.TermsOfService, Website: cfg.Website, CAAIdentities: cfg.CAAIdentities, OrdersPerPage: opts.OrdersPerPage, AccountCacheTTL: 5 * time.Second, Nonces: nonces,
		IntermediateDER: pkiCfg.IntermediateDER, CRL: pkiCfg.CRL, Intermediates: pkiCfg.Intermediates, RootPEM: ca.RootPEM(), RootDER: ca.Root().Raw, RootCRL: rootCRL.get, OCSP: ocspHandler, Metrics: m,
		RenewalInfoRetryAfter: cfg.ARIRetryAfter, RenewalInfoExplanationURL: cfg.ARIExplanationURL}, r, st, log.With("component", "wfe"))
	s := &Server{opts: opts, cfg: cfg, log: log, store: st, ca: ca, token: token, tokenCheck: tokenCheck(token), ra: r, wfe: w, ln: ln, now: now, lock: lock, dbLock: dbLock, metrics: m, metricsLn: mln, adminLn: aln,
		own: own, issueServerCert: ca.ServerCertificate, notifier: notifier, audit: auditLog}
	s.api = newAdminAPI(st, r, auditLog, now, log, profiles, ca, issuerNames, adminapi.ACMEBaseURL(cfg.Hostname, port), cfg.VADNSResolver)
	s.ui = newDashboard(st, r, auditLog, now, log, &cfg.SSO)
	if own == nil {
		if err := s.startListenerCert(ctx); err != nil {
			return nil, err
		}
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

// LockFile is the name of the data directory's lock file (LockDataDir), in the data
// directory.
const LockFile = "certgate.lock"

// RestoreMarkerFile is the file in the data directory that `certgate
// restore` writes (holding the backup's path and the database's, one a
// line) before it puts the database in place, and removes once the CA is
// in place too: a restore killed between those steps leaves it, the next
// restore into the directory undoes or completes what that one did, and
// New refuses to start while it is there (interruptedRestore).
const RestoreMarkerFile = "restore-incomplete"

// interruptedRestore returns the error of a start on a data directory in
// which a `certgate restore` was interrupted (RestoreMarkerFile there: the
// restored database may be in place without its CA), naming the command
// that completes it; nil when there is none.
func interruptedRestore(cfg *config.Serve) error {
	marker := filepath.Join(cfg.Data, RestoreMarkerFile)
	b, err := os.ReadFile(marker)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	// The backup's path, then the database's (both absolute).
	from, dsn, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if from = strings.TrimSpace(from); from == "" {
		from = "BACKUP"
	}
	db := ""
	if dsn = strings.TrimSpace(dsn); dsn != "" && !strings.ContainsAny(dsn, "\n\r") {
		if def, err := filepath.Abs(DSN(cfg.Data, "")); err != nil || def != dsn {
			db = " --db " + dsn
		}
	}
	return fmt.Errorf("a certgate restore into %s was interrupted (%s is there), so its database and CA may not both be in place; "+
		"run the restore again, which finishes it: certgate restore --data %s%s --from %s", cfg.Data, marker, cfg.Data, db, from)
}

// ErrDataDirInUse is wrapped by LockDataDir's error when another process
// holds the data directory's lock.
var ErrDataDirInUse = errors.New("in use by another certgate process")

// LockDataDir creates dir and takes an exclusive flock on dir/certgate.lock,
// so that two processes never share one CA directory (nor the SQLite
// database in it: LockDatabase guards one named by --db as well).
// Closing the returned file releases the lock (so does the process's death).
// A lock file that a failed start removed after this process opened it is
// not held: LockDataDir locks the file at the path once it holds it.
func LockDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := lockFile(path)
	switch {
	case errors.Is(err, errLockHeld):
		return nil, fmt.Errorf("data directory %s is %w (lock %s held)", dir, ErrDataDirInUse, path)
	case errors.Is(err, errLockRemoved):
		return nil, fmt.Errorf("data directory %s: lock %s keeps being removed", dir, path)
	case err != nil:
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return f, nil
}

// errLockHeld and errLockRemoved are lockFile's errors when another
// process holds the lock, and when the file keeps being removed.
var (
	errLockHeld    = errors.New("lock held")
	errLockRemoved = errors.New("lock file keeps being removed")
)

// lockFile opens the file at path (created with mode 0600) and takes an
// exclusive flock on it without waiting (errLockHeld when another process
// holds it). A file removed after it was opened (a failed start removes
// the lock file it created while it holds it) is not held: lockFile locks
// the file at the path once it holds it (errLockRemoved after 10 tries).
func lockFile(path string) (*os.File, error) {
	for range 10 {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			return nil, errLockHeld
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return f, nil
		}
		f.Close() // removed (or replaced) since it was opened: lock the new one
	}
	return nil, errLockRemoved
}

// DatabaseLockSuffix ends the name of a SQLite database's lock file
// (DatabaseLockFile): the database's path, then this. SQLite itself uses
// the suffixes -wal, -shm and -journal, and POSIX locks on the database
// file, never this file.
const DatabaseLockSuffix = "-certgate.lock"

// ErrDatabaseInUse is wrapped by LockDatabase's error when another process
// holds the SQLite database's lock.
var ErrDatabaseInUse = errors.New("in use by another certgate process")

// DatabaseLockFile is the lock file of the SQLite database dsn (LockDatabase):
// DatabaseLockSuffix appended to the path of the database with symbolic
// links resolved (of the database file when it exists, else of its
// directory), so that every name of one database gives one lock file; ""
// for PostgreSQL. The database's directory must exist.
func DatabaseLockFile(dsn string) (string, error) {
	if store.IsPostgresDSN(dsn) || store.IsConninfo(dsn) {
		return "", nil
	}
	path, err := filepath.EvalSymlinks(dsn)
	if errors.Is(err, fs.ErrNotExist) {
		dir, derr := filepath.EvalSymlinks(filepath.Dir(dsn))
		if derr != nil {
			return "", fmt.Errorf("db: %w", derr)
		}
		path, err = filepath.Join(dir, filepath.Base(dsn)), nil
	}
	if err != nil {
		return "", fmt.Errorf("db: %w", err)
	}
	if path, err = filepath.Abs(path); err != nil {
		return "", fmt.Errorf("db: %w", err)
	}
	return path + DatabaseLockSuffix, nil
}

// LockDatabase takes an exclusive flock on the lock file of the SQLite
// database dsn (DatabaseLockFile) for the process whose data directory is
// data, and writes data (made absolute) into it, so that a second process
// refused names the first one's. The data directory's lock
// (LockDataDir) guards the database in it against a second server on the
// same directory, not against one on another directory given the same
// database with --db: SQLite serves one process (ra.Config.Exclusive: its
// start fails every order still processing, issuance that the other
// server has in flight). Another holder gives an error wrapping
// ErrDatabaseInUse that names the database, the holder's data directory
// (when it wrote it) and the lock file. data "" writes none. Closing the
// returned file releases the lock; for PostgreSQL it returns nil, nil.
func LockDatabase(dsn, data string) (*os.File, error) {
	path, err := DatabaseLockFile(dsn)
	if path == "" || err != nil {
		return nil, err
	}
	f, err := lockFile(path)
	switch {
	case errors.Is(err, errLockHeld):
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil && len(b) < 4096 {
			if d := strings.TrimSpace(string(b)); d != "" && !strings.ContainsAny(d, "\n\r") {
				holder = "data directory " + d + "; "
			}
		}
		return nil, fmt.Errorf("db %s is %w (%slock %s held)", dsn, ErrDatabaseInUse, holder, path)
	case errors.Is(err, errLockRemoved):
		return nil, fmt.Errorf("db %s: lock %s keeps being removed", dsn, path)
	case err != nil:
		return nil, fmt.Errorf("db: %w", err)
	}
	// What a refused process names; the lock holds without it.
	if f.Truncate(0) == nil && data != "" {
		if abs, err := filepath.Abs(data); err == nil {
			_, _ = f.WriteAt([]byte(abs+"\n"), 0)
		}
	}
	return f, nil
}

// tidyDataDir, run at start with the data directory's lock held, restricts
// the data directory dataDir to its owner (store.RestrictMode: one that
// existed before the first start keeps its mode otherwise), removes what
// an interrupted `certgate ca import` or CA creation left next to the CA
// directory caDir (local.RemoveLeftovers: temporary directories holding
// private keys), restricts caDir and the CA's private key files in it
// (a CA directory copied or restored with mode 0755 and keys 0644), and
// restricts a SQLite database at dsn, and its -wal and -shm files, to
// their owner (store.RestrictSQLiteFiles: releases before this one
// created them with mode 0644), logging each change. uid is the server's
// effective user: the directory or a file another user owns (a volume
// shared with the server's group) keeps its mode, with a warning,
// instead of a start that fails (chmod: operation not permitted).
//
// Symbolic links: the data directory, the CA directory and the database
// path are followed (the server uses what they resolve to; the log names
// the link too); a link where certgate or SQLite creates a regular file
// (a key file, a -wal file) is not followed — what it points to may be
// anything — and is left as it is with a warning.
func tidyDataDir(dataDir, caDir, dsn string, uid int, log *slog.Logger) error {
	c, err := store.RestrictMode(dataDir, uid)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	logModeChange(log, c, "the data directory", true, uid)
	removed, err := local.RemoveLeftovers(caDir)
	for _, p := range removed {
		log.Warn("removed the leftover of an interrupted CA import or creation (a temporary directory holding private keys)", "path", p)
	}
	if err != nil {
		return builtinCAError(err)
	}
	if fi, err := os.Stat(caDir); err == nil && !fi.IsDir() {
		// Not chmodded, and named: the key files below it would be
		// reported as "lstat DATA/ca/root.key: not a directory".
		return fmt.Errorf("built-in CA: %s is not a directory (it holds the CA's certificates and keys): move the file away", caDir)
	}
	switch c, err := store.RestrictMode(caDir, uid); {
	case errors.Is(err, fs.ErrNotExist): // created later, 0700
	case err != nil:
		return builtinCAError(err)
	default:
		logModeChange(log, c, "the CA directory", true, uid)
		for _, name := range []string{local.RootKeyFile, local.IntermediateKeyFile} {
			c, err := store.RestrictFile(filepath.Join(caDir, name), uid)
			if err != nil {
				return builtinCAError(err)
			}
			logModeChange(log, c, "a CA private key file", false, uid)
		}
	}
	if store.IsPostgresDSN(dsn) {
		return nil
	}
	// A SQLite file's directory is not created: a mistyped --db path is
	// refused rather than made (the default, in the data directory, has
	// its directory: LockDataDir made it).
	switch fi, err := os.Stat(filepath.Dir(dsn)); {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("db: directory %s does not exist: create it first, or correct the path", filepath.Dir(dsn))
	case err != nil:
		return fmt.Errorf("db: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("db: %s is not a directory", filepath.Dir(dsn))
	}
	changed, err := store.RestrictSQLiteFiles(dsn, uid)
	for _, c := range changed {
		logModeChange(log, &c, "a database file", false, uid)
	}
	if errors.Is(err, store.ErrNotSQLite) {
		return fmt.Errorf("db: %w", err)
	}
	return err
}

// logModeChange logs c, a change of what's mode (nil: none; dir: what is
// a directory): a mode restricted (info), or left as it is (warning)
// because another user owns it or because it is a symbolic link not
// followed.
func logModeChange(log *slog.Logger, c *store.ModeChange, what string, dir bool, uid int) {
	if c == nil {
		return
	}
	var attrs []any
	if c.Link != "" {
		attrs = append(attrs, "link", c.Link)
	}
	mode := func(m fs.FileMode) string {
		if dir {
			m |= fs.ModeDir
		}
		return m.String()
	}
	switch {
	case c.NotFollowed:
		log.Warn(what+" is a symbolic link: not followed, its target's mode left as it is; certgate creates a regular file there (replace the link by the file, mode 0600)",
			"path", c.Path)
	case c.Kept:
		log.Warn(what+" has group or other permissions but is owned by another user: left as it is; its owner should restrict it (chmod go-rwx)",
			append([]any{"path", c.Path, "mode", mode(c.Old), "owner_uid", c.Owner, "server_uid", uid}, attrs...)...)
	default:
		log.Info("restricted "+what+" to its owner", append([]any{"path", c.Path, "old_mode", mode(c.Old), "new_mode", mode(c.New)}, attrs...)...)
	}
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
	def := ra.DefaultProfile(cfg.CertValidity, cfg.CertValidity, cfg.ClientAuth, cfg.CertValidityFollowsBR)
	validity, _ := def.ValidityAt(nb)
	err = ca.CheckLeaf(local.LeafRequest{Serial: serial, PublicKey: key.Public(), DNSNames: []string{"preflight.certgate.test"},
		NotBefore: nb, NotAfter: nb.Add(validity - time.Second), ClientAuth: cfg.ClientAuth, OCSPURL: ocspURL})
	if err != nil {
		return lintSettingError("", "cert-validity", validity, err)
	}
	return nil
}

// checkSettings runs the start checks of cfg that need nothing created
// (no data directory, database or CA), each error one line naming its
// setting: the scheduled scan's scan-targets and scan-starttls, the
// perspective-secret-file of remote perspectives (returned as secret; a
// remote perspective's own is read by ServePerspective), and the pair of
// tls-cert and tls-key (returned as own; nil without tls-cert).
func checkSettings(cfg *config.Serve, now time.Time) (secret []byte, own *ownCert, err error) {
	if _, _, err := scheduledScan(cfg); err != nil {
		return nil, nil, err
	}
	if len(cfg.Perspectives.RemoteNames) > 0 || cfg.Perspectives.Roles == config.RoleVA {
		if secret, err = mpic.ReadSecret(cfg.Perspectives.SecretFile); err != nil {
			return nil, nil, err
		}
	}
	if cfg.TLSCert != "" {
		if own, err = loadOwnCert(cfg.TLSCert, cfg.TLSKey, now); err != nil {
			return nil, nil, err
		}
	}
	return secret, own, nil
}

// warnIntermediateExpiry logs a warning when the intermediate of ca
// expires within the validity of the certificates this configuration
// issues (the default profile's, cert-validity, or the listener's,
// serverCertValidity): the built-in CA cuts a leaf's notAfter to the
// intermediate's (local.CA.ClampToIntermediate) until `certgate ca
// rotate` makes a new intermediate. An intermediate that has expired
// never gets here: New refuses it first (local.CA.CheckValidAt).
func warnIntermediateExpiry(log *slog.Logger, ca *local.CA, cfg *config.Serve, now time.Time) {
	inter := ca.Intermediate()
	def := ra.DefaultProfile(cfg.CertValidity, cfg.CertValidity, cfg.ClientAuth, cfg.CertValidityFollowsBR)
	validity, _ := def.ValidityAt(now)
	validity = max(validity, serverCertValidity)
	attrs := []any{"intermediate", local.IntermediateID(inter), "not_after", inter.NotAfter.UTC().Format(time.RFC3339)}
	if now.Add(validity).After(inter.NotAfter) {
		log.Warn("the built-in CA's intermediate expires within the validity of the certificates it issues: they are cut to end with it; make a new one with certgate ca rotate",
			append(attrs, "validity", config.FormatDuration(validity))...)
	}
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// MetricsAddr is the address of metrics-listen, nil when it is not set.
func (s *Server) MetricsAddr() net.Addr {
	if s.metricsLn == nil {
		return nil
	}
	return s.metricsLn.Addr()
}

// AdminAddr is the address of admin-listen, nil when it is not set (the
// admin API is then served on Addr).
func (s *Server) AdminAddr() net.Addr {
	if s.adminLn == nil {
		return nil
	}
	return s.adminLn.Addr()
}

// CA is the built-in CA.
func (s *Server) CA() *local.CA { return s.ca }

// Store is the server's storage (tests inspect it).
func (s *Server) Store() *store.Store { return s.store }

// serverCertValidity is the life of the server's own HTTPS certificate:
// 45 days, under the shortest TLS validity the CA/B Forum BR will allow
// (47 days from 2029-03-15, ballot SC-081), so that the issuance lint keeps
// passing it then. It is renewed with a third of it left.
const serverCertValidity = 45 * 24 * time.Hour

// listenerRenewalDue reports whether the listener certificate leaf is to
// be renewed at now: when less than a third of serverCertValidity is
// left, unless it ends with the built-in CA's intermediate (which cut it
// to its own notAfter): a new one would end no later, so it is served
// until it expires instead of issued anew at every handshake. An expired
// one is always due (the renewal's error says why it fails).
func (s *Server) listenerRenewalDue(leaf *x509.Certificate, now time.Time) bool {
	switch {
	case now.Before(leaf.NotAfter.Add(-serverCertValidity / 3)):
		return false
	case !now.Before(leaf.NotAfter):
		return true
	}
	return s.ca == nil || leaf.NotAfter.Before(s.ca.Intermediate().NotAfter)
}

// renewRetryDelay is how long the server serves its current certificate
// after a failed renewal before it tries again (at a handshake).
const renewRetryDelay = time.Minute

// certificate returns the HTTPS server certificate: the one of tls-cert
// and tls-key when they are set; else the one of the built-in CA, renewed
// (issueListenerCert: recorded in the inventory, superseding the one it
// renews) when less than a third of its life (serverCertValidity) is
// left, unless it ends with the intermediate (listenerRenewalDue). It
// covers the configured hostname, localhost, 127.0.0.1 and ::1
// (listenerNames). A failed renewal is logged and the current
// certificate served while it is valid (tried again after
// renewRetryDelay), rather than failing the handshake.
func (s *Server) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.certMu.Lock()
	defer s.certMu.Unlock()
	if s.own != nil {
		return s.own.cert, nil
	}
	now := s.now()
	old := s.tlsCert
	if old != nil {
		if !s.listenerRenewalDue(old.Leaf, now) {
			return old, nil
		}
		if now.Before(s.renewRetry) { // a renewal failed less than renewRetryDelay ago
			if now.Before(old.Leaf.NotAfter) {
				return old, nil
			}
			return nil, errors.New("server TLS certificate expired and not renewed")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), listenerIssueTimeout)
	defer cancel()
	c, serial, err := s.issueListenerCert(ctx, s.tlsSerial)
	if err != nil {
		err = fmt.Errorf("server TLS certificate: %w", err)
		if old == nil {
			return nil, err // at start: New reports it
		}
		s.renewRetry = now.Add(renewRetryDelay)
		if !now.Before(old.Leaf.NotAfter) {
			s.log.Error("server TLS certificate expired and not renewed: handshakes fail", "err", err, "retry_in", renewRetryDelay.String())
			return nil, err
		}
		s.log.Error("server TLS certificate not renewed; serving the current one until it expires", "err", err,
			"not_after", old.Leaf.NotAfter.UTC().Format(time.RFC3339), "retry_in", renewRetryDelay.String())
		return old, nil
	}
	if old != nil {
		s.log.Info("renewed the server TLS certificate", "serial", serial, "supersedes", s.tlsSerial,
			"not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	s.tlsCert, s.tlsSerial = c, serial
	return c, nil
}

// Serve serves until ctx is done, then shuts down gracefully: it stops
// accepting, waits up to the shutdown grace period for in-flight requests
// and validations, and closes the database. Validations cut short stay
// processing and resume on the next start. Stopped or failed before it
// serves (the RA's start), it closes the listeners New opened too.
func (s *Server) Serve(ctx context.Context) error {
	defer s.lock.Close()
	if s.dbLock != nil {
		defer s.dbLock.Close()
	}
	defer s.store.Close()
	if s.token != nil {
		defer s.token.Close()
	}
	if err := s.ra.Start(ctx); err != nil {
		// Nothing serves yet: free the addresses New bound, as a shutdown
		// would.
		for _, l := range []net.Listener{s.ln, s.adminLn, s.metricsLn} {
			if l != nil {
				l.Close()
			}
		}
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	if s.notifier != nil {
		// Stopped before the store closes (deferred above).
		nctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.notifier.Run(nctx)
		}()
		defer func() {
			stop()
			<-done
		}()
	}
	// Every connection of every listener bounds its writes (boundWrites),
	// below TLS.
	lim := s.opts.limits()
	split := newSplitListener(boundWrites(s.ln, lim.write))
	// HTTP/1.1 only unless --http2: an ACME client sends one request at a
	// time, and HTTP/1.1 serves it on the connection's goroutine, whose
	// stack is already grown, instead of a new goroutine per HTTP/2 stream.
	nextProtos := []string{"http/1.1"}
	if s.cfg.HTTP2 {
		nextProtos = []string{"h2", "http/1.1"}
	}
	tlsCfg := &tls.Config{GetCertificate: s.certificate, MinVersion: tls.VersionTLS12, NextProtos: nextProtos}
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	// Connections that never sent a request (a client's spare connection)
	// would hold Shutdown for 5 s (net/http treats them as busy that long);
	// they carry no request, so shutdown closes them at once.
	var fresh sync.Map // net.Conn → struct{}, connections in StateNew
	trackFresh := func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			fresh.Store(c, struct{}{})
		} else {
			fresh.Delete(c)
		}
	}
	// newHTTPS and newPlain are the HTTPS and plain-HTTP servers of a
	// listener (listen, admin-listen): the same timeouts and header bound
	// on both (newHTTPServer). The plain-HTTP servers had no idle timeout
	// and no server a bound on the body or on writes, so slow clients held
	// connections for ever.
	newHTTPS := func(h http.Handler, c *tls.Config) *http.Server {
		srv := newHTTPServer(h, c, lim, errLog)
		srv.ConnState = trackFresh
		return srv
	}
	newPlain := func(h http.Handler) *http.Server { return newHTTPServer(h, nil, lim, errLog) }
	httpsSrv := newHTTPS(s.httpsHandler(), tlsCfg)
	plainSrv := newPlain(s.plainHandler())
	servers := []*http.Server{httpsSrv, plainSrv}
	splits := []*splitListener{split}
	errc := make(chan error, 5)
	go func() { errc <- httpsSrv.Serve(tls.NewListener(split.tls, tlsCfg)) }()
	go func() { errc <- plainSrv.Serve(split.plain) }()
	if s.adminLn != nil {
		// The admin API on admin-listen: the same certificate, HTTP/1.1
		// only (its clients are scripts and curl), plain HTTP refused as on
		// listen.
		adminSplit := newSplitListener(boundWrites(s.adminLn, lim.write))
		// A config of its own, not a Clone of tlsCfg: httpsSrv.Serve,
		// already running, writes to tlsCfg (net/http's HTTP/2 set-up).
		adminTLS := &tls.Config{GetCertificate: s.certificate, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
		adminHTTPS, adminPlain := newHTTPS(s.adminHandler(), adminTLS), newPlain(s.adminPlainHandler())
		servers = append(servers, adminHTTPS, adminPlain)
		splits = append(splits, adminSplit)
		go func() { errc <- adminHTTPS.Serve(tls.NewListener(adminSplit.tls, adminTLS)) }()
		go func() { errc <- adminPlain.Serve(adminSplit.plain) }()
	}
	if s.metricsLn != nil {
		metricsSrv := newPlain(s.metricsHandler())
		servers = append(servers, metricsSrv)
		go func() { errc <- metricsSrv.Serve(boundWrites(s.metricsLn, lim.write)) }()
		s.log.Info("metrics serving", "url", "http://"+s.metricsLn.Addr().String()+metricsPath)
	}
	attrs := []any{"listen", s.ln.Addr().String()}
	if s.adminLn != nil {
		attrs = append(attrs, "admin_listen", s.adminLn.Addr().String())
	}
	if s.own != nil {
		attrs = append(attrs, "tls_cert", s.cfg.TLSCert, "tls_key", s.cfg.TLSKey)
		s.checkOwnCert(s.own)
		watchCtx, stopWatch := context.WithCancel(ctx)
		watchDone := make(chan struct{})
		go func() {
			defer close(watchDone)
			s.watchTLSFiles(watchCtx)
		}()
		defer func() {
			stopWatch()
			<-watchDone
		}()
	}
	s.interruptStaleScans(ctx)
	if opt, ok, _ := scheduledScan(s.cfg); ok {
		scanCtx, stopScans := context.WithCancel(ctx)
		scansDone := make(chan struct{})
		go func() {
			defer close(scansDone)
			s.runScanSchedule(scanCtx, opt)
		}()
		defer func() {
			stopScans()
			<-scansDone
		}()
	}
	s.log.Info("certgate serving", append(attrs, "directory", adminapi.ACMEBaseURL(s.cfg.Hostname, s.port())+"/acme/directory",
		"data", s.cfg.Data, "root_sha256", local.Fingerprint(s.ca.Root()))...)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.stopping.Store(true)
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	for _, sp := range splits {
		sp.Close()
	}
	fresh.Range(func(c, _ any) bool {
		c.(net.Conn).Close()
		return true
	})
	var herr error
	for _, srv := range servers {
		herr = errors.Join(herr, srv.Shutdown(sctx))
	}
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

// plainHandler serves the CRL, OCSP and CA certificates, /healthz and
// /readyz over plain HTTP and points everything else at HTTPS (RFC 8555 §6.1 requires HTTPS for ACME):
// an admin API path at the same path over HTTPS (400, an RFC 9457 problem
// document as every admin API error; 404 when admin-listen serves the API,
// as on HTTPS: writeAdminNotHere), an ACME path at the same path over
// HTTPS and anything else at the ACME directory (400, an RFC 8555 §6.7
// malformed problem document as every ACME error).
func (s *Server) plainHandler() http.Handler {
	m := http.NewServeMux()
	// IntermediatesPrefix without its "/" too: ServeMux would redirect it
	// to the prefix (an HTML body) rather than let the WFE answer.
	for _, p := range []string{wfe.CRLPath, wfe.IntermediatePath, wfe.RootPath, wfe.RootCertPath, wfe.RootCRLPath, wfe.IntermediatesPrefix,
		strings.TrimSuffix(wfe.IntermediatesPrefix, "/")} {
		// Every method: the WFE answers another than GET and HEAD with
		// its 405 naming them, as over HTTPS (it was the 400 "serves
		// ACME over HTTPS only").
		m.Handle(p, s.wfe)
	}
	m.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		base := adminapi.ACMEBaseURL(s.cfg.Hostname, s.port())
		if isUIPath(r.URL.Path) {
			if s.adminLn != nil {
				writeUINotHere(rw)
				return
			}
			redirectUI(rw, r, base)
			return
		}
		if isAdminPath(r.URL.Path) {
			if s.adminLn != nil {
				s.logRefusal(r, time.Now(), "adminapi", http.StatusNotFound, "")
				writeAdminNotHere(rw)
				return
			}
			// Name the resource asked for, not the ACME directory: a curl
			// of the admin API with http:// should say where it is.
			s.logRefusal(r, time.Now(), "adminapi", http.StatusBadRequest, "")
			adminapi.WriteProblem(rw, http.StatusBadRequest, "certgate serves the admin API over HTTPS only: "+base+r.URL.EscapedPath())
			return
		}
		// An RFC 8555 §6.7 problem document, as every ACME error: an ACME
		// path is named over HTTPS (a client configured with
		// http://HOST:PORT/acme/directory is told its https URL), anything
		// else the ACME directory.
		target := base + "/acme/directory"
		if strings.HasPrefix(r.URL.Path, "/acme/") {
			target = base + r.URL.EscapedPath()
		}
		p := acme.NewProblem(acme.Malformed, "certgate serves ACME over HTTPS only: %s", target)
		p.Status = p.HTTPStatus()
		s.logRefusal(r, time.Now(), "wfe", p.Status, string(p.Type))
		body, _ := json.Marshal(p)
		rw.Header().Set("Content-Type", "application/problem+json")
		rw.WriteHeader(p.Status)
		_, _ = rw.Write(body)
	})
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if s.serveHealth(rw, r) {
			return
		}
		// OCSP (RFC 6960 Appendix A.1) is normally fetched over plain
		// HTTP; its GET paths hold base64 that the mux would clean.
		if wfe.IsOCSPPath(r.URL.Path) { // ocspresponder.Disabled without OCSP
			s.wfe.ServeHTTP(rw, r)
			return
		}
		// A path with "//", "." or ".." segments (e.g. "//pki/root.pem"):
		// the 404 problem of the HTTPS side, not ServeMux's 307 redirect
		// (with an HTML body, to a URL that may name another resource).
		if !wfe.CleanPath(r.URL.Path) {
			s.wfe.ServeHTTP(rw, r)
			return
		}
		m.ServeHTTP(rw, r)
	})
}

// builtinCAError wraps err, an error of the built-in CA's files or of its
// record in the database, as "built-in CA: ..." without repeating the
// prefix the local CA package gives its own errors ("local CA: ").
func builtinCAError(err error) error {
	return &caError{err: err}
}

// caError is an error of builtinCAError.
type caError struct{ err error }

func (e *caError) Error() string {
	return "built-in CA: " + strings.TrimPrefix(e.err.Error(), "local CA: ")
}

func (e *caError) Unwrap() error { return e.err }

// warnUnknownRuleProfiles logs one WARN for each notification rule whose
// profile= names no profile that is defined or carried by a certificate
// (store.ProfileKnown, as `certgate cert list --profile` refuses it): such
// a rule selects nothing, most likely a typo, and the start goes on since
// a profile may be created later. A failed lookup is logged too.
func warnUnknownRuleProfiles(ctx context.Context, st *store.Store, rules []notify.Rule, log *slog.Logger) {
	for _, r := range rules {
		if r.Profile == "" {
			continue
		}
		known, err := st.ProfileKnown(ctx, r.Profile)
		switch {
		case err != nil:
			log.WarnContext(ctx, "notification rule's profile cannot be looked up", "rule", r.Name, "profile", r.Profile, "err", err)
		case !known:
			log.WarnContext(ctx, "notification rule names a profile that is not defined and that no certificate carries: it selects nothing until one does (profile names are case-sensitive)",
				"rule", r.Name, "profile", r.Profile)
		}
	}
}

// newNotifier returns the expiry notifier of cfg (internal/notify), nil
// when cfg has no rules.
func newNotifier(st *store.Store, cfg *config.Notify, now func() time.Time, log *slog.Logger, auditLog *audit.Log, m *metrics.Metrics) (*notify.Notifier, error) {
	if len(cfg.Rules) == 0 {
		return nil, nil
	}
	chans, err := cfg.Channels()
	if err != nil {
		return nil, err
	}
	return notify.New(st, notify.Config{Rules: cfg.Rules, Channels: chans, Interval: cfg.Interval, MaxAttempts: cfg.MaxAttempts,
		RetryDelay: cfg.RetryDelay, Now: now, Log: log.With("component", "notify"), Audit: auditLog, Metrics: m})
}

// warnExposedSecrets logs one WARN for each file of cfg holding a secret
// (tls-key, perspective-secret-file, notify-smtp-password-file,
// notify-webhook-secret-file, sso-client-secret-file) that its group or others may read
// (secretfile.WarnIfExposed); the issuers file's eabHmacFile is checked
// by its connector. It refuses nothing.
func warnExposedSecrets(ctx context.Context, cfg *config.Serve, log *slog.Logger) {
	for _, f := range []struct{ setting, path string }{
		{"tls-key", cfg.TLSKey},
		{"perspective-secret-file", cfg.Perspectives.SecretFile},
		{"notify-smtp-password-file", cfg.Notify.SMTPPasswordFile},
		{"notify-webhook-secret-file", cfg.Notify.WebhookSecretFile},
		{"sso-client-secret-file", cfg.SSO.ClientSecretFile},
		{"pkcs11-pin-file", cfg.PKCS11.PINFile},
	} {
		secretfile.WarnIfExposed(ctx, log, f.setting, f.path)
	}
}
