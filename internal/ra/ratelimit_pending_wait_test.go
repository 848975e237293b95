package ra

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// pendingLimitRA returns an RA over a fresh SQLite store with limits, its
// clock, and an account.
func pendingLimitRA(t *testing.T, limits ratelimit.Config) (*RA, *testClock, *store.Account) {
	t.Helper()
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	clk := &testClock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	limits.PolicyURL = "https://ca.test/limits"
	r := New(Config{RateLimits: limits}, st, failVA{}, nil, clk.now, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { r.Shutdown(ctx) })
	acct := &store.Account{ID: "acct", KeyThumbprint: "tp", JWK: []byte("{}"), Status: acme.StatusValid, CreatedAt: clk.now()}
	if err := st.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	return r, clk, acct
}

// TestPendingLimitOrderOverLimit: an order that alone adds more pending
// authorizations than pending-authorizations-per-account allows can never
// be accepted; its rateLimited problem says so and carries no Retry-After
// (it carried 1 s, and a client honouring it retried for ever).
func TestPendingLimitOrderOverLimit(t *testing.T) {
	r, _, acct := pendingLimitRA(t, ratelimit.Config{PendingAuthorizationsPerAccount: 3})
	_, err := r.NewOrder(context.Background(), acct, acme.NewOrderRequest{Identifiers: dnsIDs("a.test", "b.test", "c.test", "d.test")})
	p, ok := acme.AsProblem(err)
	if !ok || p.Type != acme.RateLimited || p.RetryAfter != 0 || p.HelpURL == "" || !strings.Contains(p.Detail, "no retry can succeed") {
		t.Fatalf("got %v (Retry-After %v); want rateLimited without Retry-After saying no retry can succeed", err, retryOf(p))
	}
	// Within the limit it is accepted.
	if _, err := r.NewOrder(context.Background(), acct, acme.NewOrderRequest{Identifiers: dnsIDs("a.test", "b.test", "c.test")}); err != nil {
		t.Fatal(err)
	}
}

// TestPendingLimitWaitsForEnoughExpiries: when more than one pending
// authorization must expire for an order to fit, Retry-After is the wait
// until the last of them expires (docs/rate-limits.md: the wait until the
// same request would succeed), not until the earliest.
func TestPendingLimitWaitsForEnoughExpiries(t *testing.T) {
	ctx := context.Background()
	r, clk, acct := pendingLimitRA(t, ratelimit.Config{PendingAuthorizationsPerAccount: 3})
	if _, err := r.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("a.test")}); err != nil {
		t.Fatal(err)
	}
	clk.mu.Lock()
	clk.t = clk.t.Add(time.Hour)
	clk.mu.Unlock()
	if _, err := r.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("b.test", "c.test")}); err != nil {
		t.Fatal(err)
	}
	// 3 pending (one expiring in 7d − 1h, two in 7d); 2 more need two
	// of them gone: 7 days.
	_, err := r.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("d.test", "e.test")})
	rateLimitedAfter(t, err, 7*24*time.Hour)
	// 1 more needs one gone: the earliest, 7d − 1h.
	_, err = r.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("d.test")})
	rateLimitedAfter(t, err, 7*24*time.Hour-time.Hour)
}

// TestPendingLimitLongestWait: when new-orders-per-account and
// pending-authorizations-per-account both refuse a newOrder, Retry-After
// is the longer wait (docs/rate-limits.md "Refusals"); the pending
// count's wait was dropped whenever a bucket refused too.
func TestPendingLimitLongestWait(t *testing.T) {
	ctx := context.Background()
	r, _, acct := pendingLimitRA(t, ratelimit.Config{PendingAuthorizationsPerAccount: 1,
		NewOrdersPerAccount: ratelimit.Rate{Count: 1, Period: time.Hour}})
	if _, err := r.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("a.test")}); err != nil {
		t.Fatal(err)
	}
	_, err := r.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("b.test")})
	rateLimitedAfter(t, err, 7*24*time.Hour)
	_, err = r.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("b.test", "c.test")})
	if p, _ := acme.AsProblem(err); p == nil || p.Type != acme.RateLimited || p.RetryAfter != 0 {
		t.Fatalf("got %v (Retry-After %v); want the pending limit's refusal without Retry-After", err, retryOf(p))
	}
}
