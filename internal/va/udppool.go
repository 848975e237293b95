package va

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Reuse of UDP sockets for DNS queries. Opening a socket per query
// (socket, connect, close, and a goroutine and buffers in the runtime's
// poller) was about half of the CPU of a lookup; a resolver now keeps a
// few connected UDP sockets per server and sends each query on one that
// is idle. One query is in flight per socket at a time, so an answer is
// only ever read by the query that owns the socket.
//
// What stays as with a socket per query: the query ID is random for each
// query (dns.Msg.SetQuestion), an answer must carry the query's ID
// (miekg/dns skips datagrams with another ID, e.g. a late answer to an
// earlier query) and the query's question (checkQuestion), and a
// connected socket only accepts datagrams from the server's address.
// What changes: the source port is the same for the queries of one
// socket. A socket is therefore used for at most udpConnMaxUses queries
// and udpConnMaxAge, and dropped after any failure (timeout, network
// error, an answer that does not match): an attacker off the path to the
// resolver must guess the ID of one query while the port is valid for a
// bounded number of queries only. The resolver is meant to be reached
// over a trusted path anyway (the loopback or the CA's own network, as
// RFC 4035 §4.9.3 asks of a resolver whose AD bit is trusted).
const (
	// udpConnMaxIdle is how many idle sockets a resolver keeps per
	// server; a burst of more concurrent queries opens more sockets,
	// which are closed after their query.
	udpConnMaxIdle = 16
	// udpConnMaxUses is how many queries one socket sends before it is
	// closed.
	udpConnMaxUses = 100
	// udpConnMaxAge is how long after it was opened a socket is used.
	udpConnMaxAge = 30 * time.Second
)

// udpPool holds the idle connected UDP sockets to one server. It is safe
// for concurrent use.
type udpPool struct {
	server string
	now    func() time.Time

	mu     sync.Mutex
	idle   []*udpConn // most recently used last
	closed bool       // set by close: keep nothing idle
}

// udpConn is a connected UDP socket with its use count.
type udpConn struct {
	conn   *dns.Conn
	uses   int
	opened time.Time
	buf    []byte // the socket's receive buffer, reused by each exchange
}

// exchange sends m on c and returns the answer with m's ID, as
// dns.Client.ExchangeWithConnContext does for a packet connection: the
// deadline of the write and of the reads is timeout from now or ctx's
// deadline, whichever is earlier, a datagram with another ID (say, a late
// answer to an earlier query) is skipped, and the answer is read into a
// buffer of the size m's EDNS0 record advertises (dns.MinMsgSize without
// one). Unlike the client, it reads every answer into c's own buffer
// instead of a new one: dns.Msg.Unpack copies what it keeps. Unlike the
// client too, it ends as soon as ctx is cancelled (closeOnCancel), and
// then fails, so that the socket is not reused.
func (c *udpConn) exchange(ctx context.Context, m *dns.Msg, timeout time.Duration) (resp *dns.Msg, err error) {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if stop := closeOnCancel(ctx, c.conn); stop != nil {
		defer func() {
			if !stop() && err == nil {
				// The cancellation's deadline may be set after this
				// returns: the socket must not go back to the pool.
				resp, err = nil, fmt.Errorf("query: %w", ctx.Err())
			}
		}()
	}
	if err := c.conn.WriteMsg(m); err != nil {
		return nil, err
	}
	size := dns.MinMsgSize
	if opt := m.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
		size = int(opt.UDPSize())
	}
	if len(c.buf) < size {
		c.buf = make([]byte, size)
	}
	for {
		n, err := c.conn.Read(c.buf[:size])
		if err != nil {
			return nil, err
		}
		if n < dnsHeaderSize {
			return nil, dns.ErrShortRead
		}
		r := new(dns.Msg)
		if err := r.Unpack(c.buf[:n]); err != nil {
			return nil, err
		}
		if r.Id == m.Id {
			return r, nil
		}
	}
}

// closeOnCancel makes conn's reads and writes fail at once when ctx is
// cancelled (a deadline in the past), which miekg/dns does not do: it
// only takes ctx's deadline. It returns the function that undoes it
// (false when the cancellation has already begun), or nil when ctx
// cannot be cancelled.
func closeOnCancel(ctx context.Context, conn net.Conn) func() bool {
	if ctx.Done() == nil {
		return nil
	}
	return context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
}

// exchangeCancellable is c.ExchangeContext that also ends when ctx is
// cancelled (closeOnCancel), on a connection of its own.
func exchangeCancellable(ctx context.Context, c *dns.Client, m *dns.Msg, server string) (*dns.Msg, error) {
	co, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer func() { _ = co.Close() }()
	if stop := closeOnCancel(ctx, co); stop != nil {
		defer stop()
	}
	resp, _, err := c.ExchangeWithConnContext(ctx, m, co)
	return resp, err
}

// dnsHeaderSize is the length of a DNS message header (RFC 1035 §4.1.1).
const dnsHeaderSize = 12

func newUDPPool(server string, now func() time.Time) *udpPool {
	return &udpPool{server: server, now: now}
}

// get returns an idle socket that may still be used, or a new one. It
// fails when ctx is done, as dialling a new socket would: an idle socket
// would otherwise send the query of a cancelled lookup (and be dropped
// when exchange then notices the cancellation).
func (p *udpPool) get(ctx context.Context) (*udpConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("query to %s: %w", p.server, err)
	}
	now := p.now()
	var stale []*udpConn
	var c *udpConn
	p.mu.Lock()
	for len(p.idle) > 0 {
		last := p.idle[len(p.idle)-1]
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		if now.Sub(last.opened) < udpConnMaxAge {
			c = last
			break
		}
		stale = append(stale, last)
	}
	p.mu.Unlock()
	for _, s := range stale {
		_ = s.conn.Close()
	}
	if c != nil {
		return c, nil
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "udp", p.server)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", p.server, err)
	}
	return &udpConn{conn: &dns.Conn{Conn: nc}, opened: now}, nil
}

// put hands c back after one query. healthy is false after any failure:
// the socket is closed, as it is when it has been used up or the pool
// has enough idle sockets.
func (p *udpPool) put(c *udpConn, healthy bool) {
	c.uses++
	if healthy && c.uses < udpConnMaxUses && p.now().Sub(c.opened) < udpConnMaxAge {
		p.mu.Lock()
		if !p.closed && len(p.idle) < udpConnMaxIdle {
			p.idle = append(p.idle, c)
			c = nil
		}
		p.mu.Unlock()
	}
	if c != nil {
		_ = c.conn.Close()
	}
}

// close closes the idle sockets; sockets handed back later are closed.
func (p *udpPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		_ = c.conn.Close()
	}
}

// idleCount returns how many sockets are idle (for tests).
func (p *udpPool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// errQuestionMismatch is the error of an answer whose question is not the
// query's.
type errQuestionMismatch struct{ got, want dns.Question }

func (e *errQuestionMismatch) Error() string {
	return fmt.Sprintf("answer is for %s %s, not for the query's %s %s",
		e.got.Name, dns.TypeToString[e.got.Qtype], e.want.Name, dns.TypeToString[e.want.Qtype])
}

// checkQuestion refuses an answer whose question section is not the
// query's (name compared case-insensitively, type and class): with the ID
// this is what ties an answer to its query. An answer without a question
// section (some servers leave it out of error answers) is let through, as
// miekg/dns does.
func checkQuestion(q, resp *dns.Msg) error {
	if len(resp.Question) == 0 {
		return nil
	}
	want, got := q.Question[0], resp.Question[0]
	if len(resp.Question) != 1 || got.Qtype != want.Qtype || got.Qclass != want.Qclass || !equalFoldASCII(got.Name, want.Name) {
		return &errQuestionMismatch{got: got, want: want}
	}
	return nil
}

// equalFoldASCII compares DNS names case-insensitively in ASCII only
// (RFC 4343 §3).
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
