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

// retryVA fails validations (a connection problem, as from a firewall)
// until fixed is set, and sends on attempts as each attempt has decided
// its result.
type retryVA struct {
	fixed    atomic.Bool
	calls    atomic.Int32
	attempts chan struct{}
}

func (v *retryVA) Validate(context.Context, acme.Identifier, string, string, string) error {
	ok := v.fixed.Load()
	v.calls.Add(1)
	v.attempts <- struct{}{}
	if ok {
		return nil
	}
	return acme.NewProblem(acme.Connection, "connection refused")
}

func (v *retryVA) CheckCAA(context.Context, acme.Identifier, bool, string, []string) error {
	return nil
}

// retryRA returns an RA over a new SQLite store validating with va in up
// to three attempts an hour apart (RetryDelay), so that no attempt after
// the first runs by itself during a test, with a failed-validations limit
// of 2 an hour, and a valid account with one pending order; it returns
// the RA, the store, the account and the order's first challenge.
func retryRA(t *testing.T, va Validator) (*RA, *store.Store, *store.Account, *store.Challenge) {
	t.Helper()
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	cfg := Config{ValidationAttempts: 3, RetryDelay: time.Hour, ResultWait: time.Hour, RateLimits: ratelimit.Config{
		FailedValidationsPerAccount: ratelimit.Rate{Count: 2, Period: time.Hour},
	}}
	r := New(cfg, st, va, nil, nil, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { r.Shutdown(ctx) })
	acct, az := pendingAuthz(t, r, st, "retry.test", time.Now())
	return r, st, acct, &az.Challenges[0]
}

// respondAgain answers challenge id as a client does ({} POSTed,
// RespondChallengeID) and checks that it is processing.
func respondAgain(t *testing.T, r *RA, acct *store.Account, id string) {
	t.Helper()
	c, _, err := r.RespondChallengeID(context.Background(), acct, id)
	if err != nil || c.Status != acme.StatusProcessing {
		t.Fatalf("response to a processing challenge: %+v, %v; want it processing", c, err)
	}
}

// TestChallengeRetryOnRequest: a client that responds again to a
// challenge whose validation failed an attempt and waits for the next
// (RFC 8555 §8.2: "Clients can explicitly request a retry by re-sending
// their response to a challenge"; "Servers SHOULD retry a request
// immediately on receiving such a POST request") gets the next attempt
// at once instead of after the retry delay (an hour here): the challenge
// turns valid, with one failed attempt recorded. Before, the response was
// answered with the challenge as it was, and the next attempt waited for
// the delay.
func TestChallengeRetryOnRequest(t *testing.T) {
	va := &retryVA{attempts: make(chan struct{}, 8)}
	r, st, acct, c := retryRA(t, va)
	ctx := context.Background()
	if _, _, err := r.RespondChallengeID(ctx, acct, c.ID); err != nil {
		t.Fatal(err)
	}
	<-va.attempts // the first attempt failed
	va.fixed.Store(true)
	respondAgain(t, r, acct, c.ID)
	select {
	case <-va.attempts: // the second attempt, which succeeds
	case <-time.After(time.Minute): // a guard only: the retry delay is an hour
		t.Fatal("no attempt after a requested retry")
	}
	// The validation may end before a WaitResult could wait for it (it
	// then returns nil): read what it stored once it has ended.
	r.jobs.Wait()
	done, err := st.GetChallenge(ctx, c.ID)
	if err != nil || done.Status != acme.StatusValid || done.Attempts != 1 {
		t.Fatalf("after a requested retry: %+v, %v; want valid after one recorded failed attempt", done, err)
	}
}

// TestChallengeRetryRequestsBounded: requests for a retry only bring the
// validation's remaining attempts forward. A client that asks for one
// after every failed attempt gets no more than ValidationAttempts
// attempts (3), the challenge ends invalid, and the failure is charged
// once to the failed-validations limit (2 an hour: a next order is still
// allowed); a request once the challenge is invalid starts nothing.
func TestChallengeRetryRequestsBounded(t *testing.T) {
	va := &retryVA{attempts: make(chan struct{}, 8)}
	r, st, acct, c := retryRA(t, va)
	ctx := context.Background()
	if _, _, err := r.RespondChallengeID(ctx, acct, c.ID); err != nil {
		t.Fatal(err)
	}
	attempt := func() {
		t.Helper()
		select {
		case <-va.attempts:
		case <-time.After(time.Minute): // a guard only: the retry delay is an hour
			t.Fatal("no attempt after a requested retry")
		}
	}
	for range 2 {
		attempt()
		respondAgain(t, r, acct, c.ID)
	}
	attempt() // the third and last
	r.jobs.Wait()
	cur, err := st.GetChallenge(ctx, c.ID)
	if err != nil || cur.Status != acme.StatusInvalid {
		t.Fatalf("challenge after its attempts: %+v, %v; want invalid", cur, err)
	}
	if again, _, err := r.RespondChallengeID(ctx, acct, c.ID); err != nil || again.Status != acme.StatusInvalid {
		t.Fatalf("response to the invalid challenge: %+v, %v; want it invalid as it is", again, err)
	}
	r.jobs.Wait()
	if n := va.calls.Load(); n != 3 {
		t.Errorf("%d validation attempts, want 3 (ValidationAttempts)", n)
	}
	if _, err := r.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("next.test")}); err != nil {
		t.Errorf("newOrder after one failed validation (limit 2): %v; want the failure charged once", err)
	}
}
