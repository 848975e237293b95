package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// countingVA passes every validation and records how many run at once;
// each waits for gate (when not nil) before it ends.
type countingVA struct {
	okVA
	gate    <-chan struct{}
	mu      sync.Mutex
	running int
	max     int
	total   int
}

func (v *countingVA) Validate(ctx context.Context, id acme.Identifier, typ, token, keyAuth string) error {
	v.mu.Lock()
	v.running++
	v.total++
	v.max = max(v.max, v.running)
	v.mu.Unlock()
	if v.gate != nil {
		<-v.gate
	}
	v.mu.Lock()
	v.running--
	v.mu.Unlock()
	return nil
}

// workersSetup returns an RA with the given number of validation workers
// on a fresh SQLite store, an account, and the http-01 challenges of an
// order for n names.
func workersSetup(t *testing.T, va Validator, workers, n int) (*RA, *store.Store, *store.Account, []*store.Challenge) {
	t.Helper()
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	r := New(Config{ValidationAttempts: 1, ValidationWorkers: workers, ResultWait: time.Hour}, st, va, selfSigner{key: caKey}, nil, slog.New(slog.DiscardHandler))
	acct := &store.Account{ID: "acct", KeyThumbprint: "tp", JWK: []byte("{}"), Status: acme.StatusValid, CreatedAt: time.Now()}
	if err := st.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("n%d.workers.test", i)
	}
	_, authzs, err := r.NewOrderAuthz(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs(names...)})
	if err != nil {
		t.Fatal(err)
	}
	var chals []*store.Challenge
	for _, az := range authzs {
		for i := range az.Challenges {
			if az.Challenges[i].Type == acme.ChallengeHTTP01 {
				chals = append(chals, &az.Challenges[i])
			}
		}
	}
	if len(chals) != n {
		t.Fatalf("%d http-01 challenges for %d names", len(chals), n)
	}
	return r, st, acct, chals
}

// respond starts challenge c's validation.
func respond(t *testing.T, r *RA, st *store.Store, acct *store.Account, c *store.Challenge) {
	t.Helper()
	ctx := context.Background()
	c, az, err := st.GetChallengeAuthorization(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	started, err := r.RespondChallenge(ctx, acct, az, c)
	if err != nil || started.Status != acme.StatusProcessing {
		t.Fatalf("RespondChallenge = %+v, %v", started, err)
	}
}

// TestValidationWorkersReused: validations that follow one another run on
// the worker the first one started, which waits for the next instead of
// ending (with one slot, a worker that ended would let the next
// validation start another), and each ends valid.
func TestValidationWorkersReused(t *testing.T) {
	va := &countingVA{}
	r, st, acct, chals := workersSetup(t, va, 1, 6)
	defer r.Shutdown(context.Background())
	for _, c := range chals {
		respond(t, r, st, acct, c)
		r.jobs.Wait()
		got, err := st.GetChallenge(context.Background(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != acme.StatusValid {
			t.Fatalf("challenge %s is %s, want valid", c.ID, got.Status)
		}
	}
	if n := r.workers.Load(); n != 1 {
		t.Errorf("%d workers started for 6 validations one after another, want 1", n)
	}
	if va.total != 6 {
		t.Errorf("%d validations ran, want 6", va.total)
	}
}

// TestValidationWorkersBounded: with more validations than
// ValidationWorkers at once, at most ValidationWorkers run at a time, the
// others wait and all of them end valid; Shutdown then ends the idle
// workers at once instead of waiting out their idle time.
func TestValidationWorkersBounded(t *testing.T) {
	gate := make(chan struct{})
	va := &countingVA{gate: gate}
	r, st, acct, chals := workersSetup(t, va, 2, 8)
	for _, c := range chals {
		respond(t, r, st, acct, c)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		va.mu.Lock()
		running := va.running
		va.mu.Unlock()
		if running == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d validations running, want 2", running)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(gate)
	r.jobs.Wait()
	ctx := context.Background()
	for _, c := range chals {
		got, err := st.GetChallenge(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != acme.StatusValid {
			t.Errorf("challenge %s is %s, want valid", c.ID, got.Status)
		}
	}
	if va.max != 2 || va.total != 8 {
		t.Errorf("at most %d of %d validations at once, want 2 of 8", va.max, va.total)
	}
	if n := r.workers.Load(); n > 2 {
		t.Errorf("%d workers started, want at most ValidationWorkers (2)", n)
	}
	sctx, cancel := context.WithTimeout(ctx, workerIdle/2)
	defer cancel()
	r.Shutdown(sctx)
	if sctx.Err() != nil {
		t.Errorf("Shutdown waited for idle workers until its context ended")
	}
}
