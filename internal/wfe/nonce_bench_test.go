package wfe_test

// Benchmarks of the nonce store (issue 3): every ACME response issues one
// nonce and every JWS request redeems one.
//
//	go test -run '^$' -bench Nonce -benchmem ./internal/wfe/

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/wfe"
)

// benchMaxNonces is the front end's default nonce store size.
const benchMaxNonces = 1 << 17

// benchFullNonceStore returns a store already holding its maximum, so that
// every Issue also evicts the oldest nonce (the steady state of a server).
func benchFullNonceStore() *wfe.NonceStore {
	s := wfe.NewNonceStore(benchMaxNonces, time.Hour, nil)
	for range benchMaxNonces {
		s.Issue()
	}
	return s
}

func BenchmarkNonce(b *testing.B) {
	b.Run("issue", func(b *testing.B) {
		s := benchFullNonceStore()
		b.ReportAllocs()
		for b.Loop() {
			s.Issue()
		}
	})
	b.Run("issue/parallel", func(b *testing.B) {
		s := benchFullNonceStore()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s.Issue()
			}
		})
	})
	b.Run("redeem", func(b *testing.B) {
		// Redeem nonces issued ahead, a store's worth at a time.
		s := wfe.NewNonceStore(benchMaxNonces, time.Hour, nil)
		b.ReportAllocs()
		b.ResetTimer()
		for done := 0; done < b.N; {
			n := min(benchMaxNonces, b.N-done)
			b.StopTimer()
			ns := make([]string, n)
			for i := range ns {
				ns[i] = s.Issue()
			}
			b.StartTimer()
			for _, v := range ns {
				if !redeemed(s, v) {
					b.Fatal("issued nonce refused")
				}
			}
			done += n
		}
	})
	// issue+redeem is the nonce work of one ACME request: redeem the
	// request's nonce, issue the response's.
	b.Run("issue+redeem", func(b *testing.B) {
		s := benchFullNonceStore()
		b.ReportAllocs()
		for b.Loop() {
			if !redeemed(s, s.Issue()) {
				b.Fatal("issued nonce refused")
			}
		}
	})
	b.Run("issue+redeem/parallel", func(b *testing.B) {
		s := benchFullNonceStore()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if !redeemed(s, s.Issue()) {
					panic("issued nonce refused")
				}
			}
		})
	})
	b.Run("redeem-unknown", func(b *testing.B) {
		s := benchFullNonceStore()
		b.ReportAllocs()
		for b.Loop() {
			if redeemed(s, "AAAAAAAAAAAAAAAAAAAAAA") {
				b.Fatal("unknown nonce accepted")
			}
		}
	})
}

// BenchmarkNonceStoreGC is the cost of a full garbage collection with a
// full nonce store live (a server's steady state; the server's heap
// outside the store is small): the store is in memory the collector marks
// on every cycle unless it holds no pointers.
func BenchmarkNonceStoreGC(b *testing.B) {
	s := benchFullNonceStore()
	runtime.GC()
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(s)
}

// redeemed is Redeem for the in-memory store, which never fails.
func redeemed(s *wfe.NonceStore, n string) bool {
	ok, _ := s.Redeem(context.Background(), n)
	return ok
}
