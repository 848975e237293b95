package server

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"time"
)

// splitListener accepts connections on one port and hands each to the TLS
// or the plain-HTTP side by its first byte: a TLS handshake record starts
// with 0x16 (RFC 8446 §5.1). The plain side serves only the CRL and CA
// certificates, which CA/B BR §7.1.2.7.7 and §7.1.2.11.2 want on http://
// URLs, so one port serves both.
type splitListener struct {
	inner     net.Listener
	tls       *chanListener
	plain     *chanListener
	closeOnce sync.Once
	closed    chan struct{} // closed by Close: ends run's backoff
}

func newSplitListener(l net.Listener) *splitListener {
	s := &splitListener{inner: l, tls: newChanListener(l.Addr()), plain: newChanListener(l.Addr()), closed: make(chan struct{})}
	go s.run()
	return s
}

// run hands each accepted connection to route until the inner listener
// fails for good or Close is called. A timeout error from Accept is
// retried after a pause, 5 ms doubling up to 1 s, which Close cuts short.
func (s *splitListener) run() {
	var tempDelay time.Duration
	for {
		c, err := s.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if tempDelay == 0 {
					tempDelay = 5 * time.Millisecond
				} else if tempDelay < time.Second {
					tempDelay *= 2
				}
				t := time.NewTimer(tempDelay)
				select {
				case <-t.C:
				case <-s.closed:
					t.Stop()
					return
				}
				continue
			}
			s.Close()
			return
		}
		tempDelay = 0
		go s.route(c)
	}
}

func (s *splitListener) route(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	b, err := br.Peek(1)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return
	}
	pc := &peekedConn{Conn: c, r: br}
	if b[0] == 0x16 {
		s.tls.deliver(pc)
	} else {
		s.plain.deliver(pc)
	}
}

// Close stops accepting on the port and on both sides.
func (s *splitListener) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		err = s.inner.Close()
		s.tls.Close()
		s.plain.Close()
	})
	return err
}

type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// chanListener is a net.Listener fed by splitListener.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
