package loadgen_test

import (
	"context"
	"testing"

	"github.com/certgate/certgate/internal/loadgen"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/testenv"
)

// BenchmarkFlowsRateLimited is BenchmarkFlows with the default rate
// limits on (testenv turns them off), to measure what they cost per flow
// (docs/rate-limits.md):
//
//	go test -run '^$' -bench 'Flows(RateLimited)?$' -benchtime 2000x ./internal/loadgen/
func BenchmarkFlowsRateLimited(b *testing.B) {
	env := testenv.NewWithOptions(b, testenv.Options{OwnHTTP01: true,
		Server: server.Options{RA: ra.Config{RateLimits: ratelimit.Defaults()}}})
	b.ResetTimer()
	s, err := loadgen.Run(context.Background(), loadgen.Config{DirectoryURL: env.DirectoryURL, Flows: b.N,
		Concurrency: 8, RootCAs: env.Roots, HTTP01Listeners: env.HTTP01Listeners, IgnoreRetryAfter: true})
	if err != nil {
		b.Fatal(err)
	}
	if s.Failed != 0 {
		b.Fatalf("%d flows failed: %+v", s.Failed, s.Errors)
	}
	b.ReportMetric(s.FlowsPerSecond, "flows/s")
	b.ReportMetric(s.Overall.P99, "p99-ms")
}
