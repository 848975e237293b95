package va

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/cputime"
)

// BenchmarkValidateHTTP01AndCAA: what the VA does for one http-01
// authorization of a fresh name, as in `certgate bench acme`: Validate
// (A and AAAA lookups, HTTP request) and CheckCAA (the name and its two
// parents, no records). The DNS and HTTP servers run in the same
// process, so cpu-µs/op includes their work.
func BenchmarkValidateHTTP01AndCAA(b *testing.B) {
	dnsSrv := startFuncServer(b, func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		if q := req.Question[0]; q.Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.IPv4(127, 0, 0, 1)}}
		}
		_ = w.WriteMsg(m)
	})
	keyAuth := testToken + ".thumbprint"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(keyAuth))
	}))
	_ = srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	b.Cleanup(srv.Close)
	v, err := New(Config{HTTPPort: ln.Addr().(*net.TCPAddr).Port, DNSResolver: dnsSrv.addr, Timeout: 5 * time.Second,
		CAAIdentities: []string{"certgate.test"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.ReportAllocs()
	start := cputime.Process()
	b.ResetTimer()
	for i := range b.N {
		id := acme.Identifier{Type: acme.IdentifierDNS, Value: fmt.Sprintf("h%d-%d.bench.test", i/256%256, i%256)}
		if err := v.Validate(ctx, id, acme.ChallengeHTTP01, testToken, keyAuth); err != nil {
			b.Fatal(err)
		}
		if err := v.CheckCAA(ctx, id, false, acme.ChallengeHTTP01, nil); err != nil {
			b.Fatal(err)
		}
	}
	cputime.ReportPerOp(b, start)
}
