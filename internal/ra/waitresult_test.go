package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// okVA passes every validation.
type okVA struct{}

func (okVA) Validate(context.Context, acme.Identifier, string, string, string) error { return nil }
func (okVA) CheckCAA(context.Context, acme.Identifier, bool, string, []string) error {
	return nil
}

// gatedVA is Validator v whose validations wait until gate is closed, so
// that a test can call WaitResult while the validation still runs (a
// validation that ended before WaitResult looks for it hands back nothing,
// and the caller reads the challenge instead).
type gatedVA struct {
	Validator
	gate <-chan struct{}
}

func (v gatedVA) Validate(ctx context.Context, id acme.Identifier, typ, token, keyAuth string) error {
	<-v.gate
	return v.Validator.Validate(ctx, id, typ, token, keyAuth)
}

// waitingCtx is a context that closes waiting the first time its Done is
// asked for: WaitResult asks only once it holds the running validation's
// waiter, right before it waits for it.
type waitingCtx struct {
	context.Context
	once    sync.Once
	waiting chan struct{}
}

func (c *waitingCtx) Done() <-chan struct{} {
	c.once.Do(func() { close(c.waiting) })
	return c.Context.Done()
}

// waitResult starts challenge c's validation with RespondChallenge (its
// validator must be a gatedVA on gate) and returns what WaitResult hands
// back for it, having let the validation run only once WaitResult waits
// for it.
func waitResult(t *testing.T, r *RA, acct *store.Account, az *store.Authorization, c *store.Challenge, gate chan struct{}) *store.Challenge {
	t.Helper()
	started, err := r.RespondChallenge(context.Background(), acct, az, c)
	if err != nil || started.Status != acme.StatusProcessing {
		t.Fatalf("RespondChallenge = %+v, %v", started, err)
	}
	wctx := &waitingCtx{Context: context.Background(), waiting: make(chan struct{})}
	res := make(chan *store.Challenge, 1)
	go func() { res <- r.WaitResult(wctx, c.ID) }()
	select {
	case <-wctx.waiting:
		close(gate)
	case done := <-res:
		close(gate)
		t.Fatalf("WaitResult returned %+v without waiting for the running validation", done)
	}
	return <-res
}

// handedBackEqualsStored answers challenge id through RespondChallenge and
// WaitResult (waitResult), fails unless WaitResult hands back exactly what
// a read of the challenge then returns, and returns that read.
func handedBackEqualsStored(t *testing.T, r *RA, st *store.Store, acct *store.Account, id string, gate chan struct{}) *store.Challenge {
	t.Helper()
	ctx := context.Background()
	c, az, err := st.GetChallengeAuthorization(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	done := waitResult(t, r, acct, az, c, gate)
	if done == nil {
		t.Fatal("WaitResult handed back nothing for a validation that ended in this process")
	}
	stored, err := st.GetChallenge(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(done, stored) {
		t.Fatalf("WaitResult = %+v (error %v), stored %+v (error %v)", done, done.Error, stored, stored.Error)
	}
	return stored
}

// gatedRA returns an RA on a new SQLite store whose clock stands at now,
// validating once with va and waiting up to an hour in WaitResult, with
// account "acct" stored; both are closed when t ends.
func gatedRA(t *testing.T, va Validator, now time.Time) (*RA, *store.Store, *store.Account) {
	t.Helper()
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	clk := &testClock{t: now}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	r := New(Config{ValidationAttempts: 1, ResultWait: time.Hour}, st, va, selfSigner{key: caKey}, clk.now, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { r.Shutdown(ctx) })
	acct := &store.Account{ID: "acct", KeyThumbprint: "tp", JWK: []byte("{}"), Status: acme.StatusValid, CreatedAt: now}
	if err := st.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	return r, st, acct
}

// TestHandedBackEqualsStored: what NewOrderAuthz returns is what reading
// the order's authorizations returns, and what WaitResult hands back for
// a validation that ends valid or invalid is what reading the challenge
// returns, so the front end can render them without those reads.
func TestHandedBackEqualsStored(t *testing.T) {
	for _, tc := range []struct {
		name   string
		va     Validator
		status string
	}{{"valid", okVA{}, acme.StatusValid}, {"invalid", failVA{}, acme.StatusInvalid}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			gate := make(chan struct{})
			r, st, acct := gatedRA(t, gatedVA{tc.va, gate}, time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.UTC))
			o, authzs, err := r.NewOrderAuthz(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("a.test", "b.test")})
			if err != nil {
				t.Fatal(err)
			}
			read, err := st.GetAuthorizations(ctx, o.AuthzIDs)
			if err != nil {
				t.Fatal(err)
			}
			if len(authzs) != len(read) {
				t.Fatalf("NewOrderAuthz returned %d authorizations, the order has %d", len(authzs), len(read))
			}
			for i := range read {
				got := *authzs[i]
				got.Challenges = nil // GetAuthorizations reads none
				if !reflect.DeepEqual(&got, read[i]) {
					t.Fatalf("authorization %d: returned %+v, stored %+v", i, &got, read[i])
				}
			}
			full, err := st.GetAuthorization(ctx, o.AuthzIDs[0])
			if err != nil {
				t.Fatal(err)
			}
			// The store reads challenges ordered by type; the order view
			// renders none.
			created := slices.Clone(authzs[0].Challenges)
			slices.SortFunc(created, func(a, b store.Challenge) int { return strings.Compare(a.Type, b.Type) })
			if !reflect.DeepEqual(created, full.Challenges) {
				t.Fatalf("challenges: returned %+v, stored %+v", authzs[0].Challenges, full.Challenges)
			}

			stored := handedBackEqualsStored(t, r, st, acct, full.Challenges[0].ID, gate)
			if stored.Status != tc.status {
				t.Fatalf("stored %+v (error %v), want status %s", stored, stored.Error, tc.status)
			}
			if r.WaitResult(ctx, stored.ID) != nil {
				t.Fatal("WaitResult for a validation no longer running must hand back nothing (the caller reads)")
			}
		})
	}
}

// flakyVA fails the first failures validations (a connection problem),
// then passes.
type flakyVA struct {
	calls    atomic.Int32
	failures int32
}

func (v *flakyVA) Validate(context.Context, acme.Identifier, string, string, string) error {
	if v.calls.Add(1) <= v.failures {
		return acme.NewProblem(acme.Connection, "attempt failed")
	}
	return nil
}

func (v *flakyVA) CheckCAA(context.Context, acme.Identifier, bool, string, []string) error {
	return nil
}

// TestHandedBackAfterRetries: a validation that needs more than one
// attempt (RecordAttempt in between, the challenge read again) hands back
// through WaitResult what a read of the challenge returns once it ends:
// valid with no error after a failed attempt, invalid with the last
// attempt's error after all of them failed, and the attempts recorded.
func TestHandedBackAfterRetries(t *testing.T) {
	for _, tc := range []struct {
		failures     int32
		status       string
		wantAttempts int
	}{{1, acme.StatusValid, 1}, {2, acme.StatusValid, 2}, {3, acme.StatusInvalid, 2}} {
		t.Run(fmt.Sprintf("%d failures", tc.failures), func(t *testing.T) {
			ctx := context.Background()
			st := storetest.OpenSQLite(t)
			clk := &testClock{t: time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.UTC)}
			caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			gate := make(chan struct{})
			va := gatedVA{&flakyVA{failures: tc.failures}, gate}
			r := New(Config{ValidationAttempts: 3, RetryDelay: time.Millisecond, ResultWait: time.Hour}, st, va, selfSigner{key: caKey}, clk.now, slog.New(slog.DiscardHandler))
			defer r.Shutdown(ctx)
			acct, full := pendingAuthz(t, r, st, "a.test", clk.now())
			stored := handedBackEqualsStored(t, r, st, acct, full.Challenges[0].ID, gate)
			if stored.Status != tc.status || stored.Attempts != tc.wantAttempts || (tc.status == acme.StatusValid) != (stored.Error == nil) {
				t.Fatalf("stored %s after %d attempts (error %v); want %s after %d", stored.Status, stored.Attempts, stored.Error, tc.status, tc.wantAttempts)
			}
		})
	}
}

// TestValidationEndsWhenAuthorizationDecidedMeanwhile: a challenge whose
// authorization is deactivated while it is validated ends with its own
// result (the authorization stays deactivated) instead of staying
// processing, from where every sweep would validate it again.
func TestValidationEndsWhenAuthorizationDecidedMeanwhile(t *testing.T) {
	ctx := context.Background()
	gate := make(chan struct{})
	start := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	r, st, acct := gatedRA(t, gatedVA{okVA{}, gate}, start)
	o, _, err := r.NewOrderAuthz(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("a.test")})
	if err != nil {
		t.Fatal(err)
	}
	az, err := st.GetAuthorization(ctx, o.AuthzIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	c := az.Challenges[0]
	if started, err := r.RespondChallenge(ctx, acct, az, &c); err != nil || started.Status != acme.StatusProcessing {
		t.Fatalf("RespondChallenge = %+v, %v", started, err)
	}
	if err := st.SetAuthorizationStatus(ctx, az.ID, []string{acme.StatusPending}, acme.StatusDeactivated); err != nil {
		t.Fatal(err)
	}
	wctx := &waitingCtx{Context: ctx, waiting: make(chan struct{})}
	res := make(chan *store.Challenge, 1)
	go func() { res <- r.WaitResult(wctx, c.ID) }()
	<-wctx.waiting
	close(gate)
	if done := <-res; done == nil || done.Status != acme.StatusValid {
		t.Fatalf("WaitResult = %+v, want the challenge ended valid (its own result)", done)
	}
	if cur, err := st.GetChallenge(ctx, c.ID); err != nil || cur.Status != acme.StatusValid {
		t.Fatalf("stored challenge = %+v, %v; want valid", cur, err)
	}
	if cur, err := st.GetAuthorization(ctx, az.ID); err != nil || cur.Status != acme.StatusDeactivated {
		t.Fatalf("authorization = %+v, %v; want still deactivated", cur, err)
	}
	ids, err := st.ExpiredLeases(ctx, start.Add(365*24*time.Hour), 10)
	if err != nil || slices.Contains(ids, c.ID) {
		t.Fatalf("ExpiredLeases = %v, %v; the challenge must not be left for the sweep to validate again", ids, err)
	}
}

// pendingAuthz stores account "acct" (created at created), has r create an
// order of it for name and returns the account and the order's (pending)
// authorization with its challenges.
func pendingAuthz(t *testing.T, r *RA, st *store.Store, name string, created time.Time) (*store.Account, *store.Authorization) {
	t.Helper()
	ctx := context.Background()
	acct := &store.Account{ID: "acct", KeyThumbprint: "tp", JWK: []byte("{}"), Status: acme.StatusValid, CreatedAt: created}
	if err := st.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	o, err := r.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs(name)})
	if err != nil {
		t.Fatal(err)
	}
	az, err := st.GetAuthorization(ctx, o.AuthzIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	return acct, az
}
