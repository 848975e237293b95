package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// clock is a settable clock for exact Retry-After checks.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)} }

func problem(t *testing.T, err error) *acme.Problem {
	t.Helper()
	p, ok := acme.AsProblem(err)
	if !ok || p.Type != acme.RateLimited {
		t.Fatalf("want a rateLimited problem, got %v", err)
	}
	return p
}

func TestParseRate(t *testing.T) {
	for _, c := range []struct {
		in   string
		want ratelimit.Rate
		err  bool
	}{
		{"300/3h", ratelimit.Rate{Count: 300, Period: 3 * time.Hour}, false},
		{"50/7d", ratelimit.Rate{Count: 50, Period: 7 * 24 * time.Hour}, false},
		{"5/90s", ratelimit.Rate{Count: 5, Period: 90 * time.Second}, false},
		{"0", ratelimit.Rate{}, false},
		{" 0 ", ratelimit.Rate{}, false},
		{"0/1h", ratelimit.Rate{}, true},
		{"10", ratelimit.Rate{}, true},
		{"-1/1h", ratelimit.Rate{}, true},
		{"10/0s", ratelimit.Rate{}, true},
		{"10/x", ratelimit.Rate{}, true},
	} {
		got, err := ratelimit.ParseRate(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v, error %v", c.in, got, err, c.want, c.err)
		}
		if err == nil {
			back, _ := ratelimit.ParseRate(got.String())
			if back != got {
				t.Errorf("ParseRate(%q).String() = %q does not parse back", c.in, got.String())
			}
		}
	}
}

// TestParseRateZeroCount: "0" alone is unlimited, but a count of 0 with a
// period ("0/1h", "none an hour") reads as a block while it would disable
// the limit, so it is refused in one line saying 0 alone is unlimited; the
// other errors say "0 = unlimited" as `ratelimit set`'s help does.
func TestParseRateZeroCount(t *testing.T) {
	for _, in := range []string{"0/1h", " 0/7d ", "00/1w", "-0/1h", "+0/90s"} {
		_, err := ratelimit.ParseRate(in)
		if !errors.Is(err, ratelimit.ErrZeroCount) || strings.Contains(err.Error(), "\n") ||
			!strings.Contains(err.Error(), "write 0 alone for unlimited") {
			t.Errorf("ParseRate(%q): %v, want one line refusing a count of 0 with a period", in, err)
		}
	}
	for _, in := range []string{"10", "x/1h", "-1/1h"} {
		if _, err := ratelimit.ParseRate(in); err == nil || !strings.Contains(err.Error(), "0 = unlimited") || errors.Is(err, ratelimit.ErrZeroCount) {
			t.Errorf("ParseRate(%q): %v, want the COUNT/PERIOD error saying 0 = unlimited", in, err)
		}
	}
}

func TestRegisteredDomainAndIPKey(t *testing.T) {
	for in, want := range map[string]string{
		"www.example.com":    "example.com",
		"*.a.b.example.com":  "example.com",
		"www.example.co.uk":  "example.co.uk",
		"Host.Example.Test.": "example.test",
		"intranet":           "intranet",
		"192.0.2.7":          "192.0.2.7",
		"co.uk":              "co.uk",
		// IPv6 addresses count per /64, as one holder gets all of it.
		"2001:db8:1:2::7":     "2001:db8:1:2::/64",
		"2001:DB8:1:2:ffff::": "2001:db8:1:2::/64",
		"::ffff:192.0.2.8":    "192.0.2.8",
	} {
		if got := ratelimit.RegisteredDomain(in); got != want {
			t.Errorf("RegisteredDomain(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"192.0.2.1":           "192.0.2.1",
		"::ffff:192.0.2.1":    "192.0.2.1",
		"2001:db8:1:2:3::4":   "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::": "2001:db8:1:2::/64",
	} {
		if got := ratelimit.IPKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("IPKey(%s) = %q, want %q", in, got, want)
		}
	}
}

// forEngine runs f on a fresh store of each engine.
func forEngine(t *testing.T, f func(t *testing.T, dsn string, st *store.Store)) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			dsn := e.NewDSN(t)
			f(t, dsn, storetest.OpenDSN(t, dsn))
		})
	}
}

// TestRetryAfterExact: 3 per minute is one every 20 s after a burst of 3;
// Retry-After is the wait until the next event is allowed, rounded up to
// the second, and the request succeeds exactly then.
func TestRetryAfterExact(t *testing.T) {
	forEngine(t, func(t *testing.T, _ string, st *store.Store) {
		ctx := context.Background()
		clk := newClock()
		l := ratelimit.New(ratelimit.Config{NewOrdersPerAccount: ratelimit.Rate{Count: 3, Period: time.Minute}, PolicyURL: "https://ca.test/limits"}, st, clk.now)
		req := ratelimit.Request{Limit: ratelimit.NewOrdersPerAccount, Key: "acct1"}
		for i := range 3 {
			if err := l.Spend(ctx, req); err != nil {
				t.Fatalf("spend %d: %v", i+1, err)
			}
		}
		p := problem(t, l.Spend(ctx, req))
		if p.RetryAfter != 20*time.Second || p.HelpURL != "https://ca.test/limits" || p.HTTPStatus() != 429 {
			t.Fatalf("4th spend: RetryAfter %v, help %q, status %d; want 20s, https://ca.test/limits, 429", p.RetryAfter, p.HelpURL, p.HTTPStatus())
		}
		clk.add(19500 * time.Millisecond)
		if p := problem(t, l.Spend(ctx, req)); p.RetryAfter != time.Second {
			t.Fatalf("0.5 s before: RetryAfter %v, want 1s (rounded up)", p.RetryAfter)
		}
		clk.add(499 * time.Millisecond)
		if p := problem(t, l.Spend(ctx, req)); p.RetryAfter != time.Second {
			t.Fatalf("1 ms before: RetryAfter %v, want 1s", p.RetryAfter)
		}
		clk.add(time.Millisecond)
		if err := l.Spend(ctx, req); err != nil {
			t.Fatalf("at Retry-After: %v", err)
		}
		if p := problem(t, l.Spend(ctx, req)); p.RetryAfter != 20*time.Second {
			t.Fatalf("after refill of one: RetryAfter %v, want 20s", p.RetryAfter)
		}
		// A long idle time refills the bucket to 3, not more.
		clk.add(time.Hour)
		for i := range 3 {
			if err := l.Spend(ctx, req); err != nil {
				t.Fatalf("after idle, spend %d: %v", i+1, err)
			}
		}
		if err := l.Spend(ctx, req); err == nil {
			t.Fatal("after idle, 4th spend allowed: bucket over-filled")
		}
		// Another key has its own bucket.
		if err := l.Spend(ctx, ratelimit.Request{Limit: ratelimit.NewOrdersPerAccount, Key: "acct2"}); err != nil {
			t.Fatalf("other key: %v", err)
		}
	})
}

// TestCheckChargeAllOrNone: Check never spends; Spend of several buckets
// spends none when one is empty; Charge records events past empty without
// saving up more than one empty bucket.
func TestCheckChargeAllOrNone(t *testing.T) {
	forEngine(t, func(t *testing.T, _ string, st *store.Store) {
		ctx := context.Background()
		clk := newClock()
		hour := ratelimit.Rate{Count: 2, Period: time.Hour}
		l := ratelimit.New(ratelimit.Config{FailedValidationsPerAccount: hour, CertificatesPerDomain: hour}, st, clk.now)
		fail := ratelimit.Request{Limit: ratelimit.FailedValidationsPerAccount, Key: "a"}
		for range 5 {
			if err := l.Check(ctx, fail); err != nil {
				t.Fatalf("check spent: %v", err)
			}
		}
		for range 5 { // 3 more than the bucket holds
			if err := l.Charge(ctx, fail); err != nil {
				t.Fatal(err)
			}
		}
		if p := problem(t, l.Check(ctx, fail)); p.RetryAfter != 30*time.Minute {
			t.Fatalf("after charges: RetryAfter %v, want 30m (one event, not three)", p.RetryAfter)
		}
		d1 := ratelimit.Request{Limit: ratelimit.CertificatesPerDomain, Key: "one.test"}
		d2 := ratelimit.Request{Limit: ratelimit.CertificatesPerDomain, Key: "two.test"}
		if err := l.Spend(ctx, d2); err != nil {
			t.Fatal(err)
		}
		if err := l.Spend(ctx, d2); err != nil {
			t.Fatal(err)
		}
		problem(t, l.Spend(ctx, d1, d2))
		// one.test was not spent by the refused pair: two more fit.
		if err := l.Spend(ctx, d1); err != nil {
			t.Fatalf("one.test spent by a refused request: %v", err)
		}
		if err := l.Spend(ctx, d1); err != nil {
			t.Fatalf("one.test spent by a refused request: %v", err)
		}
	})
}

// TestOverridesAndDisabled: an account override replaces the default
// rate (first matching subject wins); count 0 in an override or a zero
// rate in the configuration disables the limit.
func TestOverridesAndDisabled(t *testing.T) {
	forEngine(t, func(t *testing.T, _ string, st *store.Store) {
		ctx := context.Background()
		clk := newClock()
		for _, o := range []store.RateLimitOverride{
			{Limit: string(ratelimit.NewOrdersPerAccount), Subject: ratelimit.AccountSubject("big"), Count: 5, Period: time.Hour},
			{Limit: string(ratelimit.NewOrdersPerAccount), Subject: ratelimit.AccountSubject("free"), Count: 0, Period: time.Hour},
			{Limit: string(ratelimit.NewOrdersPerAccount), Subject: ratelimit.EABSubject("kid1"), Count: 3, Period: time.Hour},
		} {
			if err := st.SetRateLimitOverride(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		l := ratelimit.New(ratelimit.Config{NewOrdersPerAccount: ratelimit.Rate{Count: 1, Period: time.Hour}}, st, clk.now)
		spendN := func(acct string, subjects []string) int {
			n := 0
			for range 10 {
				if err := l.Spend(ctx, ratelimit.Request{Limit: ratelimit.NewOrdersPerAccount, Key: acct, Subjects: subjects}); err != nil {
					problem(t, err)
					break
				}
				n++
			}
			return n
		}
		for _, c := range []struct {
			acct     string
			subjects []string
			want     int
		}{
			{"small", []string{ratelimit.AccountSubject("small")}, 1},
			{"big", []string{ratelimit.AccountSubject("big"), ratelimit.EABSubject("kid1")}, 5},
			{"viaeab", []string{ratelimit.AccountSubject("viaeab"), ratelimit.EABSubject("kid1")}, 3},
			{"free", []string{ratelimit.AccountSubject("free")}, 10},
		} {
			if got := spendN(c.acct, c.subjects); got != c.want {
				t.Errorf("account %s: %d orders allowed, want %d", c.acct, got, c.want)
			}
		}
		off := ratelimit.New(ratelimit.Config{}, st, clk.now)
		for range 20 {
			if err := off.Spend(ctx, ratelimit.Request{Limit: ratelimit.NewAccountsPerIP, Key: "192.0.2.1"}); err != nil {
				t.Fatalf("disabled limit refused: %v", err)
			}
		}
	})
}

// TestTwoNodesConcurrent: two stores on one database (two nodes) spend
// one bucket of 25 from 16 goroutines each; exactly 25 succeed, and every
// refusal's Retry-After is the exact wait derived from the final state.
func TestTwoNodesConcurrent(t *testing.T) {
	forEngine(t, func(t *testing.T, dsn string, st1 *store.Store) {
		ctx := context.Background()
		st2 := storetest.OpenDSN(t, dsn)
		clk := newClock() // frozen: no refill during the run
		rate := ratelimit.Rate{Count: 25, Period: time.Hour}
		cfg := ratelimit.Config{NewAccountsPerIP: rate}
		nodes := []*ratelimit.Limiter{ratelimit.New(cfg, st1, clk.now), ratelimit.New(cfg, st2, clk.now)}
		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for g := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 4 {
					err := nodes[g%2].Spend(ctx, ratelimit.Request{Limit: ratelimit.NewAccountsPerIP, Key: "198.51.100.7"})
					var p *acme.Problem
					switch {
					case err == nil:
						ok.Add(1)
					case errors.As(err, &p) && p.Type == acme.RateLimited:
						refused.Add(1)
						// 25 spent at one instant: the next is allowed one
						// interval (144 s) later.
						if p.RetryAfter != rate.Period/25 {
							errs <- fmt.Errorf("Retry-After %v, want %v", p.RetryAfter, rate.Period/25)
						}
					default:
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if ok.Load() != 25 || refused.Load() != 128-25 {
			t.Fatalf("%d allowed, %d refused; want 25 and %d", ok.Load(), refused.Load(), 128-25)
		}
	})
}

// accountWithPending stores account "acct" with one order of n pending
// authorizations az0… (h0.test…), the i-th expiring i+1 hours after now.
func accountWithPending(t *testing.T, st *store.Store, now time.Time, n int) {
	t.Helper()
	ctx := context.Background()
	if err := st.CreateAccount(ctx, &store.Account{ID: "acct", KeyThumbprint: "tp", JWK: []byte("{}"), Status: acme.StatusValid, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	var authzs []*store.Authorization
	var ids []string
	for i := range n {
		authzs = append(authzs, &store.Authorization{ID: fmt.Sprintf("az%d", i), AccountID: "acct",
			Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: fmt.Sprintf("h%d.test", i)},
			Status:     acme.StatusPending, Expires: now.Add(time.Duration(i+1) * time.Hour), CreatedAt: now})
		ids = append(ids, authzs[i].ID)
	}
	o := &store.Order{ID: "o1", AccountID: "acct", Status: acme.StatusPending, Expires: now.Add(time.Hour),
		Identifiers: []acme.Identifier{authzs[0].Identifier}, AuthzIDs: ids, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateOrder(ctx, o, authzs); err != nil {
		t.Fatal(err)
	}
}

// TestCheckPending counts pending authorizations with those being added.
func TestCheckPending(t *testing.T) {
	forEngine(t, func(t *testing.T, _ string, st *store.Store) {
		ctx := context.Background()
		clk := newClock()
		now := clk.now()
		accountWithPending(t, st, now, 3)
		l := ratelimit.New(ratelimit.Config{PendingAuthorizationsPerAccount: 4}, st, clk.now)
		if err := l.CheckPending(ctx, "acct", nil, 1); err != nil {
			t.Fatalf("3+1 of 4: %v", err)
		}
		clk.add(10 * time.Minute)
		p := problem(t, l.CheckPending(ctx, "acct", nil, 2))
		if p.RetryAfter != 50*time.Minute {
			t.Fatalf("3+2 of 4: RetryAfter %v, want 50m (earliest pending expiry)", p.RetryAfter)
		}
	})
}

// meetingStore makes RateBuckets and PendingAuthorizations wait (up to
// 5 s) until both have been called, so that a caller making them one after
// the other gets an error from the first.
type meetingStore struct {
	*store.Store
	buckets, pending chan struct{}
}

func meet(ctx context.Context, mine, other chan struct{}) error {
	close(mine)
	select {
	case <-other:
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("the other read did not start meanwhile")
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *meetingStore) RateBuckets(ctx context.Context, keys []string) ([]time.Time, error) {
	if err := meet(ctx, s.buckets, s.pending); err != nil {
		return nil, err
	}
	return s.Store.RateBuckets(ctx, keys)
}

func (s *meetingStore) PendingAuthorizations(ctx context.Context, account string, now time.Time) (int, time.Time, error) {
	if err := meet(ctx, s.pending, s.buckets); err != nil {
		return 0, time.Time{}, err
	}
	return s.Store.PendingAuthorizations(ctx, account, now)
}

// TestStartNewOrderChecks checks that newOrder's two limit reads run side
// by side (the store's reads wait for each other) and that wait gives what
// Check followed by CheckPending gives: Check's refusal first, no pending
// refusal when nothing is added, CheckPending's refusal otherwise.
func TestStartNewOrderChecks(t *testing.T) {
	forEngine(t, func(t *testing.T, _ string, st *store.Store) {
		ctx := context.Background()
		clk := newClock()
		now := clk.now()
		accountWithPending(t, st, now, 1)
		cfg := ratelimit.Config{PendingAuthorizationsPerAccount: 1, NewOrdersPerAccount: ratelimit.Rate{Count: 1, Period: time.Hour},
			FailedValidationsPerAccount: ratelimit.Rate{Count: 5, Period: time.Hour}}
		checks := []ratelimit.Request{{Limit: ratelimit.FailedValidationsPerAccount, Key: "acct"}, {Limit: ratelimit.NewOrdersPerAccount, Key: "acct"}}
		var refusals []ratelimit.Name // OnRefuse's, all starts together
		start := func() func(int) error {
			ms := &meetingStore{Store: st, buckets: make(chan struct{}), pending: make(chan struct{})}
			l := ratelimit.New(cfg, ms, clk.now)
			l.OnRefuse = func(n ratelimit.Name) { refusals = append(refusals, n) }
			return l.StartNewOrderChecks(ctx, checks, "acct", nil)
		}
		if err := start()(0); err != nil {
			t.Fatalf("one pending of 1, adding none: %v", err)
		}
		if p := problem(t, start()(1)); !strings.Contains(p.Detail, "pending authorizations") {
			t.Fatalf("one pending of 1, adding one: %q, want the pending-authorizations refusal", p.Detail)
		}
		// Spend the only new order: Check now refuses, and its refusal
		// comes first.
		if err := ratelimit.New(cfg, st, clk.now).Spend(ctx, checks[1]); err != nil {
			t.Fatal(err)
		}
		if p := problem(t, start()(1)); !strings.Contains(p.Detail, string(ratelimit.NewOrdersPerAccount)) {
			t.Fatalf("after the spend: %q, want the %s refusal", p.Detail, ratelimit.NewOrdersPerAccount)
		}
		// Each refusal told is counted once; the pending refusal that
		// Check's refusal hides is not counted.
		want := []ratelimit.Name{ratelimit.PendingAuthorizationsPerAccount, ratelimit.NewOrdersPerAccount}
		if !slices.Equal(refusals, want) {
			t.Errorf("refusals counted %v, want %v", refusals, want)
		}
	})
}

// TestOverrideAndRateChangesOwnBuckets: an account's override of
// certificates-per-domain spends that account's own bucket, so other
// accounts ordering the domain keep the configured rate; and a rate set,
// changed or removed (an override deleted, the configuration changed at a
// restart) starts from a bucket no other rate filled. The bucket was one
// per limit and key whatever the rate: a throttled account (1/1d) locked
// the domain for every account for a day, and the day's debt held an
// account after its override was deleted or the configured rate raised.
func TestOverrideAndRateChangesOwnBuckets(t *testing.T) {
	forEngine(t, func(t *testing.T, _ string, st *store.Store) {
		ctx := context.Background()
		clk := newClock()
		day := ratelimit.Rate{Count: 1, Period: 24 * time.Hour}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(st.SetRateLimitOverride(ctx, store.RateLimitOverride{Limit: string(ratelimit.CertificatesPerDomain),
			Subject: ratelimit.AccountSubject("x"), Count: day.Count, Period: day.Period}))
		cfg := ratelimit.Config{CertificatesPerDomain: ratelimit.Rate{Count: 2, Period: time.Hour}}
		l := ratelimit.New(cfg, st, clk.now)
		domain := func(acct string) ratelimit.Request {
			return ratelimit.Request{Limit: ratelimit.CertificatesPerDomain, Key: "shared.org", Subjects: []string{ratelimit.AccountSubject(acct)}}
		}
		must(l.Spend(ctx, domain("x")))
		if err := l.Spend(ctx, domain("x")); err == nil {
			t.Fatal("the throttled account spent twice under 1/1d")
		}
		for i := range 2 {
			if err := l.Spend(ctx, domain("y")); err != nil {
				t.Fatalf("another account's certificate %d for the domain: %v (the throttled account's override held it)", i+1, err)
			}
		}
		if err := l.Spend(ctx, domain("y")); err == nil {
			t.Fatal("the configured rate 2/1h allowed a third")
		}

		// The override deleted: the configured rate applies to x again,
		// from a bucket of its own rate.
		must(st.SetRateLimitOverride(ctx, store.RateLimitOverride{Limit: string(ratelimit.NewOrdersPerAccount),
			Subject: ratelimit.AccountSubject("v"), Count: day.Count, Period: day.Period}))
		orders := ratelimit.Request{Limit: ratelimit.NewOrdersPerAccount, Key: "v", Subjects: []string{ratelimit.AccountSubject("v")}}
		ocfg := ratelimit.Config{NewOrdersPerAccount: ratelimit.Rate{Count: 5, Period: time.Hour}}
		must(ratelimit.New(ocfg, st, clk.now).Spend(ctx, orders))
		must(st.DeleteRateLimitOverride(ctx, string(ratelimit.NewOrdersPerAccount), ratelimit.AccountSubject("v")))
		if err := ratelimit.New(ocfg, st, clk.now).Spend(ctx, orders); err != nil {
			t.Fatalf("after the override was deleted, under 5/1h with one order: %v", err)
		}

		// The configuration changed at a restart: 1/1d, then 10/1m.
		ip := ratelimit.Request{Limit: ratelimit.NewAccountsPerIP, Key: "192.0.2.7"}
		must(ratelimit.New(ratelimit.Config{NewAccountsPerIP: day}, st, clk.now).Spend(ctx, ip))
		if err := ratelimit.New(ratelimit.Config{NewAccountsPerIP: ratelimit.Rate{Count: 10, Period: time.Minute}}, st, clk.now).Spend(ctx, ip); err != nil {
			t.Fatalf("under 10/1m after a restart that raised the rate from 1/1d: %v", err)
		}
	})
}

// TestLongPeriod: a rate's period is at most ratelimit.MaxPeriod (100
// years), refused beyond it in one line; within it the buckets count
// exactly: the Retry-After of a refusal is when the next event is let
// through. Periods up to 106751d were taken, and the bucket's time, cut
// at the year 2262 where the store's Unix nanoseconds end, gave
// "2/100000d" a Retry-After of 2045 while the server refused until 2125.
// An override stored with a longer period (by an older version) counts as
// MaxPeriod, so its Retry-After is true too.
func TestLongPeriod(t *testing.T) {
	for _, in := range []string{"2/100000d", "1/36501d", "1/5215w", "1/106751d", "1/106752d"} {
		_, err := ratelimit.ParseRate(in)
		if err == nil || !strings.Contains(err.Error(), "is too long (at most 36500d, 100 years)") || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseRate(%q): %v, want one line refusing a period over 36500d", in, err)
		}
	}
	if r, err := ratelimit.ParseRate("2/36500d"); err != nil || r.Period != ratelimit.MaxPeriod {
		t.Errorf("ParseRate(2/36500d) = %v, %v", r, err)
	}
	ctx := context.Background()
	half := ratelimit.MaxPeriod / 2
	for _, c := range []struct {
		name     string
		override time.Duration // period of an override stored for the subject; 0 for none
	}{{"configured 2/36500d", 0}, {"stored override 2/100000d", 100000 * 24 * time.Hour}} {
		t.Run(c.name, func(t *testing.T) {
			st := storetest.OpenSQLite(t)
			clk := newClock()
			if c.override != 0 {
				if err := st.SetRateLimitOverride(ctx, store.RateLimitOverride{Limit: string(ratelimit.NewOrdersPerAccount), Subject: ratelimit.AccountSubject("acct"),
					Count: 2, Period: c.override, CreatedAt: clk.now()}); err != nil {
					t.Fatal(err)
				}
			}
			l := ratelimit.New(ratelimit.Config{NewOrdersPerAccount: ratelimit.Rate{Count: 2, Period: ratelimit.MaxPeriod}}, st, clk.now)
			req := ratelimit.Request{Limit: ratelimit.NewOrdersPerAccount, Key: "acct", Subjects: []string{ratelimit.AccountSubject("acct")}}
			for i := range 2 {
				if err := l.Spend(ctx, req); err != nil {
					t.Fatalf("spend %d: %v", i+1, err)
				}
			}
			if p := problem(t, l.Spend(ctx, req)); p.RetryAfter != half {
				t.Fatalf("3rd spend: Retry-After %v (%s), want %v (%s)", p.RetryAfter, clk.now().Add(p.RetryAfter).Format(time.DateOnly),
					half, clk.now().Add(half).Format(time.DateOnly))
			}
			clk.add(half - time.Second)
			if p := problem(t, l.Spend(ctx, req)); p.RetryAfter != time.Second {
				t.Fatalf("a second before: Retry-After %v, want 1s", p.RetryAfter)
			}
			clk.add(time.Second)
			if err := l.Spend(ctx, req); err != nil {
				t.Fatalf("at the Retry-After: %v", err)
			}
		})
	}
}
