// Package wfe is certgate's ACME web front end (RFC 8555 §6–7): it routes
// HTTP requests, verifies JWS (go-jose), manages nonces, sets the protocol
// headers (Replay-Nonce, Link, Location, Retry-After) and renders problem
// documents. All state changes are calls into the RA; the front end reads
// storage directly only to render objects.
package wfe

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/metrics"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	josejson "github.com/go-jose/go-jose/v4/json"
)

// URL paths of the ACME resources, below the server's https://HOST base.
const (
	directoryPath  = "/acme/directory"
	newNoncePath   = "/acme/new-nonce"
	newAccountPath = "/acme/new-account"
	newOrderPath   = "/acme/new-order"
	revokeCertPath = "/acme/revoke-cert"
	keyChangePath  = "/acme/key-change"
	accountPath    = "/acme/account/"
	orderPath      = "/acme/order/"
	authzPath      = "/acme/authz/"
	challengePath  = "/acme/chall/"
	certPath       = "/acme/cert/"
	// CRLPath serves the built-in issuer's CRL (DER, application/pkix-crl).
	CRLPath = "/pki/crl"
	// IntermediatePath serves the issuing CA certificate (DER, application/pkix-cert).
	IntermediatePath = "/pki/intermediate.crt"
	// RootPath serves the root CA certificate (PEM).
	RootPath = "/pki/root.pem"
	// RootCertPath serves the root CA certificate (DER,
	// application/pkix-cert): the intermediate's AIA caIssuers.
	RootCertPath = "/pki/root.crt"
	// RootCRLPath serves the root's CRL (DER, application/pkix-crl): the
	// intermediate's CRL distribution point.
	RootCRLPath = "/pki/root.crl"
	// OCSPPath is the OCSP responder (RFC 6960 Appendix A.1): POST
	// OCSPPath, GET OCSPPath/{base64 request}.
	OCSPPath = "/pki/ocsp"
	// IntermediatesPrefix starts the paths of the intermediates made by
	// rotation (local.Rotate), by their local.IntermediateID:
	// IntermediateCertPath and IntermediateCRLPath. The intermediate
	// created with the CA stays at IntermediatePath and CRLPath, which its
	// certificates name.
	IntermediatesPrefix = "/pki/ca/"
)

// IntermediateCertPath is the path of the rotated intermediate id (DER,
// application/pkix-cert): its leaves' AIA caIssuers.
func IntermediateCertPath(id string) string { return IntermediatesPrefix + id + "/intermediate.crt" }

// IntermediateCRLPath is the path of the CRL of the rotated intermediate
// id (DER, application/pkix-crl): its leaves' CRL distribution point.
func IntermediateCRLPath(id string) string { return IntermediatesPrefix + id + "/crl" }

// Intermediate is an intermediate served below IntermediatesPrefix.
type Intermediate struct {
	DER []byte           // the certificate
	CRL issuer.CRLSigner // signs the CRL of its certificates (ra.RA.CRLOf)
}

// Reader is the read-only storage the front end renders objects from.
type Reader interface {
	// GetAccount returns the account with id; store.ErrNotFound when none.
	GetAccount(ctx context.Context, id string) (*store.Account, error)
	// GetOrder returns the order with id; store.ErrNotFound when none.
	GetOrder(ctx context.Context, id string) (*store.Order, error)
	// GetOrderAuthorizations returns the order with id and its
	// authorizations, without challenges, read together; store.ErrNotFound
	// (nil order) when there is no such order.
	GetOrderAuthorizations(ctx context.Context, id string) (*store.Order, []*store.Authorization, error)
	// GetAuthorization returns the authorization with id with its
	// challenges; store.ErrNotFound when none.
	GetAuthorization(ctx context.Context, id string) (*store.Authorization, error)
	// GetAuthorizations returns the authorizations with ids, in that
	// order, without challenges; store.ErrNotFound when one is missing.
	GetAuthorizations(ctx context.Context, ids []string) ([]*store.Authorization, error)
	// GetChallenge returns the challenge with id; store.ErrNotFound when
	// none.
	GetChallenge(ctx context.Context, id string) (*store.Challenge, error)
	// GetChallengeAuthorization returns the challenge with id and its
	// authorization with all its challenges, read in one statement;
	// store.ErrNotFound when there is no such challenge.
	GetChallengeAuthorization(ctx context.Context, id string) (*store.Challenge, *store.Authorization, error)
	// GetCertificate returns the certificate stored under serial (lower-
	// case hex); store.ErrNotFound when none.
	GetCertificate(ctx context.Context, serial string) (*store.Certificate, error)
	// CertificateChain returns, for the certificate download (RFC 8555
	// §7.4.2), the ID of the account the certificate with serial was
	// issued to ("" when not through ACME) and its PEM chain, leaf first;
	// store.ErrNotFound when none.
	CertificateChain(ctx context.Context, serial string) (accountID, chainPEM string, err error)
	// ListACMEOrders returns at most limit of accountID's orders created
	// after the cursor (afterCreated, afterID), oldest first, leaving out
	// those expired before notExpiredAfter (RFC 8555 §7.1.2.1).
	ListACMEOrders(ctx context.Context, accountID string, afterCreated time.Time, afterID string, notExpiredAfter time.Time, limit int) ([]*store.Order, error)
}

// Config holds the front end's settings.
type Config struct {
	TermsOfService string        // directory meta.termsOfService URL; "" omits it
	Website        string        // directory meta.website
	CAAIdentities  []string      // directory meta.caaIdentities
	MaxBodyBytes   int64         // request body limit in bytes; default 256 KiB
	OrdersPerPage  int           // orders list page size (RFC 8555 §7.1.2.1); default 100
	NonceLifetime  time.Duration // how long an issued nonce is accepted; default 1 hour
	MaxNonces      int           // in-memory nonces held at most; default 131072
	// Nonces, when set, replaces the in-memory NonceStore (e.g. with
	// ClusterNonces so that every node accepts every node's nonces).
	Nonces Nonces
	// AccountCacheTTL is how long an account looked up for a kid request
	// is reused without asking the store: changes made through this
	// process apply at once, changes by another node after at most this.
	// Zero disables the cache.
	AccountCacheTTL time.Duration
	// IntermediateDER and RootPEM are served at IntermediatePath and RootPath.
	IntermediateDER []byte
	// CRL signs the CRL served at CRLPath when it is not the RA's issuer
	// (a rotated CA: CRLPath stays with the intermediate created with the
	// CA, whose leaves name it); nil: the RA's issuer (ra.RA.CurrentCRL).
	CRL issuer.CRLSigner
	// Intermediates are served at IntermediateCertPath and
	// IntermediateCRLPath by ID: those made by rotation.
	Intermediates map[string]Intermediate
	RootPEM       []byte // the root certificate, PEM
	// RootDER is served at RootCertPath.
	RootDER []byte
	// RootCRL returns the root's CRL served at RootCRLPath (nil: none, a
	// 404; see local.CA.RootCRL); nil for no such path.
	RootCRL func() ([]byte, error)
	// RenewalInfoRetryAfter is the Retry-After of renewalInfo responses
	// (RFC 9773 §4.3); default 6 hours.
	RenewalInfoRetryAfter time.Duration
	// RenewalInfoExplanationURL, when set, is sent as explanationURL in
	// every renewalInfo response (RFC 9773 §4.2).
	RenewalInfoExplanationURL string
	// OCSP, when set, serves OCSPPath and everything below it (the
	// OCSP responder); nil leaves those paths unserved (404).
	OCSP http.Handler
	// Metrics, when set, counts every request by endpoint and outcome and
	// records its latency (metrics.ObserveRequest); nil records nothing.
	Metrics *metrics.Metrics
}

// WFE is the ACME HTTP handler. Create it with New.
type WFE struct {
	cfg      Config
	ra       *ra.RA
	store    Reader
	nonces   Nonces
	accounts *accountCache
	log      *slog.Logger
	mux      *http.ServeMux
	unclean  http.HandlerFunc // a path ServeMux would redirect: 404 malformed
	// upByIssuer maps the DER of each intermediate served here
	// (IntermediateDER, Intermediates) to its path, for the certificate
	// download's Link rel="up" (upPath).
	upByIssuer map[string]string
}

// upByIssuer maps the DER of each intermediate cfg serves to its path:
// IntermediateDER to IntermediatePath, each of Intermediates to its
// IntermediateCertPath.
func upByIssuer(cfg Config) map[string]string {
	m := map[string]string{}
	if len(cfg.IntermediateDER) > 0 {
		m[string(cfg.IntermediateDER)] = IntermediatePath
	}
	for id, im := range cfg.Intermediates {
		m[string(im.DER)] = IntermediateCertPath(id)
	}
	return m
}

// New returns the front end as an http.Handler.
func New(cfg Config, r *ra.RA, st Reader, log *slog.Logger) *WFE {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 256 << 10
	}
	if cfg.OrdersPerPage <= 0 {
		cfg.OrdersPerPage = 100
	}
	if cfg.NonceLifetime <= 0 {
		cfg.NonceLifetime = time.Hour
	}
	if cfg.MaxNonces <= 0 {
		cfg.MaxNonces = 1 << 17
	}
	if cfg.RenewalInfoRetryAfter <= 0 {
		cfg.RenewalInfoRetryAfter = defaultRenewalInfoRetryAfter
	}
	if cfg.Nonces == nil {
		cfg.Nonces = NewNonceStore(cfg.MaxNonces, cfg.NonceLifetime, r.Now)
	}
	w := &WFE{cfg: cfg, ra: r, store: st, nonces: cfg.Nonces, accounts: newAccountCache(1<<14, cfg.AccountCacheTTL, r.Now), log: log,
		upByIssuer: upByIssuer(cfg)}
	m := http.NewServeMux()
	m.HandleFunc(directoryPath, w.handle(metrics.EndpointDirectory, w.directory, http.MethodGet, http.MethodHead))
	m.HandleFunc(newNoncePath, w.handle(metrics.EndpointNewNonce, w.newNonce, http.MethodGet, http.MethodHead))
	m.HandleFunc(newAccountPath, w.handle(metrics.EndpointNewAccount, w.newAccount, http.MethodPost))
	m.HandleFunc(newOrderPath, w.handle(metrics.EndpointNewOrder, w.newOrder, http.MethodPost))
	m.HandleFunc(revokeCertPath, w.handle(metrics.EndpointRevokeCert, w.revokeCert, http.MethodPost))
	m.HandleFunc(keyChangePath, w.handle(metrics.EndpointKeyChange, w.keyChange, http.MethodPost))
	m.HandleFunc(accountPath, w.handle(metrics.EndpointAccount, w.account, http.MethodPost))
	m.HandleFunc(orderPath, w.handle(metrics.EndpointOrder, w.order, http.MethodPost))
	m.HandleFunc(authzPath, w.handle(metrics.EndpointAuthz, w.authorization, http.MethodPost))
	m.HandleFunc(challengePath, w.handle(metrics.EndpointChallenge, w.challenge, http.MethodPost))
	m.HandleFunc(certPath, w.handle(metrics.EndpointCert, w.certificate, http.MethodPost))
	m.HandleFunc(renewalInfoPath, w.handle(metrics.EndpointRenewalInfo, w.renewalInfo, http.MethodGet, http.MethodHead))
	// The bare forms of the paths above that take an ID: without these
	// ServeMux would answer a 307 redirect to the form with "/" (an HTML
	// body). The directory's renewalInfo URL is the bare form (RFC 9773
	// §4.1 appends "/{certID}"), so it answers renewalInfo's own problem.
	m.HandleFunc(strings.TrimSuffix(renewalInfoPath, "/"), w.handle(metrics.EndpointRenewalInfo, w.renewalInfo, http.MethodGet, http.MethodHead))
	for _, p := range []struct {
		path     string
		endpoint metrics.Endpoint
	}{{accountPath, metrics.EndpointAccount}, {orderPath, metrics.EndpointOrder}, {authzPath, metrics.EndpointAuthz},
		{challengePath, metrics.EndpointChallenge}, {certPath, metrics.EndpointCert}} {
		m.HandleFunc(strings.TrimSuffix(p.path, "/"), w.handle(p.endpoint, w.notFound, http.MethodPost))
	}
	m.HandleFunc("/acme/", w.profileRoutes())
	// Any other path: a problem, not ServeMux's text 404, nor for
	// "/acme" its redirect to "/acme/".
	nf := w.handle(metrics.EndpointOther, w.notFound, http.MethodGet, http.MethodHead, http.MethodPost)
	m.HandleFunc("/acme", nf)
	m.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		// The PKI paths are GET-only patterns: another method on them
		// lands here, and is a 405 problem document naming GET and HEAD
		// (over plain HTTP as over HTTPS), as every other refusal.
		probe := r.Clone(r.Context())
		probe.Method = http.MethodGet
		if _, p := m.Handler(probe); p != "/" && p != "" {
			rw.Header().Set("Allow", "GET, HEAD")
			pr := acme.NewProblem(acme.Malformed, "method %s is not allowed here; %s answers GET and HEAD", r.Method, r.URL.Path)
			pr.Status = http.StatusMethodNotAllowed
			w.writeProblem(rw, r, pr)
			return
		}
		nf(rw, r)
	})
	m.HandleFunc("GET "+CRLPath, pki(metrics.EndpointCRL, func(rw http.ResponseWriter, r *http.Request) {
		w.crl(rw, r, cfg.CRL)
	}))
	m.HandleFunc("GET "+IntermediatesPrefix+"{id}/crl", pki(metrics.EndpointCRL, func(rw http.ResponseWriter, r *http.Request) {
		in, ok := cfg.Intermediates[r.PathValue("id")]
		if !ok {
			w.unknownIntermediate(rw, r)
			return
		}
		w.crl(rw, r, in.CRL)
	}))
	m.HandleFunc("GET "+IntermediatesPrefix+"{id}/intermediate.crt", pki(metrics.EndpointCACert, func(rw http.ResponseWriter, r *http.Request) {
		in, ok := cfg.Intermediates[r.PathValue("id")]
		if !ok {
			w.unknownIntermediate(rw, r)
			return
		}
		rw.Header().Set("Content-Type", "application/pkix-cert")
		rw.Write(in.DER)
	}))
	// The prefix itself, with and without its "/": a 404 problem document
	// naming the intermediates' paths, as for an unknown ID (it was
	// ServeMux's redirect, or over HTTPS the catch-all's 404).
	for _, p := range []string{strings.TrimSuffix(IntermediatesPrefix, "/"), IntermediatesPrefix + "{$}"} {
		m.HandleFunc("GET "+p, pki(metrics.EndpointCACert, w.intermediatesIndex))
	}
	m.HandleFunc("GET "+IntermediatePath, pki(metrics.EndpointCACert, func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/pkix-cert")
		rw.Write(cfg.IntermediateDER)
	}))
	m.HandleFunc("GET "+RootPath, pki(metrics.EndpointCACert, func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/x-pem-file")
		rw.Write(cfg.RootPEM)
	}))
	m.HandleFunc("GET "+RootCertPath, pki(metrics.EndpointCACert, func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/pkix-cert")
		rw.Write(cfg.RootDER)
	}))
	if cfg.RootCRL != nil {
		m.HandleFunc("GET "+RootCRLPath, pki(metrics.EndpointCRL, w.rootCRL))
	}
	w.mux = m
	w.unclean = nf
	return w
}

// ServeHTTP implements http.Handler, logging one event per request and
// recording it in the metrics (Config.Metrics).
func (w *WFE) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: rw, status: 200}
	if w.cfg.OCSP != nil && IsOCSPPath(r.URL.Path) {
		// Not through the mux: it would clean (and redirect) the "//"
		// that base64 GET requests may contain.
		rec.endpoint = metrics.EndpointOCSP
		w.cfg.OCSP.ServeHTTP(rec, r)
	} else if !CleanPath(r.URL.Path) || !store.PlainText(r.URL.Path) {
		// ServeMux would answer a 307 redirect with an HTML body (to a
		// URL that may name another resource): a problem instead. A
		// NUL or invalid UTF-8 (%00, %FF) names no resource either;
		// PostgreSQL would refuse it as an ID (a 500).
		w.unclean(rec, r)
	} else {
		w.mux.ServeHTTP(rec, r)
	}
	took := time.Since(start)
	w.cfg.Metrics.ObserveRequest(rec.endpoint, rec.status, rec.problem, took)
	// One event per request; its attributes are built only when it is
	// logged (not at log-level warn or error).
	if ctx := r.Context(); w.log.Enabled(ctx, slog.LevelInfo) {
		w.log.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.String("problem", rec.problem), slog.String("remote", r.RemoteAddr),
			slog.Float64("ms", float64(took.Microseconds())/1000))
	}
}

// CleanPath reports whether the URL path p has no empty ("//"), "." or
// ".." segment, i.e. whether http.ServeMux routes it rather than answering
// a 307 redirect: two substring scans for the usual path.
func CleanPath(p string) bool {
	if !strings.Contains(p, "/.") {
		return !strings.Contains(p, "//")
	}
	if strings.Contains(p, "//") {
		return false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// IsOCSPPath reports whether the URL path p belongs to the OCSP
// responder: OCSPPath or below it.
func IsOCSPPath(p string) bool {
	return p == OCSPPath || strings.HasPrefix(p, OCSPPath+"/")
}

type statusRecorder struct {
	http.ResponseWriter
	status   int
	problem  string
	endpoint metrics.Endpoint // set by the route that served the request
}

// setEndpoint records the endpoint that serves the request on rw, when rw
// is ServeHTTP's recorder.
func setEndpoint(rw http.ResponseWriter, e metrics.Endpoint) {
	if rec, ok := rw.(*statusRecorder); ok {
		rec.endpoint = e
	}
}

// pki wraps a handler of a PKI endpoint to record endpoint e.
func pki(e metrics.Endpoint, h http.HandlerFunc) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		setEndpoint(rw, e)
		h(rw, r)
	}
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// exchange is one ACME request being served.
type exchange struct {
	rw   http.ResponseWriter
	r    *http.Request
	base string // https://HOST
}

type handlerFunc func(ctx context.Context, x *exchange) error

// handle wraps h, the handler of endpoint e, with the headers every ACME
// response carries (Replay-Nonce, Link rel="index"; RFC 8555 §6.5, §7.1:
// the index relation is on all resources other than the directory, so
// the directory's own responses have none) and the method check (RFC 8555 §6.3: 405 for GET on POST-only
// resources). The order and account routes also serve finalize and the
// orders list, which the metrics tell apart by the path's last segment.
func (w *WFE) handle(e metrics.Endpoint, h handlerFunc, methods ...string) http.HandlerFunc {
	return w.handleIn(e, h, nil, methods...)
}

// handleIn is handle for a resource whose directory (the Link rel="index"
// target) is directory(r), a path: a profile's own resources
// (profileRoutes) belong to the profile's directory. nil: /acme/directory.
func (w *WFE) handleIn(e metrics.Endpoint, h handlerFunc, directory func(r *http.Request) string, methods ...string) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		switch {
		case e == metrics.EndpointOrder && strings.HasSuffix(r.URL.Path, "/finalize"):
			setEndpoint(rw, metrics.EndpointFinalize)
		case e == metrics.EndpointAccount && strings.HasSuffix(r.URL.Path, "/orders"):
			setEndpoint(rw, metrics.EndpointOrders)
		default:
			setEndpoint(rw, e)
		}
		x := &exchange{rw: rw, r: r, base: "https://" + r.Host}
		rw.Header().Set("Replay-Nonce", w.nonces.Issue())
		rw.Header().Set("Cache-Control", "no-store")
		dir := directoryPath
		if directory != nil {
			dir = directory(r)
		}
		if dir != r.URL.Path { // RFC 8555 §7.1: not on the directory itself
			rw.Header().Add("Link", link(x.base+dir, "index"))
		}
		allowed := false
		for _, m := range methods {
			allowed = allowed || r.Method == m
		}
		var err error
		if !allowed {
			rw.Header().Set("Allow", strings.Join(methods, ", "))
			p := acme.NewProblem(acme.Malformed, "method %s is not allowed here; use %s (RFC 8555 §6.3)", r.Method, strings.Join(methods, " or "))
			p.Status = http.StatusMethodNotAllowed
			err = p
		} else {
			// The client's address: the new-accounts-per-ip limit and
			// the Source of the request's audit events.
			err = h(ra.WithClientAddr(r.Context(), r.RemoteAddr), x)
		}
		if err != nil {
			w.writeProblem(rw, r, err)
		}
	}
}

// link is a Link header value (RFC 8288) for url with relation type rel, a
// registered relation name ("index", "up", ...: a token, so quoting it
// needs no escapes).
func link(url, rel string) string { return "<" + url + ">;rel=\"" + rel + "\"" }

// internal logs err and returns a serverInternal problem without internals
// (acme.Internal: a client's own cancellation is logged at Info).
func (w *WFE) internal(ctx context.Context, what string, err error) error {
	return acme.Internal(ctx, w.log, what, err)
}

// writeProblem renders err as an RFC 8555 §6.7 problem document; non-problem
// errors become serverInternal without internals.
func (w *WFE) writeProblem(rw http.ResponseWriter, r *http.Request, err error) {
	p, ok := acme.AsProblem(err)
	if !ok {
		p = w.internal(r.Context(), "request", err).(*acme.Problem)
	}
	out := *p
	out.Status = p.HTTPStatus()
	if out.Location != "" {
		rw.Header().Set("Location", "https://"+r.Host+accountPath+out.Location)
	}
	if out.RetryAfter > 0 {
		rw.Header().Set("Retry-After", strconv.FormatInt(int64((out.RetryAfter+time.Second-1)/time.Second), 10))
	}
	if out.HelpURL != "" {
		rw.Header().Add("Link", link(out.HelpURL, "help"))
	}
	if rec, ok := rw.(*statusRecorder); ok {
		rec.problem = string(out.Type)
	}
	body, _ := json.Marshal(&out)
	rw.Header().Set("Content-Type", "application/problem+json")
	rw.WriteHeader(out.Status)
	rw.Write(body)
}

// writeJSON sends v as JSON with status code.
func writeJSON(rw http.ResponseWriter, code int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(code)
	_, err = rw.Write(b)
	return err
}

func (w *WFE) notFound(ctx context.Context, x *exchange) error {
	p := acme.NewProblem(acme.Malformed, "no ACME resource at %s", x.r.URL.Path)
	if hint := w.pathHint(ctx, x.base, x.r.URL.Path); hint != "" {
		p.Detail += "; " + hint
	}
	p.Status = http.StatusNotFound
	return p
}

// pathHint names the URL a mistyped one most likely meant, or "": the
// directory for the root, a guess outside /acme/ and a directory URL
// with a trailing slash or in other letter case; a profile's directory
// for /acme/NAME, /acme/NAME/ and /acme/NAME/directory/ when the profile
// exists; the PKI path for one written with doubled slashes or a
// trailing slash when that path is served; an intermediate's two paths for
// its bare ID (/pki/ca/ID, /pki/ca/ID/).
func (w *WFE) pathHint(ctx context.Context, base, p string) string {
	clean := path.Clean("/" + p)
	lower := strings.ToLower(clean)
	rest, underACME := strings.CutPrefix(lower, "/acme/")
	id, underCA := strings.CutPrefix(clean, IntermediatesPrefix)
	id, _, _ = strings.Cut(id, "/")
	switch {
	case strings.HasPrefix(clean, "/pki/") && clean != p && w.servesPKI(clean):
		return "did you mean " + clean + "?"
	case underCA && id != "":
		if _, ok := w.cfg.Intermediates[id]; !ok {
			return "no intermediate is served under the ID " + id + " (the CA's first intermediate is at " + IntermediatePath +
				", its CRL at " + CRLPath + ")"
		}
		return "the intermediate " + id + " is at " + IntermediateCertPath(id) + ", its CRL at " + IntermediateCRLPath(id)
	case !underACME || rest == "directory":
		// The root, a guess at the directory, or the directory
		// mistyped: name the real one.
		return "the ACME directory is at " + base + directoryPath
	}
	name, tail, _ := strings.Cut(strings.TrimPrefix(clean, "/acme/"), "/")
	if tail != "" && !strings.EqualFold(tail, "directory") {
		return ""
	}
	if _, err := w.profileMeta(ctx, name); err != nil {
		return ""
	}
	return fmt.Sprintf("the directory of profile %s is at %s", name, base+profilePath(name, directoryPath))
}

// directory serves /acme/directory (the default profile) and
// /acme/{profile}/directory (RFC 8555 §7.1.1, draft-ietf-acme-profiles §3).
func (w *WFE) directory(ctx context.Context, x *exchange) error {
	profile := profileOf(x.r.URL.Path)
	meta, err := w.profileMeta(ctx, profile)
	if err != nil {
		return err
	}
	meta.TermsOfService, meta.Website, meta.CAAIdentities = w.cfg.TermsOfService, w.cfg.Website, w.cfg.CAAIdentities
	d := acme.Directory{
		NewNonce: x.base + newNoncePath, NewAccount: x.base + profilePath(profile, newAccountPath), NewOrder: x.base + profilePath(profile, newOrderPath),
		RevokeCert: x.base + revokeCertPath, KeyChange: x.base + keyChangePath,
		RenewalInfo: x.base + strings.TrimSuffix(renewalInfoPath, "/"),
		Meta:        meta,
	}
	return writeJSON(x.rw, http.StatusOK, d)
}

// newNonce answers HEAD with 200 and GET with 204 (RFC 8555 §7.2).
func (w *WFE) newNonce(ctx context.Context, x *exchange) error {
	if x.r.Method == http.MethodGet {
		x.rw.WriteHeader(http.StatusNoContent)
	} else {
		x.rw.WriteHeader(http.StatusOK)
	}
	return nil
}

// crl serves the issuer's CRL. HTTP caches may keep it as long as this
// node still serves it, no longer (Cache-Control max-age, Expires), with
// Last-Modified (its thisUpdate, or Date when that is earlier); it answers If-None-Match on its ETag (the
// hex SHA-256 of the DER) with 304.
func (w *WFE) crl(rw http.ResponseWriter, r *http.Request, signer issuer.CRLSigner) {
	var c *ra.SignedCRL
	var err error
	if signer != nil {
		c, err = w.ra.CRLOf(r.Context(), signer)
	} else {
		c, err = w.ra.CurrentCRL(r.Context())
	}
	if err != nil {
		w.log.ErrorContext(r.Context(), "crl", "err", err)
		http.Error(rw, "CRL unavailable", http.StatusInternalServerError)
		return
	}
	h := rw.Header()
	h.Set("Content-Type", "application/pkix-crl")
	h.Set("ETag", `"`+c.SHA256+`"`)
	now := w.ra.Now()
	h.Set("Cache-Control", fmt.Sprintf("max-age=%d, public, no-transform, must-revalidate", maxAge(c.Until, now)))
	h.Set("Expires", c.Until.UTC().Format(http.TimeFormat))
	// Date and Last-Modified from one clock, and Last-Modified never after
	// Date (RFC 9110 §8.8.2.1): thisUpdate is later than this node's clock
	// when the CRL lists a revocation recorded by a node whose clock runs
	// ahead (CurrentCRL).
	lastModified := c.ThisUpdate
	if now.Before(lastModified) {
		lastModified = now
	}
	h.Set("Date", now.UTC().Format(http.TimeFormat))
	h.Set("Last-Modified", lastModified.UTC().Format(http.TimeFormat))
	// No modification time for ServeContent: it would answer
	// If-Modified-Since with 304, and a CRL signed after a revocation in
	// the same second as the one before has the same thisUpdate (whole
	// seconds); the ETag tells them apart.
	http.ServeContent(rw, r, "", time.Time{}, bytes.NewReader(c.DER))
}

// servesPKI reports whether a GET of the clean path p reaches one of the
// PKI handlers (OCSP, a CA certificate, a CRL) rather than the catch-all,
// and below IntermediatesPrefix names an intermediate served there.
func (w *WFE) servesPKI(p string) bool {
	if w.cfg.OCSP != nil && IsOCSPPath(p) {
		return true
	}
	if rest, ok := strings.CutPrefix(p, IntermediatesPrefix); ok {
		id, _, _ := strings.Cut(rest, "/")
		if _, known := w.cfg.Intermediates[id]; !known {
			return false
		}
	}
	if w.mux == nil {
		return false
	}
	_, pattern := w.mux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: p}})
	return pattern != "" && pattern != "/"
}

// intermediatesIndex answers IntermediatesPrefix itself: a 404 malformed
// problem document naming the paths below it and the IDs served there
// (Config.Intermediates, sorted), so that a user exploring /pki is told
// what to ask for.
func (w *WFE) intermediatesIndex(rw http.ResponseWriter, r *http.Request) {
	ids := slices.Sorted(maps.Keys(w.cfg.Intermediates))
	detail := "no intermediate named: ask " + IntermediateCertPath("ID") + " or " + IntermediateCRLPath("ID")
	if len(ids) == 0 {
		detail += "; this CA has no rotated intermediate (its intermediate is " + IntermediatePath + ", its CRL " + CRLPath + ")"
	} else {
		detail += ", ID one of " + strings.Join(ids, ", ")
	}
	pr := acme.NewProblem(acme.Malformed, "%s", detail)
	pr.Status = http.StatusNotFound
	w.writeProblem(rw, r, pr)
}

// unknownIntermediate answers a path below IntermediatesPrefix that names
// no intermediate of this CA: a 404 malformed problem document.
func (w *WFE) unknownIntermediate(rw http.ResponseWriter, r *http.Request) {
	pr := acme.NewProblem(acme.Malformed, "no intermediate of this CA has the ID %s", r.PathValue("id"))
	pr.Status = http.StatusNotFound
	w.writeProblem(rw, r, pr)
}

// rootCRLMaxAge is the Cache-Control max-age of the root's CRL: it is
// signed anew twice a year, so an hour delays no relying party.
const rootCRLMaxAge = time.Hour

// rootCRL serves the root's CRL (Config.RootCRL); 404 when there is none.
func (w *WFE) rootCRL(rw http.ResponseWriter, r *http.Request) {
	der, err := w.cfg.RootCRL()
	if err != nil {
		// der, when not nil, is the CRL signed before: still valid.
		w.log.ErrorContext(r.Context(), "root crl", "err", err)
	}
	switch {
	case der == nil && err != nil:
		http.Error(rw, "CRL unavailable", http.StatusInternalServerError)
		return
	case der == nil:
		pr := acme.NewProblem(acme.Malformed, "this CA has no root CRL: its root key is kept elsewhere")
		pr.Status = http.StatusNotFound
		w.writeProblem(rw, r, pr)
		return
	}
	h := rw.Header()
	h.Set("Content-Type", "application/pkix-crl")
	h.Set("Cache-Control", fmt.Sprintf("max-age=%d, public, no-transform, must-revalidate", int(rootCRLMaxAge/time.Second)))
	http.ServeContent(rw, r, "", time.Time{}, bytes.NewReader(der))
}

// maxAge is the Cache-Control max-age, in whole seconds rounded down, of a
// response served until until: never past it.
func maxAge(until, now time.Time) int {
	return max(int(until.Sub(now)/time.Second), 0)
}

// post reads and verifies a JWS POST to this exchange's URL.
func (w *WFE) post(ctx context.Context, x *exchange, mode keyMode) (*request, error) {
	body, err := w.readBody(x.rw, x.r)
	if err != nil {
		return nil, err
	}
	return w.verify(ctx, body, x.base, x.base+x.r.URL.RequestURI(), mode)
}

// decodePayload decodes a JSON request payload strictly enough to catch
// type errors; unknown fields are ignored (RFC 8555 §7.1 extensibility).
// Member names are matched case-sensitively and a repeated name is
// refused (go-jose's decoder, as for the protected header): encoding/json
// took "IDENTIFIERS" for "identifiers", and the last of two, so that what
// the server read could differ from what another reader of the signed
// payload would. A refusal's detail comes from encoding/json (which
// names the field of a type error) when it refuses the payload too.
//
// An empty payload (POST-as-GET) and "null" are refused: each resource
// that decodes a payload takes a JSON object (RFC 8555 §7.3–§7.6), and
// "null" was decoded as {}.
func decodePayload(payload []byte, v any) error {
	if len(payload) == 0 {
		return acme.NewProblem(acme.Malformed, "this resource takes a JSON object payload, not an empty one (POST-as-GET)")
	}
	switch string(bytes.TrimSpace(payload)) {
	case "":
		return acme.NewProblem(acme.Malformed, "the request payload is not valid JSON for this resource: it must be a JSON object, not white space")
	case "null":
		return acme.NewProblem(acme.Malformed, "the request payload is not valid JSON for this resource: it must be a JSON object, not null")
	}
	if err := josejson.Unmarshal(payload, v); err != nil {
		fresh := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		if jerr := json.Unmarshal(payload, fresh); jerr != nil {
			err = jerr
		}
		return acme.NewProblem(acme.Malformed, "the request payload is not valid JSON for this resource: %v", jsonErrText(err))
	}
	return nil
}

func jsonErrText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Sprintf("it must be a JSON object, not %s", te.Value)
		}
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "syntax error"
	}
	// Only go-jose's decoder refused it: "duplicate key 'NAME' in
	// object".
	return strings.TrimPrefix(err.Error(), "json: ")
}

func decodeB64(field, s string) ([]byte, error) {
	if s == "" {
		return nil, acme.NewProblem(acme.Malformed, "the payload has no %q", field)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || s == "" {
		return nil, acme.NewProblem(acme.Malformed, "%s must be unpadded base64url", field)
	}
	return b, nil
}

// newCursor encodes an orders-list position.
func newCursor(created time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%d.%s", created.UnixNano(), id)))
}

// parseCursor decodes a cursor made by newCursor. The client can send
// anything: an ID that is not plain text (a NUL, invalid UTF-8) is no
// cursor, since PostgreSQL refuses such text (a 500 otherwise).
func parseCursor(s string) (time.Time, string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", false
	}
	ns, id, ok := strings.Cut(string(b), ".")
	if !ok || id == "" || !store.PlainText(id) {
		return time.Time{}, "", false
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return time.Time{}, "", false
	}
	return time.Unix(0, n).UTC(), id, true
}
