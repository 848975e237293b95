package ra

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestNewOrderReportsLongestWait: when failed-validations-per-account and
// new-orders-per-account both refuse a newOrder, Retry-After is the longer
// wait (docs/rate-limits.md "Refusals").
func TestNewOrderReportsLongestWait(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	clk := &testClock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	cfg := Config{RateLimits: ratelimit.Config{
		FailedValidationsPerAccount: ratelimit.Rate{Count: 2, Period: time.Hour}, // one refills in 30 min
		NewOrdersPerAccount:         ratelimit.Rate{Count: 1, Period: 3 * time.Hour},
		PolicyURL:                   "https://ca.test/limits",
	}}
	r := New(cfg, st, failVA{}, nil, clk.now, slog.New(slog.DiscardHandler))
	defer r.Shutdown(ctx)
	acct := &store.Account{ID: "acct", KeyThumbprint: "tp", JWK: []byte("{}"), Status: acme.StatusValid, CreatedAt: clk.now()}
	if err := st.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if _, err := r.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("a.test")}); err != nil {
		t.Fatal(err)
	}
	r.chargeFailedValidation(ctx, acct.ID)
	r.chargeFailedValidation(ctx, acct.ID)
	_, err := r.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("b.test")})
	rateLimitedAfter(t, err, 3*time.Hour)
}
