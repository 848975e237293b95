package va

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/cputime"
)

// benchVA starts, for the benchmark's lifetime, a DNS server answering A
// 127.0.0.1 for every name (no AAAA, no CAA) and an HTTP server answering
// every request with keyAuth, and returns a VA that uses both.
func benchVA(b *testing.B, keyAuth string) *VA {
	b.Helper()
	dnsSrv := startFuncServer(b, func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		if q := req.Question[0]; q.Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.IPv4(127, 0, 0, 1)}}
		}
		_ = w.WriteMsg(m)
	})
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
	return v
}

// goroutinesCreated reads the runtime's count of goroutines created since
// the process started.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// benchID is the identifier of iteration i: a fresh name two labels under
// the TLD, as `certgate bench acme` asks for.
func benchID(i int) acme.Identifier {
	return acme.Identifier{Type: acme.IdentifierDNS, Value: fmt.Sprintf("h%d-%d.bench.test", i/256%256, i%256)}
}

// BenchmarkValidateHTTP01: one http-01 Validate of a fresh name (A and
// AAAA lookups, one HTTP exchange). The DNS and HTTP servers run in the
// same process, so cpu-µs/op and goroutines/op include their work (the
// HTTP server starts one goroutine per connection).
func BenchmarkValidateHTTP01(b *testing.B) {
	keyAuth := testToken + ".thumbprint"
	v := benchVA(b, keyAuth)
	ctx := b.Context()
	b.ReportAllocs()
	start, g0 := cputime.Process(), goroutinesCreated()
	b.ResetTimer()
	for i := range b.N {
		if err := v.Validate(ctx, benchID(i), acme.ChallengeHTTP01, testToken, keyAuth); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(goroutinesCreated()-g0)/float64(b.N), "goroutines/op")
	cputime.ReportPerOp(b, start)
}

// BenchmarkValidateHTTP01AndCAA: what the VA does for one http-01
// authorization of a fresh name, as in `certgate bench acme`: Validate
// (A and AAAA lookups, HTTP request) and CheckCAA (the name and its two
// parents, no records). The DNS and HTTP servers run in the same
// process, so cpu-µs/op includes their work.
func BenchmarkValidateHTTP01AndCAA(b *testing.B) {
	keyAuth := testToken + ".thumbprint"
	v := benchVA(b, keyAuth)
	ctx := b.Context()
	b.ReportAllocs()
	start, g0 := cputime.Process(), goroutinesCreated()
	b.ResetTimer()
	for i := range b.N {
		id := benchID(i)
		if err := v.Validate(ctx, id, acme.ChallengeHTTP01, testToken, keyAuth); err != nil {
			b.Fatal(err)
		}
		if err := v.CheckCAA(ctx, id, false, acme.ChallengeHTTP01, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(goroutinesCreated()-g0)/float64(b.N), "goroutines/op")
	cputime.ReportPerOp(b, start)
}
