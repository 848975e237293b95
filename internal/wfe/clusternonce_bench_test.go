package wfe_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/wfe"
)

// BenchmarkClusterNonces measures the nonce work of one request with
// cluster nonces (issue: HMAC only; redeem: HMAC check plus one INSERT into
// used_nonces) on each engine, against the in-memory store SQLite uses.
func BenchmarkClusterNonces(b *testing.B) {
	for _, e := range storetest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			if e.Name == store.EnginePostgres {
				storetest.RequirePostgres(b)
			}
			st := e.Open(b)
			n, err := wfe.NewClusterNonces([]byte(strings.Repeat("k", 32)), time.Hour, time.Now, st)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if ok, err := n.Redeem(ctx, n.Issue()); !ok || err != nil {
					b.Fatalf("redeem: %v %v", ok, err)
				}
			}
		})
	}
	b.Run("in-memory", func(b *testing.B) {
		s := wfe.NewNonceStore(1<<17, time.Hour, time.Now)
		ctx := context.Background()
		b.ReportAllocs()
		for range b.N {
			if ok, _ := s.Redeem(ctx, s.Issue()); !ok {
				b.Fatal("redeem failed")
			}
		}
	})
}
