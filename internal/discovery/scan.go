package discovery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults of a Scanner's zero fields.
const (
	DefaultConcurrency = 32
	DefaultTimeout     = 5 * time.Second
)

// Scanner completes TLS handshakes with endpoints and checks what they
// serve. The zero value is usable (DefaultConcurrency, DefaultTimeout,
// the system roots only). Safe for concurrent use.
type Scanner struct {
	// Concurrency is how many handshakes run at once (0: DefaultConcurrency).
	Concurrency int
	// Timeout bounds each endpoint's connection and handshake (0: DefaultTimeout).
	Timeout time.Duration
	// Roots are the trust anchors a served chain is verified against
	// besides the system pool: certgate's CA roots. NoSystemRoots leaves
	// the system pool out (tests: a result that does not depend on the
	// machine's trust store).
	Roots         []*x509.Certificate
	NoSystemRoots bool // leave the system pool out
	// Intermediates are CA certificates known to certgate (its CA's
	// intermediates) that tell an incomplete chain: one that verifies
	// only once they are added.
	Intermediates []*x509.Certificate
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// StartTLS maps ports to the plain-text protocol spoken before the
	// TLS handshake (StartTLSSMTP, StartTLSPostgres, or StartTLSNone for
	// implicit TLS); ports it does not name use DefaultStartTLS.
	StartTLS map[int]string
}

// Result is what one endpoint served, or why it served nothing.
type Result struct {
	Endpoint Endpoint // the endpoint tried
	// Chain is the served certificates, leaf first (RFC 8446 §4.4.2);
	// empty when Err is set.
	Chain []*x509.Certificate
	// Err is why no certificate was collected; Error is its one-line text
	// ("connection refused", "timed out after 5s", "not a TLS server").
	Err   error
	Error string // Err's one-line text
	// TLSVersion and CipherSuite are the handshake's ("TLS 1.3",
	// "TLS_AES_128_GCM_SHA256").
	TLSVersion, CipherSuite string
	// Fingerprint is the lower-case hex SHA-256 of the leaf's DER.
	Fingerprint string
	// Checks of the served chain (see Check).
	Checks Checks
	At     time.Time // when the handshake finished, UTC
}

// Checks are the verdicts on a served chain.
type Checks struct {
	// Trusted: the served chain verifies to a root of the pool at the
	// scan's time (names apart). TrustError says why not (x509's text,
	// without its prefix): "certificate signed by unknown authority" when
	// the chain reaches no root even inside the leaf's validity, expired
	// or not (UnknownAuthority), else the error at the scan's time.
	Trusted    bool
	TrustError string // why not Trusted; "" when trusted
	// Incomplete: the server left out intermediates the leaf needs: the
	// chain verifies only with certgate's known intermediates added, or
	// the server sent a lone leaf that is not self-issued and does not
	// verify.
	Incomplete bool
	// Expired: the leaf's notAfter is before the scan's time.
	Expired bool
	// NameMismatch: an SNI name was sent and the leaf is not valid for it
	// (RFC 6125 rules as crypto/x509 applies them).
	NameMismatch bool
	// SelfSigned: the leaf is its own issuer (its signature verifies with
	// its own key).
	SelfSigned bool
}

func (s *Scanner) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Scan handshakes with every endpoint, at most Concurrency at once, and
// returns their results in the order of endpoints. progress (may be nil)
// is called after each endpoint with the number done so far, from the
// scanning goroutines one at a time. When ctx ends, the endpoints not
// tried yet get ctx's error.
func (s *Scanner) Scan(ctx context.Context, endpoints []Endpoint, progress func(done, total int)) []Result {
	pool := s.pool()
	n := s.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	n = min(n, max(len(endpoints), 1))
	out := make([]Result, len(endpoints))
	next := make(chan int)
	var mu sync.Mutex
	done := 0
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = s.handshake(ctx, endpoints[i], pool)
				mu.Lock()
				done++
				if progress != nil {
					progress(done, len(endpoints))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range endpoints {
		if ctx.Err() != nil {
			out[i] = Result{Endpoint: endpoints[i], Err: ctx.Err(), Error: "scan interrupted", At: s.now()}
			continue
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// pool is the trust anchors: the system pool (unless NoSystemRoots) and
// Roots.
func (s *Scanner) pool() *x509.CertPool {
	p := x509.NewCertPool()
	if !s.NoSystemRoots {
		if sys, err := x509.SystemCertPool(); err == nil {
			p = sys.Clone()
		}
	}
	for _, r := range s.Roots {
		p.AddCert(r)
	}
	return p
}

// clientConfig collects whatever the server presents: verification is
// done apart (Check), and old versions and cipher suites are offered so
// that legacy servers are found too (crypto/tls never offers SSL 3.0).
func clientConfig(sni string) *tls.Config {
	suites := []uint16{}
	for _, c := range tls.CipherSuites() {
		suites = append(suites, c.ID)
	}
	for _, c := range tls.InsecureCipherSuites() {
		suites = append(suites, c.ID)
	}
	return &tls.Config{
		ServerName:         sni,
		InsecureSkipVerify: true, // collect only: Check verifies against the pool
		MinVersion:         tls.VersionTLS10,
		CipherSuites:       suites,
	}
}

func (s *Scanner) handshake(ctx context.Context, e Endpoint, pool *x509.CertPool) Result {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	res := Result{Endpoint: e}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := s.dial(hctx, e)
	res.At = s.now()
	if err != nil {
		res.Err, res.Error = err, errorText(err, timeout, ctx)
		return res
	}
	defer conn.Close()
	st := conn.ConnectionState()
	if len(st.PeerCertificates) == 0 {
		res.Err = errors.New("no certificate")
		res.Error = "the server presented no certificate"
		return res
	}
	res.Chain = st.PeerCertificates
	res.TLSVersion = tls.VersionName(st.Version)
	res.CipherSuite = tls.CipherSuiteName(st.CipherSuite)
	sum := sha256.Sum256(res.Chain[0].Raw)
	res.Fingerprint = hex.EncodeToString(sum[:])
	res.Checks = Check(res.Chain, e.SNI, pool, s.Intermediates, res.At)
	return res
}

// dial connects to e and completes the TLS handshake, after the
// STARTTLS exchange of e's port if it has one (startTLSFor). ctx bounds
// all of it.
func (s *Scanner) dial(ctx context.Context, e Endpoint) (*tls.Conn, error) {
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", e.Addr())
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	// The deadline bounds each read and write; closing the connection
	// when ctx ends stops them at once when the scan is cancelled.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	fail := func(err error) (*tls.Conn, error) {
		raw.Close()
		if ctx.Err() != nil {
			// The deadline or the cancellation closed the connection:
			// say so rather than "use of closed network connection".
			return nil, fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, err
	}
	if proto := s.startTLSFor(e.Port); proto != "" {
		if err := startTLS(ctx, raw, proto, e.Host); err != nil {
			return fail(err)
		}
	}
	conn := tls.Client(raw, clientConfig(e.SNI))
	if err := conn.HandshakeContext(ctx); err != nil {
		return fail(err)
	}
	_ = raw.SetDeadline(time.Time{})
	return conn, nil
}

// errorText is the one-line reason of a failed handshake.
func errorText(err error, timeout time.Duration, parent context.Context) string {
	var rh tls.RecordHeaderError
	var alert tls.AlertError
	var ne net.Error
	switch {
	case parent.Err() != nil:
		return "scan interrupted"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset during the TLS handshake"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case errors.As(err, &rh):
		return "not a TLS server (its first bytes are no TLS record)"
	case errors.As(err, &alert):
		return "TLS handshake refused by the server: " + strings.TrimPrefix(alert.Error(), "tls: ")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("timed out after %s", timeout)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed during the TLS handshake"
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "cannot resolve " + dns.Name + ": " + dns.Err
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return strings.TrimPrefix(op.Err.Error(), "tls: ")
	}
	return strings.TrimPrefix(err.Error(), "tls: ")
}

// Check judges a served chain (leaf first) for server name sni ("" for
// none) against the trust anchors of pool at time at: trusted (the chain
// verifies to a root), incomplete (known, certgate's intermediates
// complete it, or a lone leaf that is not self-issued does not verify),
// expired (the leaf), name mismatch (the leaf is not for sni), self-signed.
func Check(chain []*x509.Certificate, sni string, pool *x509.CertPool, known []*x509.Certificate, at time.Time) Checks {
	leaf := chain[0]
	var c Checks
	c.Expired = at.After(leaf.NotAfter)
	c.SelfSigned = bytes.Equal(leaf.RawIssuer, leaf.RawSubject) && leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) == nil
	if sni != "" {
		c.NameMismatch = leaf.VerifyHostname(sni) != nil
	}
	served := x509.NewCertPool()
	for _, ic := range chain[1:] {
		served.AddCert(ic)
	}
	verify := func(inter *x509.CertPool, t time.Time) error {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: t,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		return err
	}
	// Completeness, and whether a root is reached at all, are judged
	// inside the leaf's validity, apart from expiry.
	mid := leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2)
	midErr := verify(served, mid)
	if err := verify(served, at); err != nil {
		// An expired (or not yet valid) leaf whose chain reaches no root
		// even inside its validity: that is the trust error, expiry has
		// its own check.
		var ua x509.UnknownAuthorityError
		if errors.As(midErr, &ua) {
			err = midErr
		}
		c.TrustError = strings.TrimPrefix(err.Error(), "x509: ")
	} else {
		c.Trusted = true
	}
	if midErr != nil {
		withKnown := served.Clone()
		for _, k := range known {
			withKnown.AddCert(k)
		}
		selfIssued := bytes.Equal(leaf.RawIssuer, leaf.RawSubject)
		c.Incomplete = (len(known) > 0 && verify(withKnown, mid) == nil) || (len(chain) == 1 && !selfIssued)
	}
	return c
}

// UnknownAuthority reports whether trustError, a Checks.TrustError or a
// finding's trust_error, says that the served chain reaches no trusted
// root (crypto/x509's UnknownAuthorityError), as opposed to expiry or
// another fault.
func UnknownAuthority(trustError string) bool {
	return strings.HasPrefix(trustError, "certificate signed by unknown authority")
}
