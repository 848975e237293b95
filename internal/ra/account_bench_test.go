package ra

// Benchmarks of account creation (newAccount, RFC 8555 §7.3) through the
// RA with an audit log, on each engine: since account.create is audited in
// the creating transaction, each creation takes the audit head's row lock,
// which serializes appends across all nodes of a PostgreSQL cluster.
//
//	go test -run '^$' -bench NewAccount ./internal/ra/
//
// "parallel" runs 8 goroutines per CPU; on PostgreSQL they are spread over
// two nodes (two stores and RAs on one database). The client address is
// not set, so the new-accounts-per-ip limit spends nothing.

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/cputime"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

func BenchmarkNewAccount(b *testing.B) {
	pub, _ := accountKey(b) // one valid JWK; each account gets its own thumbprint
	req := acme.NewAccountRequest{Contact: []string{"mailto:bench@example.com"}, TermsOfServiceAgreed: true}
	const url = "https://ca.test/acme/new-account"
	var seq atomic.Int64
	tp := func() string {
		return "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.FormatInt(seq.Add(1), 36)
	}
	for _, eng := range storetest.Engines() {
		nodes := func(b *testing.B, n int) []*RA {
			if eng.Name == store.EnginePostgres {
				storetest.RequirePostgres(b)
			}
			dsn := eng.NewDSN(b)
			var rs []*RA
			for range n {
				st := storetest.OpenDSN(b, dsn)
				r := New(Config{Audit: audit.New(st, nil)}, st, failVA{}, nil, nil, slog.New(slog.DiscardHandler))
				b.Cleanup(func() { r.Shutdown(context.Background()) })
				rs = append(rs, r)
			}
			return rs
		}
		b.Run(eng.Name, func(b *testing.B) {
			r := nodes(b, 1)[0]
			ctx := context.Background()
			start := cputime.Process()
			b.ResetTimer()
			for b.Loop() {
				if _, created, err := r.NewAccountIn(ctx, "", url, tp(), pub, req); err != nil || !created {
					b.Fatal(created, err)
				}
			}
			cputime.ReportPerOp(b, start)
		})
		b.Run(eng.Name+"/parallel", func(b *testing.B) {
			n := 1
			if eng.Name == store.EnginePostgres {
				n = 2
			}
			rs := nodes(b, n)
			ctx := context.Background()
			var worker atomic.Int64
			b.SetParallelism(8)
			start := cputime.Process()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := rs[int(worker.Add(1))%len(rs)]
				for pb.Next() {
					if _, created, err := r.NewAccountIn(ctx, "", url, tp(), pub, req); err != nil || !created {
						b.Error(created, err)
						return
					}
				}
			})
			cputime.ReportPerOp(b, start)
		})
	}
}
