package server

import (
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// writeChunk is the most a connection writes under one deadline, in
// bytes: 64 KiB. A longer write (a plain-HTTP answer written in one piece)
// is written in pieces of this size, each with a deadline of its own, so
// that the write bound is one on progress: a client must take each 64 KiB
// within the bound, not the whole answer. A TLS record is at most 16 KiB
// and its overhead, so an HTTPS connection writes its records as they are.
const writeChunk = 64 << 10

// limits are the timeouts of a listener's http.Server (Options, with the
// defaults filled in).
type limits struct {
	body, idle, write time.Duration
}

// limits returns the timeouts of o, each zero one replaced by its default
// (DefaultBodyReadTimeout, DefaultIdleTimeout, DefaultWriteProgressTimeout).
func (o Options) limits() limits {
	l := limits{body: o.BodyReadTimeout, idle: o.IdleTimeout, write: o.WriteProgressTimeout}
	if l.body <= 0 {
		l.body = DefaultBodyReadTimeout
	}
	if l.idle <= 0 {
		l.idle = DefaultIdleTimeout
	}
	if l.write <= 0 {
		l.write = DefaultWriteProgressTimeout
	}
	return l
}

// newHTTPServer returns the http.Server of one listener (listen's HTTPS or
// plain-HTTP side, admin-listen's, metrics-listen, a perspective's) serving
// h, over TLS when tlsCfg is set: headers within 10 s (ReadHeaderTimeout),
// the whole request within l.body (ReadTimeout), a keep-alive connection's
// next request within l.idle (IdleTimeout), headers of at most
// MaxHeaderBytes, and the write bound of l.write on HTTP/2 streams
// (boundStreamWrites; a connection's own writes are bound by the listener,
// boundWrites). It has no WriteTimeout: that is a deadline on the whole
// answer from the end of the request's headers, which would cut a long
// answer to a client that reads it (a large certificate list, a CRL) and
// an answer whose handler works long before it writes.
func newHTTPServer(h http.Handler, tlsCfg *tls.Config, l limits, errLog *log.Logger) *http.Server {
	return &http.Server{Handler: boundStreamWrites(h, l.write), TLSConfig: tlsCfg,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: l.body, IdleTimeout: l.idle,
		MaxHeaderBytes: MaxHeaderBytes, ErrorLog: errLog}
}

// boundWrites returns ln whose connections bound each of their writes
// (progressConn): a write of at most writeChunk bytes that the client does
// not take within d fails, and the connection with it. Wrapped below TLS,
// it bounds every byte a connection sends: TLS handshakes, answers, the
// errors net/http writes itself, and answers to pipelined requests, however
// small each is.
func boundWrites(ln net.Listener, d time.Duration) net.Listener {
	return &progressListener{Listener: ln, d: d}
}

type progressListener struct {
	net.Listener
	d time.Duration
}

func (l *progressListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &progressConn{Conn: c, d: l.d}, nil
}

// progressConn is a connection each of whose writes of at most writeChunk
// bytes must complete within d: Write sets the write deadline to now + d
// before each piece, so a client that reads, however slowly, is never cut,
// and one that stops reading has its connection fail within d of its last
// progress. A deadline set from above (crypto/tls's 5 s for close_notify,
// net/http's TLS handshake timeout, a handler's http.ResponseController)
// still applies when it is earlier. Once a write has timed out, the stream
// holds part of a record or answer, so every later write fails at once
// (crypto/tls's close_notify would otherwise wait again).
type progressConn struct {
	net.Conn
	d      time.Duration
	limit  atomic.Int64 // the write deadline set from above, in Unix nanoseconds; 0: none
	failed atomic.Bool  // a write timed out
}

func (c *progressConn) Write(p []byte) (int, error) {
	if c.failed.Load() {
		return 0, os.ErrDeadlineExceeded
	}
	if len(p) == 0 {
		return c.Conn.Write(p)
	}
	n := 0
	for len(p) > 0 {
		piece := p[:min(len(p), writeChunk)]
		dl := time.Now().Add(c.d)
		if lim := c.limit.Load(); lim != 0 && lim < dl.UnixNano() {
			dl = time.Unix(0, lim)
		}
		if err := c.Conn.SetWriteDeadline(dl); err != nil {
			return n, err
		}
		m, err := c.Conn.Write(piece)
		n += m
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.failed.Store(true)
			}
			return n, err
		}
		p = p[m:]
	}
	return n, nil
}

// SetWriteDeadline records t as the limit of the following writes. A zero
// t (net/http clears the deadline after each answer) is only recorded:
// each write sets its own deadline. Another t is also applied at once, so
// that it can cut a write in progress.
func (c *progressConn) SetWriteDeadline(t time.Time) error {
	c.setLimit(t)
	if t.IsZero() {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline sets the read deadline and records t as SetWriteDeadline
// does.
func (c *progressConn) SetDeadline(t time.Time) error {
	c.setLimit(t)
	return c.Conn.SetDeadline(t)
}

// CloseWrite shuts down the writing side of a TCP connection, as net/http
// does before it closes one whose request body it did not read whole (so
// that its answer is not lost to a reset); an error for other connections.
func (c *progressConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

func (c *progressConn) setLimit(t time.Time) {
	if t.IsZero() {
		c.limit.Store(0)
	} else {
		c.limit.Store(t.UnixNano())
	}
}

// boundStreamWrites returns h with the write bound d on its HTTP/2 answers
// (streamWriter); HTTP/1.x requests go to h as they are (their connection
// bounds its writes, progressConn). An HTTP/2 stream's writes wait for the
// client's flow-control window, not for the connection: a client that
// stops granting window (sends no WINDOW_UPDATE) while the connection stays
// open would hold the handler for ever.
func boundStreamWrites(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			h.ServeHTTP(w, r)
			return
		}
		sw := &streamWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: d}
		h.ServeHTTP(sw, r)
		// What the handler left in the stream's buffer is written after it
		// returns.
		sw.extend()
	})
}

// streamWriter sets its stream's write deadline (http.ResponseController,
// which resets the stream when it passes) to now + d before each piece of
// at most writeChunk bytes it writes and before each Flush.
type streamWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *streamWriter) extend() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.d)) }

func (w *streamWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return w.ResponseWriter.Write(p)
	}
	n := 0
	for len(p) > 0 {
		piece := p[:min(len(p), writeChunk)]
		w.extend()
		m, err := w.ResponseWriter.Write(piece)
		n += m
		if err != nil {
			return n, err
		}
		p = p[m:]
	}
	return n, nil
}

// Flush sends what is buffered, within d.
func (w *streamWriter) Flush() {
	w.extend()
	_ = w.rc.Flush()
}

// Unwrap returns the wrapped writer (for http.ResponseController).
func (w *streamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
