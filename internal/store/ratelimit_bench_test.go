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
	st, err := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "certgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	keys := []string{"orders:bench-account", "certs:bench.example.test"}
	decide := func(tats []time.Time) ([]time.Time, bool) {
		next := make([]time.Time, len(tats))
		for i, tat := range tats {
			next[i] = tat.Add(time.Second)
		}
		return next, true
	}
	if _, err := st.UpdateRateBuckets(ctx, keys, decide); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for range b.N {
		if _, err := st.UpdateRateBuckets(ctx, keys, decide); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cputime.ReportPerOp(b, cpu0)
}

// BenchmarkRateBuckets measures one RateBuckets read of three existing
// keys on SQLite, as newOrder's rate-limit check makes it (a hot read on
// the writer connection).
func BenchmarkRateBuckets(b *testing.B) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "certgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	keys := []string{"orders:bench-account", "certs:bench.example.test", "pending:bench-account"}
	decide := func(tats []time.Time) ([]time.Time, bool) {
		next := make([]time.Time, len(tats))
		for i, tat := range tats {
			next[i] = tat.Add(time.Second)
		}
		return next, true
	}
	if _, err := st.UpdateRateBuckets(ctx, keys, decide); err != nil {
		b.Fatal(err)
	}
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
