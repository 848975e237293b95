package ra

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// noVA fails the test when a validation attempt runs: the node it serves
// validates nothing.
type noVA struct{ t *testing.T }

func (v noVA) Validate(context.Context, acme.Identifier, string, string, string) error {
	v.t.Error("validation attempt on the node that does not validate")
	return nil
}

func (v noVA) CheckCAA(context.Context, acme.Identifier, bool, string, []string) error { return nil }

// retryNodes returns, on engine e, two nodes (RAs) over one database, as
// a cluster's: on PostgreSQL each with a store of its own on one database,
// on SQLite (one process) over one store. Node A validates with va in up
// to three attempts an hour apart (RetryDelay, so that no attempt after
// the first runs by itself during a test), reading its challenge's row
// every millisecond while it waits (RetryPoll); node B validates nothing.
// Neither is Exclusive. The failed-validations limit is 2 an hour. It
// returns both nodes, A's store, a valid account and the first challenge
// of its pending order.
func retryNodes(t *testing.T, e storetest.Engine, va Validator) (a, b *RA, st *store.Store, acct *store.Account, c *store.Challenge) {
	t.Helper()
	ctx := context.Background()
	dsn := e.NewDSN(t)
	stA, stB := storetest.OpenDSN(t, dsn), (*store.Store)(nil)
	if e.Name == store.EnginePostgres {
		stB = storetest.OpenDSN(t, dsn)
	} else {
		stB = stA
	}
	cfg := Config{ValidationAttempts: 3, RetryDelay: time.Hour, RetryPoll: time.Millisecond, ResultWait: time.Hour,
		RateLimits: ratelimit.Config{FailedValidationsPerAccount: ratelimit.Rate{Count: 2, Period: time.Hour}}}
	a = New(cfg, stA, va, nil, nil, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { a.Shutdown(ctx) })
	b = New(cfg, stB, noVA{t}, nil, nil, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { b.Shutdown(ctx) })
	acct, az := pendingAuthz(t, a, stA, "retry.test", time.Now())
	return a, b, stA, acct, &az.Challenges[0]
}

// eachEngineT runs f as a parallel subtest per engine (PostgreSQL must be
// reachable: storetest.RequirePostgres).
func eachEngineT(t *testing.T, f func(t *testing.T, e storetest.Engine)) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			if e.Name == store.EnginePostgres {
				storetest.RequirePostgres(t)
			}
			f(t, e)
		})
	}
}

// nextAttempt waits for va's next attempt (a guard only: the retry delay
// is an hour, so an attempt comes only from a requested retry).
func nextAttempt(t *testing.T, va *retryVA) {
	t.Helper()
	select {
	case <-va.attempts:
	case <-time.After(time.Minute):
		t.Fatal("no attempt after a requested retry")
	}
}

// TestChallengeRetryRequestOtherNode: on both engines, a client whose
// challenge failed its first attempt on node A and that responds again
// through node B (a load balancer sends it there; RFC 8555 §8.2: "Servers
// SHOULD retry a request immediately on receiving such a POST request")
// gets the next attempt at once on node A, instead of after the retry
// delay (an hour here): the challenge turns valid with one failed attempt
// recorded, and node B validates nothing. Before, node B answered the
// challenge as it was and node A's next attempt waited for its delay.
// A response to the challenge once valid, through B, changes nothing: no
// retry request is recorded.
func TestChallengeRetryRequestOtherNode(t *testing.T) {
	eachEngineT(t, func(t *testing.T, e storetest.Engine) {
		va := &retryVA{attempts: make(chan struct{}, 8)}
		a, b, st, acct, c := retryNodes(t, e, va)
		ctx := context.Background()
		if _, _, err := a.RespondChallengeID(ctx, acct, c.ID); err != nil {
			t.Fatal(err)
		}
		nextAttempt(t, va) // the first, which fails
		va.fixed.Store(true)
		respondAgain(t, b, acct, c.ID)
		if at, err := st.ChallengeRetryRequestedAt(ctx, c.ID); err != nil || at.IsZero() {
			t.Fatalf("retry request through node B: recorded %v, %v; want it recorded", at, err)
		}
		nextAttempt(t, va) // the second, which succeeds
		a.jobs.Wait()
		done, err := st.GetChallenge(ctx, c.ID)
		if err != nil || done.Status != acme.StatusValid || done.Attempts != 1 {
			t.Fatalf("after a retry requested through node B: %+v, %v; want valid after one recorded failed attempt", done, err)
		}
		before, err := st.ChallengeRetryRequestedAt(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		again, _, err := b.RespondChallengeID(ctx, acct, c.ID)
		if err != nil || again.Status != acme.StatusValid {
			t.Fatalf("response through node B to the valid challenge: %+v, %v; want it valid as it is", again, err)
		}
		if after, err := st.ChallengeRetryRequestedAt(ctx, c.ID); err != nil || !after.Equal(before) {
			t.Fatalf("response to the valid challenge changed the retry request: %v → %v, %v", before, after, err)
		}
		if n := va.calls.Load(); n != 2 {
			t.Errorf("%d validation attempts, want 2", n)
		}
	})
}

// TestChallengeRetryRequestsOtherNodeBounded: on both engines, requests
// for a retry through node B, after every failed attempt on node A, only
// bring A's remaining attempts forward, as through A itself
// (TestChallengeRetryRequestsBounded): no more than ValidationAttempts
// attempts (3), the challenge ends invalid and the failure is charged
// once (limit 2 an hour: a next order is still allowed); a request
// through B once it is invalid starts nothing and records nothing.
func TestChallengeRetryRequestsOtherNodeBounded(t *testing.T) {
	eachEngineT(t, func(t *testing.T, e storetest.Engine) {
		va := &retryVA{attempts: make(chan struct{}, 8)}
		a, b, st, acct, c := retryNodes(t, e, va)
		ctx := context.Background()
		if _, _, err := a.RespondChallengeID(ctx, acct, c.ID); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			nextAttempt(t, va)
			respondAgain(t, b, acct, c.ID)
		}
		nextAttempt(t, va) // the third and last
		a.jobs.Wait()
		cur, err := st.GetChallenge(ctx, c.ID)
		if err != nil || cur.Status != acme.StatusInvalid {
			t.Fatalf("challenge after its attempts: %+v, %v; want invalid", cur, err)
		}
		before, err := st.ChallengeRetryRequestedAt(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if again, _, err := b.RespondChallengeID(ctx, acct, c.ID); err != nil || again.Status != acme.StatusInvalid {
			t.Fatalf("response through node B to the invalid challenge: %+v, %v; want it invalid as it is", again, err)
		}
		if after, err := st.ChallengeRetryRequestedAt(ctx, c.ID); err != nil || !after.Equal(before) {
			t.Fatalf("response to the invalid challenge changed the retry request: %v → %v, %v", before, after, err)
		}
		a.jobs.Wait()
		if n := va.calls.Load(); n != 3 {
			t.Errorf("%d validation attempts, want 3 (ValidationAttempts)", n)
		}
		if _, err := a.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("next.test")}); err != nil {
			t.Errorf("newOrder after one failed validation (limit 2): %v; want the failure charged once", err)
		}
	})
}

// retryCountingStore counts the retry-request statements: the reads of a
// challenge's retry request (while a validation waits) and the writes of
// one (a request through a node that does not validate).
type retryCountingStore struct {
	*store.Store
	reads, writes atomic.Int32
}

func (s *retryCountingStore) ChallengeRetryRequestedAt(ctx context.Context, id string) (time.Time, error) {
	s.reads.Add(1)
	return s.Store.ChallengeRetryRequestedAt(ctx, id)
}

func (s *retryCountingStore) RequestChallengeRetry(ctx context.Context, id string, at time.Time) error {
	s.writes.Add(1)
	return s.Store.RequestChallengeRetry(ctx, id, at)
}

// TestChallengeRetryRequestNoCostOnCommonPath: a validation that succeeds
// at its first attempt never reads its challenge's retry request (it does
// not wait), even on a node that is not Exclusive and polls every
// millisecond; and a retry requested through the node that validates is
// passed in memory, with no write.
func TestChallengeRetryRequestNoCostOnCommonPath(t *testing.T) {
	va := &retryVA{attempts: make(chan struct{}, 8)}
	_, st, acct, c := retryRA(t, va)
	counted := &retryCountingStore{Store: st}
	ctx := context.Background()
	r := New(Config{ValidationAttempts: 3, RetryDelay: time.Hour, RetryPoll: time.Millisecond}, counted, va, nil, nil, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { r.Shutdown(ctx) })

	va.fixed.Store(true)
	if _, _, err := r.RespondChallengeID(ctx, acct, c.ID); err != nil {
		t.Fatal(err)
	}
	nextAttempt(t, va)
	r.jobs.Wait()
	if cur, err := st.GetChallenge(ctx, c.ID); err != nil || cur.Status != acme.StatusValid {
		t.Fatalf("challenge: %+v, %v; want valid", cur, err)
	}
	if n, w := counted.reads.Load(), counted.writes.Load(); n != 0 || w != 0 {
		t.Errorf("a validation that succeeded first time read its retry request %d times and wrote %d; want none", n, w)
	}

	// A second challenge fails its first attempt; the retry is requested
	// through the validating node itself.
	va.fixed.Store(false)
	_, az := pendingAuthzFor(t, r, st, acct, "retry2.test")
	c2 := az.Challenges[0]
	if _, _, err := r.RespondChallengeID(ctx, acct, c2.ID); err != nil {
		t.Fatal(err)
	}
	nextAttempt(t, va)
	va.fixed.Store(true)
	respondAgain(t, r, acct, c2.ID)
	nextAttempt(t, va)
	r.jobs.Wait()
	if w := counted.writes.Load(); w != 0 {
		t.Errorf("a retry requested through the validating node wrote %d retry requests; want none", w)
	}
}

// pendingAuthzFor orders name for acct through r and returns the order's
// authorization.
func pendingAuthzFor(t *testing.T, r *RA, st *store.Store, acct *store.Account, name string) (*store.Order, *store.Authorization) {
	t.Helper()
	ctx := context.Background()
	o, err := r.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs(name)})
	if err != nil {
		t.Fatal(err)
	}
	az, err := st.GetAuthorization(ctx, o.AuthzIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	return o, az
}
