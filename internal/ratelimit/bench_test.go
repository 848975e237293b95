package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/store/storetest"
)

// BenchmarkNewOrderLimits measures the limiter work of one newOrder with
// the default limits (ra.limitNewOrder): a read of the failed-validations
// and certificates-per-domain buckets, the pending-authorization count,
// and the locked update of the account's new-orders bucket.
//
//	go test -run '^$' -bench NewOrderLimits ./internal/ratelimit/
func BenchmarkNewOrderLimits(b *testing.B) {
	for _, e := range storetest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			st := e.Open(b)
			ctx := context.Background()
			l := ratelimit.New(ratelimit.Defaults(), st, time.Now)
			subjects := []string{ratelimit.AccountSubject("acct")}
			b.ResetTimer()
			for range b.N {
				if err := l.Check(ctx, ratelimit.Request{Limit: ratelimit.FailedValidationsPerAccount, Key: "acct", Subjects: subjects},
					ratelimit.Request{Limit: ratelimit.CertificatesPerDomain, Key: "example.test", Subjects: subjects}); err != nil {
					b.Fatal(err)
				}
				if err := l.CheckPending(ctx, "acct", subjects, 1); err != nil {
					b.Fatal(err)
				}
				if err := l.Spend(ctx, ratelimit.Request{Limit: ratelimit.NewOrdersPerAccount, Key: "acct", Subjects: subjects}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
