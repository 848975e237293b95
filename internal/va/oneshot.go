package va

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"time"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// maxResponseHeaderBytes bounds the status line and header of an http-01
// response, 1xx responses before it included (what net/http's Transport
// calls MaxResponseHeaderBytes).
const maxResponseHeaderBytes = 16 << 10

// oneShotTransport is the http.RoundTripper of http-01: each request
// goes on a connection of its own, dialled by dialForHTTP (address
// policy, VA resolver) and closed with the response body. The request is
// written with (*http.Request).Write and the response read with
// http.ReadResponse; http.Client around it follows the redirects
// (checkRedirect), as with an http.Transport.
//
// What it does as net/http's Transport did with the settings http-01
// used (DisableKeepAlives, DisableCompression, no proxy, HTTP/1.1 only,
// MaxResponseHeaderBytes 16 KiB, TLS without verification): the host
// is dialled in its IDNA ASCII form on the URL's port or the scheme's
// (80, 443), https is TLS with that host as ServerName and no ALPN, the
// request says "Connection: close", no Accept-Encoding is added,
// informational 1xx responses other than 101 are skipped, and headers
// over maxResponseHeaderBytes fail the exchange. What it leaves out is
// what serves connection reuse: the connection pool and the dial, read
// and write goroutines of each connection. The exchange is bounded by
// the request's context: its deadline is the connection's, and its
// cancellation ends reads and writes at once. The Transport also
// returned at once when the context ended during the dial, leaving the
// dial to its goroutine; here the dial runs in the caller's goroutine,
// so the lookup (closeOnCancel) and the connect (net.Dialer) end on the
// context themselves, and a lookup the context cut short is reported as
// the context's timeout or cancellation (contextError).
type oneShotTransport struct{ v *VA }

// RoundTrip implements http.RoundTripper.
func (t oneShotTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	u := req.URL
	var port string
	switch u.Scheme {
	case "http":
		port = "80"
	case "https":
		port = "443"
	default:
		return nil, fmt.Errorf("unsupported protocol scheme %q", u.Scheme)
	}
	if p := u.Port(); p != "" {
		port = p
	}
	host := u.Hostname()
	if !isASCII(host) {
		if a, err := idna.Lookup.ToASCII(host); err == nil {
			host = a
		}
	}
	conn, err := t.v.dialForHTTP(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		// A lookup cut short by ctx is the exchange's timeout or
		// cancellation (as the Transport reported it), not a DNS
		// problem. A dialError keeps its address: its detail already
		// says timeout or cancelled (connDetail).
		var de *dialError
		if !errors.As(err, &de) {
			err = contextError(ctx, err)
		}
		return nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(d); err != nil {
			_ = conn.Close()
			return nil, err
		}
	}
	raw := conn
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = raw.Close()
		return nil, contextError(ctx, err)
	}
	if u.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{
			ServerName:         host,
			InsecureSkipVerify: true, //nolint:gosec // RFC 8555 §8.3: https redirect targets may not have a valid certificate yet; the body is the proof.
		})
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(&tlsHandshakeError{err: err})
		}
		conn = tc
	}
	out := req
	if !req.Close {
		r := *req
		r.Close = true
		out = &r
	}
	bw := bufio.NewWriterSize(conn, 1<<10)
	if err := out.Write(bw); err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	lr := &headerLimitReader{r: conn, n: maxResponseHeaderBytes}
	br := bufio.NewReader(lr)
	var resp *http.Response
	for {
		resp, err = http.ReadResponse(br, req)
		if err != nil {
			if lr.n <= 0 {
				err = fmt.Errorf("server response headers exceeded %d bytes; aborted: %w", maxResponseHeaderBytes, err)
			}
			return fail(err)
		}
		if c := resp.StatusCode; c < 100 || c > 199 || c == http.StatusSwitchingProtocols {
			break
		}
	}
	lr.n = math.MaxInt64
	resp.Body = &oneShotBody{body: resp.Body, conn: conn, stop: stop, ctx: ctx}
	return resp, nil
}

// tlsHandshakeError is the failed TLS handshake of an https exchange:
// the one failure of an https URL that is a tls problem (httpFailure);
// what fails after the handshake is a connection problem, as over http.
type tlsHandshakeError struct{ err error }

func (e *tlsHandshakeError) Error() string { return "TLS handshake: " + e.err.Error() }
func (e *tlsHandshakeError) Unwrap() error { return e.err }

// isASCII reports whether s is all ASCII: only other names go through
// IDNA, as net/http's Transport does.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// contextError returns err, or when ctx is done (contextDone; the likely
// cause of err) ctx's error with err's text, so the problem says
// cancelled or timeout.
func contextError(ctx context.Context, err error) error {
	if cerr := contextDone(ctx); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

// contextDone returns ctx.Err(), or context.DeadlineExceeded once ctx's
// deadline has passed though ctx's own timer has not fired yet: a socket
// whose deadline is ctx's fails first.
func contextDone(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// headerLimitReader reads from r until n bytes have been read, then
// fails; n is set back to no limit once the response header is read.
type headerLimitReader struct {
	r io.Reader
	n int64
}

var errHeaderLimit = errors.New("response header read limit exhausted")

func (l *headerLimitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeaderLimit
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// oneShotBody is a response body of oneShotTransport: closing it closes
// the connection (for https the TLS connection, which sends its
// close_notify alert first, as the Transport's did).
type oneShotBody struct {
	body io.ReadCloser
	conn net.Conn
	stop func() bool
	ctx  context.Context
}

func (b *oneShotBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if err != nil && err != io.EOF {
		err = contextError(b.ctx, err)
	}
	return n, err
}

// Close closes the connection first: the body's own Close reads what is
// left of a body to its end (to reuse the connection), which a server
// could make last until the validation's deadline.
func (b *oneShotBody) Close() error {
	b.stop()
	err := b.conn.Close()
	_ = b.body.Close()
	return err
}
