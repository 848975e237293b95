package va

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/testenv/testdns"
)

// fakeClock is a settable clock for the CAA cache and socket pool.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// caaQueries counts the CAA queries s received for name.
func caaQueries(s *testdns.Server, name string) int {
	n := 0
	for _, q := range s.Queries() {
		if q.Type == "CAA" && q.Name == name {
			n++
		}
	}
	return n
}

func caaCheck(t *testing.T, r Resolver, name string) error {
	t.Helper()
	return checkCAA(t.Context(), r, caaRequest{name: name, method: acme.ChallengeHTTP01, identities: []string{caaUs}})
}

// TestCAACacheParents: the CAA answer of a parent is reused within its TTL
// (testdns serves TTL 60 s) and the cap, then asked again; the requested
// name itself is always asked; a change of the records shows once the
// cached answer expires.
func TestCAACacheParents(t *testing.T) {
	s := startDNS(t)
	s.SetCAA("example.com", issue(caaUs))
	clock := newFakeClock()
	r := newTestResolver(t, ResolverOptions{Servers: []string{s.Addr()}}, clock.Now)
	for _, name := range []string{"a.example.com", "b.example.com", "c.example.com"} {
		if err := caaCheck(t, r, name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if n := caaQueries(s, "example.com"); n != 1 {
		t.Errorf("parent asked %d times within its TTL, want 1", n)
	}
	for range 2 {
		if err := caaCheck(t, r, "example.com"); err != nil {
			t.Fatal(err)
		}
	}
	if n := caaQueries(s, "example.com"); n != 3 {
		t.Errorf("example.com asked %d times, want 3: a requested name is never answered from the cache", n)
	}
	// The domain holder now forbids issuance; the cached answer is used
	// until it expires (DefaultCAACacheTTL, below the 60 s TTL).
	s.SetCAA("example.com", issue("other.test"))
	clock.Advance(DefaultCAACacheTTL - time.Second)
	if err := caaCheck(t, r, "d.example.com"); err != nil {
		t.Errorf("within the TTL: %v, want the cached answer", err)
	}
	clock.Advance(time.Second)
	if err := caaCheck(t, r, "e.example.com"); err == nil {
		t.Error("after the TTL the new records must refuse issuance")
	}
	if n := caaQueries(s, "example.com"); n != 4 {
		t.Errorf("example.com asked %d times, want 4", n)
	}
}

// TestCAACacheTTLCap: Config.CAACacheTTL below the record's TTL caps the
// reuse; a negative value turns the cache off.
func TestCAACacheTTLCap(t *testing.T) {
	s := startDNS(t)
	s.SetCAA("example.com", issue(caaUs))
	clock := newFakeClock()
	r := newTestResolver(t, ResolverOptions{Servers: []string{s.Addr()}, CAACacheTTL: 10 * time.Second}, clock.Now)
	_ = caaCheck(t, r, "a.example.com")
	clock.Advance(9 * time.Second)
	_ = caaCheck(t, r, "b.example.com")
	if n := caaQueries(s, "example.com"); n != 1 {
		t.Errorf("within the cap: %d queries, want 1", n)
	}
	clock.Advance(time.Second)
	_ = caaCheck(t, r, "c.example.com")
	if n := caaQueries(s, "example.com"); n != 2 {
		t.Errorf("after the cap: %d queries, want 2", n)
	}

	off := startDNS(t)
	off.SetCAA("example.com", issue(caaUs))
	r = newTestResolver(t, ResolverOptions{Servers: []string{off.Addr()}, CAACacheTTL: -1}, clock.Now)
	_ = caaCheck(t, r, "a.example.com")
	_ = caaCheck(t, r, "b.example.com")
	if n := caaQueries(off, "example.com"); n != 2 {
		t.Errorf("cache off: %d queries, want 2", n)
	}
}

// negServer answers CAA queries like an authoritative view of zone
// "neg.test" (SOA TTL 300, MINIMUM 30): "nx.neg.test" and below NXDOMAIN,
// "empty.neg.test" NOERROR without data, both with the zone's SOA;
// "dangling.neg.test" a CNAME (TTL 5) to "gone.nx.neg.test" answered
// NXDOMAIN with the SOA of neg.test; "away.neg.test" a CNAME (TTL 20) to
// "gone.other.invalid", NXDOMAIN with the SOA of other.invalid;
// "nosoa.neg.test" NOERROR without data and without SOA; "foreign.neg.test"
// with the SOA of an unrelated zone; "alias.neg.test" a CNAME (TTL 5) to
// "target.neg.test", whose CAA record has TTL 600; "fail.neg.test" SERVFAIL.
func negServer(t *testing.T) *funcServer {
	soa := func(zone string) dns.RR {
		return &dns.SOA{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 300},
			Ns: "ns." + zone, Mbox: "hostmaster." + zone, Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 30}
	}
	return startFuncServer(t, func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		name := strings.ToLower(req.Question[0].Name)
		switch {
		case strings.HasSuffix(name, "nx.neg.test."):
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{soa("neg.test.")}
		case name == "empty.neg.test.":
			m.Ns = []dns.RR{soa("neg.test.")}
		case name == "foreign.neg.test.":
			m.Ns = []dns.RR{soa("elsewhere.invalid.")}
		case name == "alias.neg.test.":
			m.Answer = []dns.RR{
				&dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 5}, Target: "target.neg.test."},
				&dns.CAA{Hdr: dns.RR_Header{Name: "target.neg.test.", Rrtype: dns.TypeCAA, Class: dns.ClassINET, Ttl: 600}, Tag: "issue", Value: caaUs},
			}
		case name == "fail.neg.test.":
			m.Rcode = dns.RcodeServerFailure
		case name == "dangling.neg.test.":
			// RFC 6604: the rcode is that of the chain's end.
			m.Rcode = dns.RcodeNameError
			m.Answer = []dns.RR{&dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 5}, Target: "gone.nx.neg.test."}}
			m.Ns = []dns.RR{soa("neg.test.")}
		case name == "away.neg.test.":
			m.Rcode = dns.RcodeNameError
			m.Answer = []dns.RR{&dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 20}, Target: "gone.other.invalid."}}
			m.Ns = []dns.RR{soa("other.invalid.")}
		}
		_ = w.WriteMsg(m)
	})
}

// TestCAACacheNegative: NXDOMAIN and no-data answers are cached for the
// negative TTL of RFC 2308 §5 (min of SOA TTL and MINIMUM: 30 s) when the
// SOA is of the name's zone, not at all without one; the TTL of a CNAME
// followed bounds the entry; failures are not cached.
func TestCAACacheNegative(t *testing.T) {
	s := negServer(t)
	clock := newFakeClock()
	r := newTestResolver(t, ResolverOptions{Servers: []string{s.addr}}, clock.Now)
	ctx := t.Context()
	count := func(name string, times int) int {
		t.Helper()
		before := s.n.Load()
		for range times {
			recs, err := r.lookupParentCAA(ctx, name)
			if strings.HasPrefix(name, "nx.") {
				if le := lookupErr(t, err); !le.IsNotFound() {
					t.Fatalf("%s: %s, want NXDOMAIN", name, le.Detail())
				}
			} else if strings.HasPrefix(name, "fail.") {
				if err == nil {
					t.Fatalf("%s: no error", name)
				}
			} else if err != nil {
				t.Fatalf("%s: %v %v", name, recs, err)
			}
		}
		return int(s.n.Load() - before)
	}
	for _, c := range []struct {
		name string
		want int // queries for three lookups in a row
	}{
		{"nx.neg.test", 1},
		{"empty.neg.test", 1},
		{"nosoa.neg.test", 3},
		{"foreign.neg.test", 3},
		{"alias.neg.test", 1},
		{"fail.neg.test", 3},
	} {
		if got := count(c.name, 3); got != c.want {
			t.Errorf("%s: %d queries for 3 lookups, want %d", c.name, got, c.want)
		}
	}
	clock.Advance(5 * time.Second) // the CNAME's TTL
	if got := count("alias.neg.test", 1); got != 1 {
		t.Errorf("alias after the CNAME's TTL: %d queries, want 1", got)
	}
	clock.Advance(24 * time.Second)
	if got := count("nx.neg.test", 1) + count("empty.neg.test", 1); got != 0 {
		t.Errorf("negative answers asked again %d times within 30 s", got)
	}
	clock.Advance(time.Second)
	if got := count("nx.neg.test", 1) + count("empty.neg.test", 1); got != 2 {
		t.Errorf("negative answers after 30 s: %d queries, want 2", got)
	}
	// Through relevantCAA: "www.nx.neg.test" itself is asked, its parent
	// "nx.neg.test" comes from the cache, the climb goes on to neg.test
	// (no SOA in its answer: asked every time) and test.
	clock.Advance(30 * time.Second) // everything cached has expired
	before := s.n.Load()
	if _, recs, err := relevantCAA(ctx, r, "www.nx.neg.test"); err != nil || len(recs) != 0 {
		t.Fatalf("relevantCAA: %v %v", recs, err)
	}
	if got := s.n.Load() - before; got != 4 {
		t.Errorf("first climb: %d queries, want 4", got)
	}
	before = s.n.Load()
	_, _, _ = relevantCAA(ctx, r, "www.nx.neg.test")
	if got := s.n.Load() - before; got != 3 {
		t.Errorf("second climb: %d queries, want 3 (nx.neg.test cached)", got)
	}
}

// TestCAACachePerResolver: VAs built by WithDNS for the same settings
// share one resolver (so a profile's validations share its cache); other
// servers or DNSSEC settings get their own resolver and cache.
func TestCAACachePerResolver(t *testing.T) {
	a, b := startDNS(t), startDNS(t)
	a.SetCAA("example.com", issue(caaUs))
	b.SetCAA("example.com", issue("other.test"))
	v := newVA(t, Config{DNSResolver: a.Addr(), CAAIdentities: []string{caaUs}})
	pa, err := v.WithDNS(DNSSettings{})
	if err != nil {
		t.Fatal(err)
	}
	if pa.resolver != v.resolver {
		t.Error("WithDNS with the VA's own settings built another resolver")
	}
	pb1, err := v.WithDNS(DNSSettings{Servers: []string{b.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	pb2, _ := v.WithDNS(DNSSettings{Servers: []string{b.Addr()}})
	if pb1.resolver != pb2.resolver {
		t.Error("two WithDNS for the same servers built two resolvers")
	}
	on := true
	pbSec, _ := v.WithDNS(DNSSettings{Servers: []string{b.Addr()}, DNSSEC: &on})
	if pbSec.resolver == pb1.resolver {
		t.Error("DNSSEC settings share a resolver with plain ones")
	}
	ctx := context.Background()
	id := func(n string) acme.Identifier { return acme.Identifier{Type: acme.IdentifierDNS, Value: n} }
	if err := v.CheckCAA(ctx, id("a.example.com"), false, acme.ChallengeHTTP01, nil); err != nil {
		t.Fatalf("server resolver: %v", err)
	}
	if err := pb1.CheckCAA(ctx, id("a.example.com"), false, acme.ChallengeHTTP01, nil); err == nil {
		t.Error("profile resolver used the server resolver's cached CAA answer")
	}
	if err := pa.CheckCAA(ctx, id("b.example.com"), false, acme.ChallengeHTTP01, nil); err != nil {
		t.Errorf("same settings: %v", err)
	}
	if n := caaQueries(a, "example.com"); n != 1 {
		t.Errorf("server resolver asked example.com %d times, want 1 (shared cache)", n)
	}
	if err := pb2.CheckCAA(ctx, id("b.example.com"), false, acme.ChallengeHTTP01, nil); err == nil {
		t.Error("profile resolver: want refused")
	}
	if n := caaQueries(b, "example.com"); n != 1 {
		t.Errorf("profile resolver asked example.com %d times, want 1", n)
	}
}

// TestResolverSetBounded: the shared resolvers are bounded; an evicted
// resolver still answers.
func TestResolverSetBounded(t *testing.T) {
	s := startDNS(t)
	v := newVA(t, Config{DNSResolver: s.Addr()})
	first, err := v.WithDNS(DNSSettings{QueryTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxSharedResolvers + 5 {
		if _, err := v.WithDNS(DNSSettings{QueryTimeout: time.Second + time.Duration(i+1)*time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(v.resolvers.m); n > maxSharedResolvers {
		t.Errorf("%d shared resolvers, want at most %d", n, maxSharedResolvers)
	}
	if _, err := first.resolver.LookupIPs(t.Context(), "www.example.com"); err != nil {
		t.Errorf("a resolver dropped from the set: %v", err)
	}
}

// TestCAACacheNegativeThroughCNAME: an NXDOMAIN answer that follows a
// CNAME (RFC 6604: the rcode is the chain end's) is cached no longer than
// the CNAME's TTL, and its negative TTL comes from the SOA of the chain
// end's zone, not of the name asked.
func TestCAACacheNegativeThroughCNAME(t *testing.T) {
	s := negServer(t)
	clock := newFakeClock()
	r := newTestResolver(t, ResolverOptions{Servers: []string{s.addr}}, clock.Now)
	lookup := func(name string) int {
		t.Helper()
		before := s.n.Load()
		if _, err := r.lookupParentCAA(t.Context(), name); !lookupErr(t, err).IsNotFound() {
			t.Fatalf("%s: %v, want NXDOMAIN", name, err)
		}
		return int(s.n.Load() - before)
	}
	lookup("dangling.neg.test")
	clock.Advance(4 * time.Second)
	if n := lookup("dangling.neg.test"); n != 0 {
		t.Errorf("dangling within the CNAME's TTL: %d queries, want 0 (cached)", n)
	}
	clock.Advance(time.Second) // the CNAME's TTL (5 s) is over
	if n := lookup("dangling.neg.test"); n != 1 {
		t.Errorf("dangling after the CNAME's 5 s TTL: %d queries, want 1 (the negative TTL is 30 s, but the CNAME may have changed)", n)
	}
	lookup("away.neg.test")
	clock.Advance(19 * time.Second)
	if n := lookup("away.neg.test"); n != 0 {
		t.Errorf("away within the CNAME's TTL: %d queries, want 0 (the SOA is of the chain end's zone)", n)
	}
	clock.Advance(time.Second)
	if n := lookup("away.neg.test"); n != 1 {
		t.Errorf("away after the CNAME's TTL: %d queries, want 1", n)
	}
}
