package va

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/certgate/certgate/internal/acme"
)

// FuzzCAALookup checks CAA lookups (LookupCAA and checkCAA over the
// resolver that queries a DNS server directly) against a loopback server
// that answers every query with the same fuzzed response: an rcode and
// records in zone-file syntax, one a line, those after "ns " in the
// authority section, the others in the answer. Lookups never panic, fail
// only with *LookupError, send a bounded number of queries (CNAME chains
// end after maxCNAMEHops, loops are caught), return only CAA records of
// the response, fail on an rcode other than NOERROR and NXDOMAIN, and the
// CAA check gives nil, a caa problem or a dns problem.
func FuzzCAALookup(f *testing.F) {
	var mu sync.Mutex
	var resp dns.Msg // sections and rcode of every answer
	queries := 0
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		mu.Lock()
		m := new(dns.Msg)
		m.SetReply(req)
		m.Rcode, m.Answer, m.Ns = resp.Rcode, resp.Answer, resp.Ns
		queries++
		mu.Unlock()
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	f.Cleanup(func() { _ = srv.Shutdown() })
	r := newDNSResolver(ResolverOptions{Servers: []string{pc.LocalAddr().String()}, QueryTimeout: 2 * time.Second,
		CAACacheTTL: -1}, time.Now)

	for _, s := range []struct {
		rcode int
		zone  string
	}{
		{0, "www.example.com. 300 IN CAA 0 issue \"certgate.test\""},
		{0, "www.example.com. 300 IN CAA 0 issue \"other.test\"\nwww.example.com. 300 IN CAA 128 tbs \"x\""},
		{0, "www.example.com. 300 IN CNAME cdn.example.net.\ncdn.example.net. 60 IN CAA 0 issuewild \";\""},
		{0, "www.example.com. 300 IN CNAME a.example.net.\na.example.net. 300 IN CNAME www.example.com."},
		{0, "www.example.com. 300 IN CNAME a.example.net."},
		{0, "WWW.Example.COM. 300 IN CAA 0 ISSUE \"certgate.test; accounturi=https://ca.test/acme/account/42\""},
		{0, "other.example.com. 300 IN CAA 0 issue \"certgate.test\""},
		{0, "ns example.com. 300 IN SOA ns.example.com. host.example.com. 1 7200 3600 1209600 300"},
		{dns.RcodeNameError, "ns example.com. 300 IN SOA ns.example.com. host.example.com. 1 7200 3600 1209600 300"},
		{dns.RcodeServerFailure, ""},
		{dns.RcodeRefused, "www.example.com. 300 IN CAA 0 issue \"certgate.test\""},
	} {
		f.Add(uint8(s.rcode), s.zone, "www.example.com", false)
	}
	f.Add(uint8(0), "a.b.example.com. 1 IN CAA 0 issue \"certgate.test\"", "a.b.example.com", true)

	f.Fuzz(func(t *testing.T, rcode uint8, zone, name string, wildcard bool) {
		name = strings.ToLower(strings.TrimSuffix(name, "."))
		if _, ok := dns.IsDomainName(name); !ok || name == "" || strings.Count(name, ".") > 8 {
			return
		}
		var m dns.Msg
		m.Rcode = int(rcode & 0x0f)
		for line := range strings.SplitSeq(zone, "\n") {
			ns := strings.HasPrefix(line, "ns ")
			rr, err := dns.NewRR(strings.TrimPrefix(line, "ns "))
			if err != nil || rr == nil {
				continue
			}
			if ns {
				m.Ns = append(m.Ns, rr)
			} else {
				m.Answer = append(m.Answer, rr)
			}
		}
		// Only responses that fit a UDP answer: a server could not send the
		// others, and the lookup would wait for its timeout.
		m.SetQuestion(dns.Fqdn(name), dns.TypeCAA)
		b, err := m.Pack()
		if err != nil || len(b) > 1200 || len(m.Answer)+len(m.Ns) > 24 {
			return
		}
		// The CAA records as a client reads them: the tag of a CAA record
		// is unpacked in presentation form, a byte outside printable ASCII
		// as \DDD.
		var got dns.Msg
		if err := got.Unpack(b); err != nil {
			return
		}
		var caa []*dns.CAA
		for _, rr := range got.Answer {
			if c, ok := rr.(*dns.CAA); ok {
				caa = append(caa, c)
			}
		}
		mu.Lock()
		resp, queries = m, 0
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()

		recs, err := r.LookupCAA(ctx, name)
		mu.Lock()
		n := queries
		mu.Unlock()
		if n > maxCNAMEHops+2 {
			t.Fatalf("one lookup sent %d queries", n)
		}
		var le *LookupError
		switch {
		case err != nil && !errors.As(err, &le):
			t.Fatalf("error %v is not a *LookupError", err)
		case err == nil && m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError:
			t.Fatalf("rcode %s: records %v, no error", dns.RcodeToString[m.Rcode], recs)
		}
		for _, rec := range recs {
			found := false
			for _, c := range caa {
				found = found || c.Flag == rec.Flag && c.Tag == rec.Tag && c.Value == rec.Value
			}
			if !found {
				t.Fatalf("record %+v is not in the response", rec)
			}
		}

		err = checkCAA(ctx, r, caaRequest{name: name, wildcard: wildcard, method: acme.ChallengeDNS01,
			accountURIs: []string{"https://ca.test/acme/account/42"}, identities: []string{"certgate.test"}})
		var p *acme.Problem
		if err != nil && (!errors.As(err, &p) || p.Type != acme.CAA && p.Type != acme.DNS) {
			t.Fatalf("CAA check: %v, want nil, a caa or a dns problem", err)
		}
	})
}
