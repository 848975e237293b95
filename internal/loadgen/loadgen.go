// Package loadgen drives complete ACME (RFC 8555) issuance flows against a
// directory URL and measures them: it is the engine of `certgate bench acme`.
//
// A run registers K accounts up front, then C workers each run flows until
// N have been started. One flow is newOrder → fetch the authorization →
// answer http-01 from the run's own responder → accept the challenge → poll
// the authorization → finalize with a fresh certificate key → poll the
// order → download and parse the certificate chain. Every step is timed;
// the Summary has throughput, per-step and overall percentiles, and errors
// grouped by ACME problem type.
//
// The ACME client is golang.org/x/crypto/acme, except for polling (a loop
// that honours Retry-After and otherwise backs off from 10 ms, so that
// sub-second server differences stay visible) and the finalize request
// (acme.Client's CreateOrderCert polls a processing order with a fixed 1 s
// pause, see finalize.go).
package loadgen

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	cgacme "github.com/certgate/certgate/internal/acme"
	"golang.org/x/crypto/acme"
)

// Key types of certificate keys (Config.KeyType).
const (
	KeyEC256   = "ec256"   // ECDSA P-256
	KeyRSA2048 = "rsa2048" // RSA 2048 bits
)

// Config describes one run. Zero values take the defaults noted per field.
type Config struct {
	// DirectoryURL is the ACME directory, e.g. https://localhost:8443/acme/directory.
	DirectoryURL string
	// Flows is the number of issuance flows to run (N); default 100.
	Flows int
	// Concurrency is the number of flows in flight at once (C); default 8,
	// at most Flows.
	Concurrency int
	// Accounts is the number of ACME accounts registered up front (K);
	// flow n uses account n mod K. Default: Concurrency.
	Accounts int
	// Domain is the parent of the names requested; default "bench.test".
	// Flow n of run R asks for f<R>-<n>.<Domain>.
	Domain string
	// ReuseNames makes flow n ask for f<n mod C>.<Domain> instead, the
	// same C names in every run (for servers with few resolvable names).
	ReuseNames bool
	// KeyType is the certificate key type, KeyEC256 (default) or KeyRSA2048.
	// A fresh key is generated for every flow, outside the timed steps.
	KeyType string
	// RootCAs are trusted for the server's TLS certificate; nil means the
	// system roots. Ignored when HTTPClient is set.
	RootCAs *x509.CertPool
	// Insecure skips verification of the server's TLS certificate.
	// Ignored when HTTPClient is set.
	Insecure bool
	// HTTP2 lets the client speak HTTP/2 to a server that offers it. By
	// default every server is measured over HTTP/1.1, as certbot speaks
	// it. Ignored when HTTPClient is set.
	HTTP2 bool
	// HTTPClient, when set, is used for every ACME request (its transport
	// is wrapped to read Retry-After). Nil builds a keep-alive client.
	HTTPClient *http.Client
	// HTTP01Listen is a comma-separated list of addresses the http-01
	// responder listens on; default ":80". Ignored when HTTP01Listeners is set.
	HTTP01Listen string
	// HTTP01Listeners, when set, are served by the http-01 responder
	// instead of listening on HTTP01Listen. Run closes them.
	HTTP01Listeners []net.Listener
	// FlowTimeout bounds one flow, and each set-up request (directory,
	// account registration); default 1 minute.
	FlowTimeout time.Duration
	// IgnoreRetryAfter makes polling ignore the server's Retry-After and
	// always back off from 10 ms (measures how soon the server is done,
	// rather than what a well-behaved client experiences).
	IgnoreRetryAfter bool
	// EABKeyID and EABHMACKey, when set, bind every account the run
	// registers to this external account key (RFC 8555 §7.3.4, HS256 MAC):
	// a server whose directory says externalAccountRequired needs them.
	// A single-use key can bind one account only (Accounts 1).
	EABKeyID   string
	EABHMACKey []byte // the decoded HMAC key
	// RunID names this run in the requested names; default 6 random hex digits.
	RunID string
	// UserAgent is sent with every request; default "certgate-bench".
	UserAgent string
	// Progress, when set, is called as the flows start (after account
	// registration; 0, 0), about every 200 ms and once at the end with the
	// number of flows completed and failed so far; never concurrently.
	Progress func(completed, failed int)
}

// MaxPreparedEC is the most flows whose ECDSA certificate keys and CSRs
// Run makes before the flows start (prepare); ~0.35 kB is kept per flow
// (the CSR; TestPreparedRequestMemory), ~70 MB at this bound. Beyond it each flow makes its own, before its
// clock starts. RSA keys are made before the flows at any count.
const MaxPreparedEC = 200_000

// PreparesKeys reports whether Run makes the certificate keys and CSRs of
// all flows before the flows start: always for KeyRSA2048, for ECDSA
// (KeyEC256, also the default "") when Flows is at most MaxPreparedEC.
func (c *Config) PreparesKeys() bool {
	return c.KeyType == KeyRSA2048 || c.Flows <= MaxPreparedEC
}

func (c *Config) setDefaults() error {
	if c.DirectoryURL == "" {
		return errors.New("no directory URL")
	}
	u, err := url.Parse(c.DirectoryURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("directory URL %q is not an http(s) URL", c.DirectoryURL)
	}
	if c.Flows <= 0 {
		c.Flows = 100
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	// No more workers than flows: idle ones would only register accounts.
	c.Concurrency = min(c.Concurrency, c.Flows)
	if c.Accounts <= 0 {
		c.Accounts = c.Concurrency
	}
	if c.Domain == "" {
		c.Domain = "bench.test"
	}
	c.Domain = strings.Trim(strings.ToLower(c.Domain), ".")
	switch c.KeyType {
	case "":
		c.KeyType = KeyEC256
	case KeyEC256, KeyRSA2048:
	default:
		return fmt.Errorf("key type %q: want %s or %s", c.KeyType, KeyEC256, KeyRSA2048)
	}
	if c.HTTP01Listen == "" {
		c.HTTP01Listen = ":80"
	}
	if c.FlowTimeout <= 0 {
		c.FlowTimeout = time.Minute
	}
	if (c.EABKeyID == "") != (len(c.EABHMACKey) == 0) {
		return errors.New("an external account binding needs both a key ID and an HMAC key")
	}
	if c.RunID == "" {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		c.RunID = fmt.Sprintf("%x", b)
	}
	if c.UserAgent == "" {
		c.UserAgent = "certgate-bench"
	}
	// Every name is f...<Domain>, so a Domain that is no DNS name makes
	// every newOrder fail (rejectedIdentifier) after the accounts were
	// registered; refused before anything is sent. The last flow's name
	// is the longest one.
	if last := c.name(c.Flows - 1); cgacme.CheckDNSName(last) != "" {
		return fmt.Errorf("domain %q: the names requested, such as %q, would not be DNS names: %s", c.Domain, last, cgacme.CheckDNSName(last))
	}
	return nil
}

// name is the identifier flow n asks for.
func (c *Config) name(n int) string {
	if c.ReuseNames {
		return fmt.Sprintf("f%d.%s", n%c.Concurrency, c.Domain)
	}
	return fmt.Sprintf("f%s-%d.%s", c.RunID, n, c.Domain)
}

// DirectoryError is returned by Run when the directory cannot be fetched
// or is not an ACME directory; its message is one line meant for users.
type DirectoryError struct {
	URL string // the directory URL
	Err error  // the cause
}

// Error returns "cannot fetch directory URL: WHY" on one line, WHY the
// cause in a user's terms, with a hint (--ca FILE) for an untrusted
// certificate.
func (e *DirectoryError) Error() string {
	msg := e.Err.Error()
	var uerr *url.Error
	if errors.As(e.Err, &uerr) {
		msg = uerr.Err.Error() // drop `Get "URL":`, the URL is said once
	}
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var problem *acme.Error
	var syntax *json.SyntaxError
	switch {
	case errors.As(e.Err, &problem) && problem.ProblemType == "":
		msg = fmt.Sprintf("HTTP %d %s (is this the directory URL?)", problem.StatusCode, http.StatusText(problem.StatusCode))
	case errors.As(e.Err, &syntax):
		msg = "not an ACME directory: " + syntax.Error()
	case errors.As(e.Err, &unknown):
		msg = unknown.Error() + " (use --ca FILE)"
	case errors.As(e.Err, &hostname):
		msg = hostname.Error()
	case errors.As(e.Err, &invalid):
		msg = invalid.Error() + " (use --ca FILE)"
	}
	return fmt.Sprintf("cannot fetch directory %s: %s", e.URL, oneLine(errors.New(msg)))
}

// Unwrap returns the cause, Err.
func (e *DirectoryError) Unwrap() error { return e.Err }

// EABRequiredError is returned by Run when the directory says
// externalAccountRequired (RFC 8555 §7.1.1) and Config has no external
// account binding key.
type EABRequiredError struct {
	URL string // the directory URL
}

// Error names the directory URL and says that an EAB key ID and HMAC key
// are needed.
func (e *EABRequiredError) Error() string {
	return fmt.Sprintf("directory %s requires an external account binding (RFC 8555 §7.3.4): give the key ID and HMAC key the CA issued", e.URL)
}

// account is one registered ACME account and its client.
type account struct {
	client *acme.Client
	key    *ecdsa.PrivateKey
	nonces *nonceStash // nonces for the requests loadgen signs itself (finalize)
}

// run is the state of one Run call; nothing in it outlives the call.
type run struct {
	cfg      Config
	http     *http.Client
	dir      acme.Directory
	accounts []*account
	resp     *responder
	stats    *collector
	chains   *chainChecker
	reqs     []certRequest // flow n's CSR, when made before the run (prepare)
}

// Run executes cfg and returns its summary. It fails as a whole (non-nil
// error, nil summary) only when the run cannot start: bad configuration,
// the directory cannot be fetched, the http-01 responder cannot listen or
// an account cannot be registered. Failed flows are counted in the summary.
// ctx bounds the whole run; flows cut short by it count as errors.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, stats: newCollector(), chains: newChainChecker()}
	r.http = r.httpClient()

	// The directory first: a wrong URL or an untrusted certificate is the
	// most common mistake and must be reported as such.
	probe := r.newClient(nil)
	dctx, cancel := context.WithTimeout(ctx, cfg.FlowTimeout)
	dir, err := probe.Discover(dctx)
	cancel()
	if err != nil {
		return nil, &DirectoryError{URL: cfg.DirectoryURL, Err: err}
	}
	if dir.NonceURL == "" || dir.RegURL == "" {
		return nil, &DirectoryError{URL: cfg.DirectoryURL, Err: errors.New("not an RFC 8555 directory (no newNonce or newAccount)")}
	}
	r.dir = dir
	if dir.ExternalAccountRequired && cfg.EABKeyID == "" {
		return nil, &EABRequiredError{URL: cfg.DirectoryURL}
	}

	if r.resp, err = startResponder(cfg.HTTP01Listen, cfg.HTTP01Listeners); err != nil {
		return nil, fmt.Errorf("http-01 responder: %w (use --http01-listen ADDR)", err)
	}
	defer r.resp.Close()

	if err := r.register(ctx); err != nil {
		return nil, err
	}
	if cfg.PreparesKeys() {
		prepStart := time.Now()
		if err := r.prepare(ctx); err != nil {
			return nil, err
		}
		r.stats.prepared = time.Since(prepStart)
	}

	r.stats.startFlows()
	start := time.Now()
	stopProgress := r.progress()
	r.work(ctx)
	elapsed := time.Since(start)
	stopProgress()
	return r.stats.summary(&r.cfg, elapsed), nil
}

// httpClient is the client for ACME requests: keep-alive with enough idle
// connections for every worker, and Retry-After capture (poll.go).
//
// It has no Client.Timeout: every request is made with a context that
// FlowTimeout bounds (a flow's, or a set-up request's), and a client
// timeout around a RoundTripper that net/http does not know (the capture
// wrapper) costs two goroutines and a timer per request.
func (r *run) httpClient() *http.Client {
	base := r.cfg.HTTPClient
	if base == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = 4 * (r.cfg.Concurrency + r.cfg.Accounts)
		tr.MaxIdleConnsPerHost = tr.MaxIdleConns
		tr.TLSClientConfig = &tls.Config{RootCAs: r.cfg.RootCAs, InsecureSkipVerify: r.cfg.Insecure}
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetHTTP1(true)
		tr.Protocols.SetHTTP2(r.cfg.HTTP2)
		base = &http.Client{Transport: tr}
	}
	c := *base
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c.Transport = &captureTransport{next: rt, requests: &r.stats.requests}
	return &c
}

// newClient returns an acme.Client for key (nil for directory only) that
// retries failed requests quickly (badNonce, 5xx), at most 5 times. A
// rate limit (429, RFC 8555 §6.6) is not retried: acme.Client would wait
// out its Retry-After (often minutes) until the flow timed out, and the
// report would show a timeout instead of rateLimited.
func (r *run) newClient(key *ecdsa.PrivateKey) *acme.Client {
	c := &acme.Client{DirectoryURL: r.cfg.DirectoryURL, HTTPClient: r.http, UserAgent: r.cfg.UserAgent,
		RetryBackoff: func(n int, _ *http.Request, res *http.Response) time.Duration {
			if n > 5 || res.StatusCode == http.StatusTooManyRequests {
				return 0 // acme.Client returns the server's problem
			}
			r.stats.retry()
			if d, ok := parseRetryAfter(res.Header.Get("Retry-After"), time.Now()); ok && !r.cfg.IgnoreRetryAfter {
				return d
			}
			return pollStart << (n - 1)
		}}
	if key != nil {
		c.Key = key
	}
	return c
}

// register creates cfg.Accounts accounts, Concurrency at a time.
func (r *run) register(ctx context.Context) error {
	r.accounts = make([]*account, r.cfg.Accounts)
	errs := make([]error, r.cfg.Accounts)
	sem := make(chan struct{}, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range r.accounts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				errs[i] = err
				return
			}
			c := r.newClient(key)
			rctx, cancel := context.WithTimeout(ctx, r.cfg.FlowTimeout)
			defer cancel()
			a := &acme.Account{}
			if r.cfg.EABKeyID != "" {
				a.ExternalAccountBinding = &acme.ExternalAccountBinding{KID: r.cfg.EABKeyID, Key: r.cfg.EABHMACKey}
			}
			if _, err := c.Register(rctx, a, acme.AcceptTOS); err != nil {
				errs[i] = err
				return
			}
			r.accounts[i] = &account{client: c, key: key, nonces: &nonceStash{}}
		}()
	}
	wg.Wait()
	registered := 0
	for _, a := range r.accounts {
		if a != nil {
			registered++
		}
	}
	for _, err := range errs {
		if err == nil {
			continue
		}
		hint := ""
		if r.cfg.EABKeyID != "" && registered > 0 {
			// The key bound some accounts and refused others: single-use.
			hint = fmt.Sprintf(" (%d of %d accounts were bound to EAB key %s; a single-use key binds one: use --accounts 1)",
				registered, len(r.accounts), r.cfg.EABKeyID)
		}
		return fmt.Errorf("cannot register account at %s: %w%s", r.dir.RegURL, oneLineError{err}, hint)
	}
	return nil
}

// work runs the flows on Concurrency workers until all have run or ctx ends.
func (r *run) work(ctx context.Context) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range r.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range next {
				r.flow(ctx, n)
			}
		}()
	}
	for n := 0; n < r.cfg.Flows; n++ {
		select {
		case next <- n:
		case <-ctx.Done():
			// Flows never started count as failed, "not started (run
			// interrupted)" or "not started (run timed out)".
			key := "not started (" + runEnded(ctx) + ")"
			err := fmt.Errorf("the run ended before the flow started: %w", ctx.Err())
			for ; n < r.cfg.Flows; n++ {
				r.stats.fail(key, err)
			}
		}
	}
	close(next)
	wg.Wait()
}

// progress calls cfg.Progress now (0, 0: the flows start), then every
// 200 ms until the returned stop is called, and once more then.
func (r *run) progress() (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	r.cfg.Progress(r.stats.counts())
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				r.cfg.Progress(r.stats.counts())
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		r.cfg.Progress(r.stats.counts())
	}
}

// oneLine is err's message on a single line: each run of white space
// (acme.Error puts each subproblem on a line of its own, after a tab)
// becomes one space.
func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

// oneLineError is an error whose text is err's on one line (oneLine) and
// which unwraps to err, so that errors.Is and errors.As still find the
// cause (an *acme.Error from the server, a context error).
type oneLineError struct{ err error }

// Error returns err's text on one line.
func (e oneLineError) Error() string { return oneLine(e.err) }

// Unwrap returns err.
func (e oneLineError) Unwrap() error { return e.err }
