// Package testdns is an in-process DNS server for tests. It listens on
// 127.0.0.1 (UDP and TCP, same port) and answers from records set by the
// test, behaving like a recursive resolver for its own data: CNAME chains
// are followed inside one answer. Names are case-insensitive and may be
// given with or without the trailing dot. UDP answers larger than the
// client's buffer (512 bytes, or the EDNS0 size) are truncated with TC set,
// so clients can be tested for TCP fallback.
package testdns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// TTL of every record served, in seconds.
const TTL = 60

// Drop is the rcode that, given to SetRcode, makes the server ignore
// queries for a name so that the client times out.
const Drop = -1

// maxChase bounds how many CNAMEs the server follows in one answer.
const maxChase = 16

// CAA is one CAA record (RFC 8659 §4.1).
type CAA struct {
	Flag  uint8  // 128: issuer critical (RFC 8659 §4.1)
	Tag   string // "issue", "issuewild", "iodef", ...
	Value string // e.g. "ca.example; accounturi=..."
}

// Query is one question the server received.
type Query struct {
	Name string // lower case, no trailing dot
	Type string // "A", "TXT", ...
	Net  string // "udp" or "tcp"
}

// Server is a running test DNS server. Its methods are safe for concurrent
// use.
type Server struct {
	addr string
	udp  *dns.Server
	tcp  *dns.Server

	closeOnce sync.Once
	closeErr  error
	done      chan struct{}

	mu          sync.Mutex
	defaultA    net.IP
	defaultAAAA net.IP
	a           map[string][]net.IP
	aaaa        map[string][]net.IP
	txt         map[string][][]string
	cname       map[string]string
	caa         map[string][]CAA
	rcode       map[string]int
	noChase     bool
	queries     []Query
}

// Start listens on 127.0.0.1:0 over UDP and TCP on the same port and serves
// until ctx is done or Close is called. By default every A query is
// answered with 127.0.0.1 and AAAA queries get no answer.
func Start(ctx context.Context) (*Server, error) {
	s := &Server{
		defaultA: net.IPv4(127, 0, 0, 1).To4(),
		a:        map[string][]net.IP{},
		aaaa:     map[string][]net.IP{},
		txt:      map[string][][]string{},
		cname:    map[string]string{},
		caa:      map[string][]CAA{},
		rcode:    map[string]int{},
		done:     make(chan struct{}),
	}
	var pc net.PacketConn
	var ln net.Listener
	var err error
	for range 20 { // the TCP port may be taken: try another UDP port
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testdns: listen udp: %w", err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		_ = pc.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("testdns: listen tcp: %w", err)
	}
	s.addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serveDNS)
	s.udp = &dns.Server{PacketConn: pc, Handler: h}
	s.tcp = &dns.Server{Listener: ln, Handler: h}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

// Addr returns "127.0.0.1:PORT", the address for UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Close stops the server. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.closeErr = errors.Join(s.udp.Shutdown(), s.tcp.Shutdown())
	})
	return s.closeErr
}

func key(name string) string { return strings.ToLower(dns.Fqdn(name)) }

func copyIPs(ips []net.IP) []net.IP {
	out := make([]net.IP, 0, len(ips))
	for _, ip := range ips {
		out = append(out, append(net.IP(nil), ip...))
	}
	return out
}

// SetDefaultA answers every A query for a name without its own A records
// (and without a CNAME) with ip; nil disables the default, so unknown names
// get NXDOMAIN.
func (s *Server) SetDefaultA(ip net.IP) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.defaultA = ip.To4()
}

// SetDefaultAAAA is SetDefaultA for AAAA queries (default: none).
func (s *Server) SetDefaultAAAA(ip net.IP) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ip == nil {
		s.defaultAAAA = nil
		return
	}
	s.defaultAAAA = ip.To16()
}

// SetA replaces the A records of name; no ips removes them.
func (s *Server) SetA(name string, ips ...net.IP) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(ips) == 0 {
		delete(s.a, key(name))
		return
	}
	s.a[key(name)] = copyIPs(ips)
}

// SetAAAA replaces the AAAA records of name; no ips removes them.
func (s *Server) SetAAAA(name string, ips ...net.IP) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(ips) == 0 {
		delete(s.aaaa, key(name))
		return
	}
	s.aaaa[key(name)] = copyIPs(ips)
}

// SetTXT replaces the TXT records of name with one record per value; a
// value longer than 255 bytes is split into several character-strings
// (RFC 1035 §3.3.14).
func (s *Server) SetTXT(name string, values ...string) {
	recs := make([][]string, 0, len(values))
	for _, v := range values {
		var strs []string
		for len(v) > 255 {
			strs = append(strs, v[:255])
			v = v[255:]
		}
		recs = append(recs, append(strs, v))
	}
	s.SetTXTRecords(name, recs...)
}

// SetTXTRecords replaces the TXT records of name; each record is given as
// its character-strings (each at most 255 bytes), e.g. to test clients
// that must concatenate multi-string records.
func (s *Server) SetTXTRecords(name string, records ...[]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(records) == 0 {
		delete(s.txt, key(name))
		return
	}
	cp := make([][]string, len(records))
	for i, r := range records {
		cp[i] = append([]string(nil), r...)
	}
	s.txt[key(name)] = cp
}

// ClearTXT removes the TXT records of name.
func (s *Server) ClearTXT(name string) { s.SetTXTRecords(name) }

// SetCNAME makes name an alias of target; target "" removes the alias.
func (s *Server) SetCNAME(name, target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if target == "" {
		delete(s.cname, key(name))
		return
	}
	s.cname[key(name)] = key(target)
}

// SetCAA replaces the CAA records of name (RFC 8659); none removes them.
// The server does not climb the tree: set records where the client looks.
func (s *Server) SetCAA(name string, records ...CAA) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(records) == 0 {
		delete(s.caa, key(name))
		return
	}
	s.caa[key(name)] = append([]CAA(nil), records...)
}

// SetRcode makes every query for name fail with rcode (e.g.
// dns.RcodeServerFailure), or go unanswered with Drop; dns.RcodeSuccess
// restores normal answers.
func (s *Server) SetRcode(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rcode == dns.RcodeSuccess {
		delete(s.rcode, key(name))
		return
	}
	s.rcode[key(name)] = rcode
}

// SetCNAMEChasing controls whether answers include the records at the end
// of a CNAME chain (on, the default, like a recursive resolver) or only the
// first CNAME (off, like an authoritative server for another zone), to test
// clients that must re-query the target.
func (s *Server) SetCNAMEChasing(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noChase = !on
}

// Queries returns the questions received so far, oldest first.
func (s *Server) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

// exists reports whether name has any data (caller holds mu).
func (s *Server) exists(name string) bool {
	return len(s.a[name]) > 0 || len(s.aaaa[name]) > 0 || len(s.txt[name]) > 0 ||
		s.cname[name] != "" || len(s.caa[name]) > 0 ||
		s.defaultA != nil || s.defaultAAAA != nil
}

// records returns the RRs of qtype at name (caller holds mu).
func (s *Server) records(name string, qtype uint16) []dns.RR {
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: TTL}
	}
	var out []dns.RR
	switch qtype {
	case dns.TypeA:
		ips := s.a[name]
		if len(ips) == 0 && s.defaultA != nil {
			ips = []net.IP{s.defaultA}
		}
		for _, ip := range ips {
			out = append(out, &dns.A{Hdr: hdr(dns.TypeA), A: ip})
		}
	case dns.TypeAAAA:
		ips := s.aaaa[name]
		if len(ips) == 0 && s.defaultAAAA != nil {
			ips = []net.IP{s.defaultAAAA}
		}
		for _, ip := range ips {
			out = append(out, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: ip})
		}
	case dns.TypeTXT:
		for _, r := range s.txt[name] {
			out = append(out, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: append([]string(nil), r...)})
		}
	case dns.TypeCAA:
		for _, c := range s.caa[name] {
			out = append(out, &dns.CAA{Hdr: hdr(dns.TypeCAA), Flag: c.Flag, Tag: c.Tag, Value: c.Value})
		}
	}
	return out
}

func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	network := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}

	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = true

	s.mu.Lock()
	s.queries = append(s.queries, Query{Name: strings.TrimSuffix(name, "."), Type: dns.TypeToString[q.Qtype], Net: network})
	rcode, forced := s.rcode[name]
	if forced && rcode == Drop {
		s.mu.Unlock()
		return
	}
	if forced {
		resp.Rcode = rcode
	} else if q.Qclass != dns.ClassINET {
		resp.Rcode = dns.RcodeRefused
	} else {
		cur := name
		seen := map[string]bool{cur: true}
		for hop := 0; ; hop++ {
			if t := s.cname[cur]; t != "" && q.Qtype != dns.TypeCNAME {
				resp.Answer = append(resp.Answer, &dns.CNAME{
					Hdr:    dns.RR_Header{Name: cur, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: TTL},
					Target: t,
				})
				if s.noChase || seen[t] || hop >= maxChase {
					break
				}
				seen[t] = true
				cur = t
				continue
			}
			if q.Qtype == dns.TypeCNAME {
				if t := s.cname[cur]; t != "" {
					resp.Answer = append(resp.Answer, &dns.CNAME{
						Hdr:    dns.RR_Header{Name: cur, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: TTL},
						Target: t,
					})
				}
			} else {
				resp.Answer = append(resp.Answer, s.records(cur, q.Qtype)...)
			}
			if !s.exists(cur) { // the name, or the end of its chain, is missing
				resp.Rcode = dns.RcodeNameError
			}
			break
		}
	}
	s.mu.Unlock()

	size := dns.MaxMsgSize
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(opt.UDPSize(), false)
		if network == "udp" {
			size = int(opt.UDPSize())
		}
	} else if network == "udp" {
		size = dns.MinMsgSize
	}
	resp.Truncate(size)
	_ = w.WriteMsg(resp)
}
