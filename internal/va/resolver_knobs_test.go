package va

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/testenv/testdns"
)

// adServer is a stand-in for a validating resolver (like unbound or
// bind9 with dnssec-validation): names under "signed.test" are answered
// with the AD bit, names under "unsigned.test" without it (insecure
// zones), names under "bogus.test" with SERVFAIL (what a validating
// resolver answers for data that fails validation), "test." (the signed
// TLD) with AD, and "nx.signed.test"
// / "nx.unsigned.test" with NXDOMAIN (authenticated denial or not).
type adServer struct {
	addr     string
	sawDO    atomic.Bool // a query had the EDNS0 DO bit
	sawAD    atomic.Bool // a query had the AD bit
	requests atomic.Int64
}

func startADServer(t *testing.T) *adServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &adServer{addr: pc.LocalAddr().String()}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		s.requests.Add(1)
		if o := req.IsEdns0(); o != nil && o.Do() {
			s.sawDO.Store(true)
		}
		if req.AuthenticatedData {
			s.sawAD.Store(true)
		}
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		name := strings.ToLower(q.Name)
		switch {
		case strings.HasSuffix(name, "bogus.test."):
			m.Rcode = dns.RcodeServerFailure
		case strings.HasPrefix(name, "nx."):
			m.Rcode = dns.RcodeNameError
			m.AuthenticatedData = strings.HasSuffix(name, ".signed.test.")
		default:
			// The TLD is signed too, as real ones are.
			m.AuthenticatedData = strings.HasSuffix(name, ".signed.test.") || name == "signed.test." || name == "test."
			switch q.Qtype {
			case dns.TypeA:
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
			case dns.TypeTXT:
				m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{"hello"}})
			}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return s
}

func lookupErr(t *testing.T, err error) *LookupError {
	t.Helper()
	var le *LookupError
	if !errors.As(err, &le) {
		t.Fatalf("want a *LookupError, got %v", err)
	}
	return le
}

// TestDNSSECRequiresAD: with DNSSEC on, only answers the validating
// resolver marked authenticated are used; unsigned answers and
// unauthenticated NXDOMAIN are refused, bogus (SERVFAIL) fails; without
// DNSSEC the same unsigned answers are used.
func TestDNSSECRequiresAD(t *testing.T) {
	s := startADServer(t)
	ctx := t.Context()
	r, err := NewResolverWith(ResolverOptions{Servers: []string{s.addr}, QueryTimeout: time.Second, DNSSEC: true})
	if err != nil {
		t.Fatal(err)
	}
	if txt, err := r.LookupTXT(ctx, "_acme-challenge.www.signed.test"); err != nil || len(txt) != 1 {
		t.Fatalf("signed TXT: %v %v", txt, err)
	}
	if !s.sawDO.Load() || !s.sawAD.Load() {
		t.Errorf("queries did not ask for DNSSEC (DO %v, AD %v)", s.sawDO.Load(), s.sawAD.Load())
	}
	if _, err := r.LookupIPs(ctx, "www.signed.test"); err != nil {
		t.Fatalf("signed A: %v", err)
	}
	if le := lookupErr(t, func() error { _, err := r.LookupTXT(ctx, "www.unsigned.test"); return err }()); !strings.Contains(le.Detail(), "not authenticated by DNSSEC") {
		t.Errorf("unsigned TXT: %s", le.Detail())
	}
	if le := lookupErr(t, func() error { _, err := r.LookupIPs(ctx, "www.bogus.test"); return err }()); le.Rcode != dns.RcodeServerFailure {
		t.Errorf("bogus: %s, want SERVFAIL", le.Detail())
	}
	if le := lookupErr(t, func() error { _, err := r.LookupCAA(ctx, "nx.signed.test"); return err }()); !le.IsNotFound() {
		t.Errorf("authenticated NXDOMAIN: %s, want NXDOMAIN (tree climbing goes on)", le.Detail())
	}
	if le := lookupErr(t, func() error { _, err := r.LookupCAA(ctx, "nx.unsigned.test"); return err }()); le.IsNotFound() || !strings.Contains(le.Detail(), "NXDOMAIN without the AD bit") {
		t.Errorf("unauthenticated NXDOMAIN: %s, want refused", le.Detail())
	}
	plain, _ := NewResolver(s.addr, time.Second)
	if _, err := plain.LookupTXT(ctx, "www.unsigned.test"); err != nil {
		t.Errorf("without DNSSEC an unsigned answer is fine: %v", err)
	}
	if _, err := NewResolverWith(ResolverOptions{DNSSEC: true}); err == nil {
		t.Error("DNSSEC with the system resolver accepted")
	}
}

// TestDNSSECInValidation: dns-01 and CAA with va-dnssec refuse an unsigned
// zone with a dns / caa problem naming DNSSEC.
func TestDNSSECInValidation(t *testing.T) {
	s := startADServer(t)
	v := newVA(t, Config{DNSResolver: s.addr, DNSSEC: true})
	ctx := t.Context()
	id := acme.Identifier{Type: acme.IdentifierDNS, Value: "www.unsigned.test"}
	err := v.Validate(ctx, id, acme.ChallengeDNS01, testToken, testToken+".x")
	if p, ok := acme.AsProblem(err); !ok || p.Type != acme.DNS || !strings.Contains(p.Detail, "DNSSEC") {
		t.Errorf("dns-01 on an unsigned zone: %v", err)
	}
	err = v.CheckCAA(ctx, id, false, acme.ChallengeHTTP01, nil)
	if p, ok := acme.AsProblem(err); !ok || p.Type != acme.DNS || !strings.Contains(p.Detail, "DNSSEC") {
		t.Errorf("CAA on an unsigned zone: %v", err)
	}
	if err := v.CheckCAA(ctx, acme.Identifier{Type: acme.IdentifierDNS, Value: "www.signed.test"}, false, acme.ChallengeHTTP01, nil); err != nil {
		t.Errorf("CAA on a signed zone without CAA records: %v", err)
	}
}

// TestResolverFailover: servers are asked in order and the next one only
// when a server gives no answer; an answer (even NXDOMAIN) is final.
func TestResolverFailover(t *testing.T) {
	good := startDNS(t)
	good.SetA("www.example.test", net.ParseIP("127.0.0.7"))
	silent := startDNS(t)
	silent.SetRcode("www.example.test", testdns.Drop)
	nx := startDNS(t)
	nx.SetDefaultA(nil) // NXDOMAIN for unknown names
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.LocalAddr().String()
	dead.Close() // nothing listens: the query fails at once
	ctx := t.Context()
	for _, c := range []struct {
		name    string
		servers []string
		wantIP  string
		wantNX  bool
	}{
		{"first answers", []string{good.Addr(), silent.Addr()}, "127.0.0.7", false},
		{"dead first", []string{deadAddr, good.Addr()}, "127.0.0.7", false},
		{"silent first (timeout)", []string{silent.Addr(), good.Addr()}, "127.0.0.7", false},
		{"NXDOMAIN is an answer", []string{nx.Addr(), good.Addr()}, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := NewResolver(strings.Join(c.servers, ","), 300*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			addrs, err := r.LookupIPs(ctx, "www.example.test")
			if c.wantNX {
				if le := lookupErr(t, err); !le.IsNotFound() {
					t.Fatalf("got %s, want NXDOMAIN from the first server", le.Detail())
				}
				return
			}
			if err != nil || len(addrs) == 0 || addrs[0].String() != c.wantIP {
				t.Fatalf("got %v, %v; want %s", addrs, err, c.wantIP)
			}
		})
	}
	r, _ := NewResolver(silent.Addr()+","+deadAddr, 300*time.Millisecond)
	start := time.Now()
	_, err = r.LookupTXT(context.Background(), "www.example.test")
	if le := lookupErr(t, err); !le.Timeout && le.Rcode != -1 {
		t.Errorf("no server answers: %s", le.Detail())
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("no server answering took %s; each query is bounded by 300ms", d)
	}
}
