package va

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/certgate/certgate/internal/cputime"
)

// funcServer is a miekg/dns server on loopback UDP whose answers come from
// handle; it records the source port of every query.
type funcServer struct {
	addr string

	mu    sync.Mutex
	ports map[int]int // source port → queries received from it
	n     atomic.Int64
}

func startFuncServer(t testing.TB, handle func(w dns.ResponseWriter, req *dns.Msg)) *funcServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &funcServer{addr: pc.LocalAddr().String(), ports: map[int]int{}}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
			s.n.Add(1)
			s.mu.Lock()
			s.ports[w.RemoteAddr().(*net.UDPAddr).Port]++
			s.mu.Unlock()
			handle(w, req)
		})}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return s
}

// portUses returns the number of distinct source ports and the most
// queries seen from one.
func (s *funcServer) portUses() (ports, most int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.ports {
		most = max(most, n)
	}
	return len(s.ports), most
}

// nameIP answers A queries for "hI-J.<anything>" with 10.0.I.J, so each
// lookup can check it got the answer to its own question.
func nameIP(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	q := req.Question[0]
	var i, j int
	if _, err := fmt.Sscanf(q.Name, "h%d-%d.", &i, &j); err == nil && q.Qtype == dns.TypeA {
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
			A: net.IPv4(10, 0, byte(i), byte(j))})
	}
	_ = w.WriteMsg(m)
}

func newTestResolver(t testing.TB, opts ResolverOptions, now func() time.Time) *dnsResolver {
	t.Helper()
	if opts.QueryTimeout == 0 {
		opts.QueryTimeout = time.Second
	}
	return newDNSResolver(opts, now)
}

// TestUDPSocketReuse: concurrent lookups share a few sockets, each lookup
// gets the answer to its own question, and no socket sends more than
// udpConnMaxUses queries.
func TestUDPSocketReuse(t *testing.T) {
	s := startFuncServer(t, nameIP)
	r := newTestResolver(t, ResolverOptions{Servers: []string{s.addr}}, time.Now)
	const workers, each = 8, 60
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				rrs, err := r.query(t.Context(), fmt.Sprintf("h%d-%d.reuse.test", i, j), dns.TypeA)
				if err != nil {
					errs <- err
					continue
				}
				want := net.IPv4(10, 0, byte(i), byte(j))
				if len(rrs) != 1 || !rrs[0].(*dns.A).A.Equal(want) {
					errs <- fmt.Errorf("h%d-%d: got %v, want %v", i, j, rrs, want)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ports, most := s.portUses()
	if total := int(s.n.Load()); total != workers*each {
		t.Errorf("server saw %d queries, want %d", total, workers*each)
	}
	// One socket per concurrent query at most, plus replacements of
	// used-up sockets.
	if limit := workers + workers*each/udpConnMaxUses + 1; ports > limit {
		t.Errorf("%d queries came from %d source ports, want at most %d", workers*each, ports, limit)
	}
	if most > udpConnMaxUses {
		t.Errorf("a socket sent %d queries, want at most %d", most, udpConnMaxUses)
	}
	if n := r.pools[s.addr].idleCount(); n == 0 || n > udpConnMaxIdle {
		t.Errorf("%d idle sockets after the lookups, want 1..%d", n, udpConnMaxIdle)
	}
}

// TestUDPAnswerOutlivesBuffer: an answer read on a pooled socket stays as
// it was after later answers were read into the same socket's buffer.
func TestUDPAnswerOutlivesBuffer(t *testing.T) {
	s := startFuncServer(t, nameIP)
	r := newTestResolver(t, ResolverOptions{Servers: []string{s.addr}}, time.Now)
	first, err := r.query(t.Context(), "h1-1.outlive.test", dns.TypeA)
	if err != nil || len(first) != 1 {
		t.Fatalf("first: %v, %v", first, err)
	}
	for j := 2; j < 6; j++ {
		if _, err := r.query(t.Context(), fmt.Sprintf("h200-%d.other.test", j), dns.TypeA); err != nil {
			t.Fatal(err)
		}
	}
	if ports, _ := s.portUses(); ports != 1 {
		t.Fatalf("%d source ports; want the five queries on one socket", ports)
	}
	a := first[0].(*dns.A)
	if a.Hdr.Name != "h1-1.outlive.test." || !a.A.Equal(net.IPv4(10, 0, 1, 1)) {
		t.Errorf("first answer after four more on its socket: %v", a)
	}
}

// TestUDPSocketLimits: a socket is replaced after udpConnMaxUses queries
// and after udpConnMaxAge.
func TestUDPSocketLimits(t *testing.T) {
	s := startFuncServer(t, nameIP)
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r := newTestResolver(t, ResolverOptions{Servers: []string{s.addr}}, clock)
	for j := range udpConnMaxUses + 1 {
		if _, err := r.query(t.Context(), fmt.Sprintf("h1-%d.limits.test", j%250), dns.TypeA); err != nil {
			t.Fatal(err)
		}
	}
	if ports, most := s.portUses(); ports != 2 || most != udpConnMaxUses {
		t.Errorf("%d queries in a row: %d ports, at most %d queries per port; want 2 and %d", udpConnMaxUses+1, ports, most, udpConnMaxUses)
	}
	mu.Lock()
	now = now.Add(udpConnMaxAge)
	mu.Unlock()
	if _, err := r.query(t.Context(), "h1-1.limits.test", dns.TypeA); err != nil {
		t.Fatal(err)
	}
	if ports, _ := s.portUses(); ports != 3 {
		t.Errorf("after udpConnMaxAge: %d ports, want a new socket (3)", ports)
	}
}

// TestUDPSocketDroppedAfterFailure: after a timeout, the socket that may
// still receive the late answer is closed, and the next query works; a
// datagram with another ID is skipped (miekg/dns), an answer to another
// question is refused and its socket closed.
func TestUDPSocketDroppedAfterFailure(t *testing.T) {
	s := startFuncServer(t, func(w dns.ResponseWriter, req *dns.Msg) {
		q := req.Question[0]
		switch {
		case strings.HasPrefix(q.Name, "drop."):
			return
		case strings.HasPrefix(q.Name, "wrongid."):
			m := new(dns.Msg)
			m.SetReply(req)
			m.Id = req.Id + 1
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(10, 9, 9, 9)}}
			_ = w.WriteMsg(m) // skipped by the client
			nameIP(w, req)
		case strings.HasPrefix(q.Name, "otherq."):
			m := new(dns.Msg)
			m.SetReply(req)
			m.Question[0].Name = "h9-9.elsewhere.test."
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "h9-9.elsewhere.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(10, 9, 9, 9)}}
			_ = w.WriteMsg(m)
		default:
			nameIP(w, req)
		}
	})
	r := newTestResolver(t, ResolverOptions{Servers: []string{s.addr}, QueryTimeout: 200 * time.Millisecond}, time.Now)
	pool := r.pools[s.addr]
	ok := func(name string) {
		t.Helper()
		if rrs, err := r.query(t.Context(), name, dns.TypeA); err != nil || len(rrs) != 1 {
			t.Fatalf("%s: %v %v", name, rrs, err)
		}
	}
	ok("h1-1.x.test")
	if pool.idleCount() != 1 {
		t.Fatalf("idle sockets %d, want 1", pool.idleCount())
	}
	if _, err := r.query(t.Context(), "drop.x.test", dns.TypeA); err == nil || !lookupErr(t, err).Timeout {
		t.Fatalf("dropped query: %v, want a timeout", err)
	}
	if pool.idleCount() != 0 {
		t.Errorf("the socket of a timed-out query was kept")
	}
	ok("h1-2.x.test")
	rrs, err := r.query(t.Context(), "wrongid.h1-3.x.test", dns.TypeA)
	if err != nil || len(rrs) != 0 && rrs[0].(*dns.A).A.Equal(net.IPv4(10, 9, 9, 9)) {
		t.Errorf("wrong-ID datagram: got %v, %v; want it skipped", rrs, err)
	}
	idle := pool.idleCount()
	_, err = r.query(t.Context(), "otherq.x.test", dns.TypeA)
	if err == nil || !strings.Contains(err.Error(), "not for the query's") {
		t.Errorf("answer to another question: %v, want refused", err)
	}
	if pool.idleCount() >= idle {
		t.Errorf("the socket of a mismatched answer was kept")
	}
	ok("h1-4.x.test")
}

// BenchmarkResolverLookups: the lookups of one http-01 validation and CAA
// check of a name two labels under its registered domain (A, AAAA, CAA of
// the name and its two parents), with a socket per query and with reused
// sockets. The DNS server runs in the same process, so cpu-µs/op includes
// its work (the same in both).
func BenchmarkResolverLookups(b *testing.B) {
	s := startFuncServer(b, nameIP)
	for _, pooled := range []bool{false, true} {
		b.Run(fmt.Sprintf("pooled=%v", pooled), func(b *testing.B) {
			r := newTestResolver(b, ResolverOptions{Servers: []string{s.addr}, CAACacheTTL: -1}, time.Now)
			if !pooled {
				r.pools = nil
			}
			ctx := b.Context()
			b.ReportAllocs()
			start := cputime.Process()
			b.ResetTimer()
			for i := range b.N {
				name := fmt.Sprintf("h%d-%d.bench.test", i/256%256, i%256)
				if _, err := r.LookupIPs(ctx, name); err != nil {
					b.Fatal(err)
				}
				if _, _, err := relevantCAA(ctx, r, name); err != nil {
					b.Fatal(err)
				}
			}
			cputime.ReportPerOp(b, start)
		})
	}
}

// TestUDPSocketCancelledContext: a lookup whose context is already
// cancelled fails at once, as with a socket per query (whose dial saw the
// context), instead of sending the query on an idle socket and waiting
// for the query timeout when no answer comes.
func TestUDPSocketCancelledContext(t *testing.T) {
	s := startFuncServer(t, func(w dns.ResponseWriter, req *dns.Msg) {
		if strings.HasPrefix(req.Question[0].Name, "drop.") {
			return
		}
		nameIP(w, req)
	})
	r := newTestResolver(t, ResolverOptions{Servers: []string{s.addr}, QueryTimeout: 2 * time.Second}, time.Now)
	if _, err := r.query(t.Context(), "h1-1.x.test", dns.TypeA); err != nil {
		t.Fatal(err)
	}
	if r.pools[s.addr].idleCount() != 1 {
		t.Fatal("no idle socket")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	before := s.n.Load()
	start := time.Now()
	_, err := r.query(ctx, "drop.x.test", dns.TypeA)
	if err == nil {
		t.Fatal("a cancelled lookup succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a cancelled lookup took %v, want it to fail at once", d)
	}
	if n := s.n.Load() - before; n != 0 {
		t.Errorf("a cancelled lookup sent %d queries", n)
	}
	if r.pools[s.addr].idleCount() != 1 {
		t.Error("the idle socket was lost to a cancelled lookup")
	}
}

// TestUDPSocketReuseUnderFaults: concurrent lookups on reused sockets
// while the server drops some queries, answers some after the query
// timeout (late answers to sockets that may be reused) and answers some
// twice (the duplicate stays queued on a healthy socket): every lookup
// that succeeds has the answer to its own question.
func TestUDPSocketReuseUnderFaults(t *testing.T) {
	var seq atomic.Int64
	s := startFuncServer(t, func(w dns.ResponseWriter, req *dns.Msg) {
		switch seq.Add(1) % 10 {
		case 0: // dropped
		case 1: // late
			time.Sleep(150 * time.Millisecond)
			nameIP(w, req)
		case 2, 3: // twice
			nameIP(w, req)
			nameIP(w, req)
		default:
			nameIP(w, req)
		}
	})
	r := newTestResolver(t, ResolverOptions{Servers: []string{s.addr}, QueryTimeout: 100 * time.Millisecond}, time.Now)
	const workers, each = 8, 80
	var wg sync.WaitGroup
	var okCount atomic.Int64
	errs := make(chan error, workers*each)
	for i := range workers {
		wg.Go(func() {
			for j := range each {
				rrs, err := r.query(t.Context(), fmt.Sprintf("h%d-%d.faults.test", i, j), dns.TypeA)
				if err != nil {
					continue // dropped or late: a timeout
				}
				want := net.IPv4(10, 0, byte(i), byte(j))
				if len(rrs) != 1 || !rrs[0].(*dns.A).A.Equal(want) {
					errs <- fmt.Errorf("h%d-%d: got %v, want %v", i, j, rrs, want)
					continue
				}
				okCount.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := okCount.Load(); n < workers*each/2 {
		t.Errorf("only %d of %d lookups succeeded", n, workers*each)
	}
}

// TestReuseSocketsOnlyForLocalResolvers: sockets (and their source ports)
// are reused only for resolvers on loopback or private addresses; a
// resolver elsewhere, or named by host name, gets a socket per query.
func TestReuseSocketsOnlyForLocalResolvers(t *testing.T) {
	for server, want := range map[string]bool{
		"127.0.0.1:53": true, "[::1]:53": true, "10.1.2.3:53": true, "192.168.0.1:5353": true,
		"172.16.0.10:53": true, "[fd00::53]:53": true, "[::ffff:127.0.0.1]:53": true,
		"8.8.8.8:53": false, "[2001:4860:4860::8888]:53": false, "100.64.0.1:53": false,
		"dns.example:53": false, "127.0.0.1": false,
	} {
		if got := reuseSockets(server); got != want {
			t.Errorf("reuseSockets(%q) = %v, want %v", server, got, want)
		}
		r := newDNSResolver(ResolverOptions{Servers: []string{server}, QueryTimeout: time.Second}, time.Now)
		if got := r.pools[server] != nil; got != want {
			t.Errorf("resolver for %q keeps a socket pool: %v, want %v", server, got, want)
		}
	}
}

// TestLookupCancelledWhileWaiting: a lookup whose context is cancelled
// while it waits for an answer ends at once, on a pooled socket, on a
// socket of its own (miekg/dns only takes a context's deadline) and on
// the TCP fallback after a truncated answer, instead of at the query
// timeout; the pooled socket is not kept.
func TestLookupCancelledWhileWaiting(t *testing.T) {
	for _, mode := range []string{"pooled", "own socket", "tcp fallback"} {
		t.Run(mode, func(t *testing.T) {
			s := startFuncServer(t, func(w dns.ResponseWriter, req *dns.Msg) {
				if strings.HasPrefix(req.Question[0].Name, "drop.") {
					return
				}
				if strings.HasPrefix(req.Question[0].Name, "tc.") {
					m := new(dns.Msg)
					m.SetReply(req)
					m.Truncated = true
					_ = w.WriteMsg(m)
					return
				}
				nameIP(w, req)
			})
			name := "drop.x.test"
			if mode == "tcp fallback" {
				// A TCP server on the same port that accepts and never answers.
				ln, err := net.Listen("tcp", s.addr)
				if err != nil {
					t.Skipf("cannot listen on tcp %s: %v", s.addr, err)
				}
				var wg sync.WaitGroup
				var mu sync.Mutex
				var conns []net.Conn
				t.Cleanup(func() {
					_ = ln.Close()
					mu.Lock()
					for _, c := range conns {
						_ = c.Close()
					}
					mu.Unlock()
					wg.Wait()
				})
				wg.Go(func() {
					for {
						c, err := ln.Accept()
						if err != nil {
							return
						}
						mu.Lock()
						conns = append(conns, c)
						mu.Unlock()
					}
				})
				name = "tc.x.test"
			}
			r := newTestResolver(t, ResolverOptions{Servers: []string{s.addr}, QueryTimeout: 5 * time.Second}, time.Now)
			if mode == "own socket" {
				r.pools = nil
			}
			if _, err := r.query(t.Context(), "h1-1.x.test", dns.TypeA); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			before := s.n.Load()
			go func() {
				for s.n.Load() == before && ctx.Err() == nil {
					time.Sleep(time.Millisecond)
				}
				time.Sleep(20 * time.Millisecond) // the UDP answer read, for the TCP fallback
				cancel()
			}()
			start := time.Now()
			_, err := r.query(ctx, name, dns.TypeA)
			if err == nil {
				t.Fatal("a cancelled lookup succeeded")
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("a lookup cancelled while waiting took %v, want it to end at once", d)
			}
			if mode == "pooled" && r.pools[s.addr].idleCount() != 0 {
				t.Error("the socket of a cancelled query was kept")
			}
		})
	}
}
