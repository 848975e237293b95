package ra_test

// Benchmarks of order creation (issue 3): ra.RA.NewOrder against a real
// SQLite store in b.TempDir(), one unique DNS name per order, as in a load
// run. Each order writes one authorization with its three challenges
// (http-01, dns-01, tls-alpn-01) and the order row in one transaction.
//
//	go test -run '^$' -bench NewOrder -benchmem ./internal/ra/

import (
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
)

// benchRA returns an RA over a fresh SQLite store and one valid account.
// authzReuse is ra.Config.AuthzReuse (negative disables reuse; certgate
// serve reuses for 30 days by default).
func benchRA(b *testing.B, authzReuse time.Duration, iss issuer.Issuer) (*ra.RA, *store.Store, *store.Account) {
	b.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "certgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	r := ra.New(ra.Config{AuthzReuse: authzReuse, CertValidity: 90 * 24 * time.Hour}, st, nil, iss, nil, slog.New(slog.DiscardHandler))
	b.Cleanup(func() { r.Shutdown(context.Background()) })
	a := &store.Account{ID: "bench-account", KeyThumbprint: "bench-thumbprint", JWK: []byte(`{}`), Status: acme.StatusValid, CreatedAt: time.Now().UTC()}
	if err := st.CreateAccount(ctx, a); err != nil {
		b.Fatal(err)
	}
	return r, st, a
}

func benchOrderRequest(prefix string, n int64) acme.NewOrderRequest {
	return acme.NewOrderRequest{Identifiers: []acme.Identifier{{Type: acme.IdentifierDNS, Value: prefix + strconv.FormatInt(n, 10) + ".bench.test"}}}
}

func BenchmarkNewOrder(b *testing.B) {
	for _, reuse := range []struct {
		name string
		d    time.Duration
	}{{"authzreuse=30d", 30 * 24 * time.Hour}, {"authzreuse=off", -1}} {
		b.Run(reuse.name, func(b *testing.B) {
			r, _, a := benchRA(b, reuse.d, nil)
			ctx := context.Background()
			var n int64
			b.ReportAllocs()
			for b.Loop() {
				n++
				if _, err := r.NewOrder(ctx, a, benchOrderRequest("f", n)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(reuse.name+"/parallel", func(b *testing.B) {
			r, _, a := benchRA(b, reuse.d, nil)
			ctx := context.Background()
			var n atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := r.NewOrder(ctx, a, benchOrderRequest("f", n.Add(1))); err != nil {
						panic(err)
					}
				}
			})
		})
	}
}
