package testdns

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func query(t *testing.T, s *Server, netw, name string, qtype uint16, edns bool) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if edns {
		m.SetEdns0(1232, false)
	}
	c := &dns.Client{Net: netw, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", name, dns.TypeToString[qtype], netw, err)
	}
	return r
}

func TestServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr = %q", s.Addr())
	}

	// Default A for any name, no AAAA.
	r := query(t, s, "udp", "anything.example", dns.TypeA, false)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.1" {
		t.Fatalf("default A: %v", r.Answer)
	}
	r = query(t, s, "udp", "anything.example", dns.TypeAAAA, false)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Fatalf("default AAAA: rcode %d %v", r.Rcode, r.Answer)
	}

	// Explicit records, case-insensitive, trailing dot optional.
	s.SetA("Host.Example.", net.ParseIP("127.0.0.2"))
	s.SetAAAA("host.example", net.ParseIP("::1"))
	if r = query(t, s, "tcp", "HOST.example", dns.TypeA, false); r.Answer[0].(*dns.A).A.String() != "127.0.0.2" {
		t.Fatalf("SetA: %v", r.Answer)
	}
	if r = query(t, s, "udp", "host.example", dns.TypeAAAA, false); len(r.Answer) != 1 || r.Answer[0].(*dns.AAAA).AAAA.String() != "::1" {
		t.Fatalf("SetAAAA: %v", r.Answer)
	}

	// NXDOMAIN when there is no default.
	s.SetDefaultA(nil)
	if r = query(t, s, "udp", "unknown.example", dns.TypeA, false); r.Rcode != dns.RcodeNameError {
		t.Fatalf("rcode = %d, want NXDOMAIN", r.Rcode)
	}

	// TXT, long values split, CNAME chased.
	long := strings.Repeat("x", 300)
	s.SetTXT("txt.example", "short", long)
	s.SetCNAME("alias.example", "txt.example")
	r = query(t, s, "udp", "alias.example", dns.TypeTXT, true)
	if len(r.Answer) != 3 {
		t.Fatalf("CNAME+TXT answer: %v", r.Answer)
	}
	if got := r.Answer[2].(*dns.TXT).Txt; len(got) != 2 || strings.Join(got, "") != long {
		t.Fatalf("long TXT split: %d strings", len(got))
	}
	s.SetCNAMEChasing(false)
	if r = query(t, s, "udp", "alias.example", dns.TypeTXT, true); len(r.Answer) != 1 {
		t.Fatalf("no chasing: %v", r.Answer)
	}
	s.SetCNAMEChasing(true)
	s.ClearTXT("txt.example")
	if r = query(t, s, "udp", "txt.example", dns.TypeTXT, true); r.Rcode != dns.RcodeNameError {
		t.Fatalf("after ClearTXT: rcode %d %v", r.Rcode, r.Answer)
	}

	// Truncation over UDP, full answer over TCP.
	var many []string
	for range 20 {
		many = append(many, strings.Repeat("y", 200))
	}
	s.SetTXT("big.example", many...)
	if r = query(t, s, "udp", "big.example", dns.TypeTXT, false); !r.Truncated {
		t.Fatal("large UDP answer not truncated")
	}
	if r = query(t, s, "tcp", "big.example", dns.TypeTXT, false); r.Truncated || len(r.Answer) != 20 {
		t.Fatalf("TCP answer: truncated=%v n=%d", r.Truncated, len(r.Answer))
	}

	// CAA and forced rcodes.
	s.SetCAA("caa.example", CAA{Tag: "issue", Value: "certgate.test"})
	if r = query(t, s, "udp", "caa.example", dns.TypeCAA, false); len(r.Answer) != 1 {
		t.Fatalf("CAA: %v", r.Answer)
	}
	s.SetRcode("caa.example", dns.RcodeServerFailure)
	if r = query(t, s, "udp", "caa.example", dns.TypeCAA, false); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("forced rcode: %d", r.Rcode)
	}

	if qs := s.Queries(); len(qs) == 0 || qs[0].Name != "anything.example" || qs[0].Type != "A" || qs[0].Net != "udp" {
		t.Fatalf("Queries: %v", qs)
	}

	// Stops when the context is cancelled.
	cancel()
	deadline := time.Now().Add(2 * time.Second)
	for {
		c := &dns.Client{Net: "tcp", Timeout: 200 * time.Millisecond}
		m := new(dns.Msg)
		m.SetQuestion("x.", dns.TypeA)
		if _, _, err := c.Exchange(m, s.Addr()); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server still answering after cancel")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
