package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/cputime"
	"github.com/certgate/certgate/internal/store"
)

// BenchmarkRateSpend measures one UpdateRateBuckets of two existing keys
// on SQLite, as a flow's two rate-limit spends (CreateOrder's and
// StartIssuance's) make them: the statements per key and their
// database/sql overhead.
func BenchmarkRateSpend(b *testing.B) {
	ctx := context.Background()
	keys := []string{"orders:bench-account", "certs:bench.example.test"}
	st := benchBuckets(b, keys)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for range b.N {
		if _, err := st.UpdateRateBuckets(ctx, keys, benchDecide); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cputime.ReportPerOp(b, cpu0)
}

// benchBuckets opens a SQLite store in b's temporary directory (closed at
// the end of b) with a bucket for each of keys.
func benchBuckets(b *testing.B, keys []string) *store.Store {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "certgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if _, err := st.UpdateRateBuckets(ctx, keys, benchDecide); err != nil {
		b.Fatal(err)
	}
	return st
}

// benchDecide admits every spend, one second later per bucket.
func benchDecide(tats []time.Time) ([]time.Time, bool) {
	next := make([]time.Time, len(tats))
	for i, tat := range tats {
		next[i] = tat.Add(time.Second)
	}
	return next, true
}

// BenchmarkRateBuckets measures one RateBuckets read of three existing
// keys on SQLite, as newOrder's rate-limit check makes it (a hot read on
// the writer connection).
func BenchmarkRateBuckets(b *testing.B) {
	ctx := context.Background()
	keys := []string{"orders:bench-account", "certs:bench.example.test", "pending:bench-account"}
	st := benchBuckets(b, keys)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for range b.N {
		tats, err := st.RateBuckets(ctx, keys)
		if err != nil {
			b.Fatal(err)
		}
		if tats[2].IsZero() {
			b.Fatal("bucket not read")
		}
	}
	b.StopTimer()
	cputime.ReportPerOp(b, cpu0)
}
