package ra

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
)

// slowVA passes every validation after d (or when ctx ends), counting how
// many run at once and whether any starts or runs after stopped is set.
type slowVA struct {
	okVA
	d       time.Duration
	stopped atomic.Bool
	late    atomic.Int64
	running atomic.Int64
	max     atomic.Int64
	total   atomic.Int64
}

func (v *slowVA) Validate(ctx context.Context, id acme.Identifier, typ, token, keyAuth string) error {
	if v.stopped.Load() {
		v.late.Add(1)
	}
	n := v.running.Add(1)
	for {
		m := v.max.Load()
		if n <= m || v.max.CompareAndSwap(m, n) {
			break
		}
	}
	v.total.Add(1)
	t := time.NewTimer(v.d)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	v.running.Add(-1)
	if v.stopped.Load() {
		v.late.Add(1)
	}
	return nil
}

// TestValidationWorkersStressShutdown: many validations on few workers,
// each waited for with WaitResult, Shutdown (with a short deadline) while
// most are queued: Shutdown returns with no validation running or starting
// afterwards, every WaitResult returns, the pool bound holds, and every
// challenge is either finished or still processing (resumable), none lost
// to a waiter that never woke.
func TestValidationWorkersStressShutdown(t *testing.T) {
	for round := range 5 {
		va := &slowVA{d: 2 * time.Millisecond}
		r, st, acct, chals := workersSetup(t, va, 2, 40)
		var wg sync.WaitGroup
		results := make(chan *store.Challenge, len(chals))
		for _, c := range chals {
			respond(t, r, st, acct, c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				results <- r.WaitResult(context.Background(), c.ID)
			}()
		}
		time.Sleep(time.Duration(round) * 3 * time.Millisecond)
		sctx, cancel := context.WithTimeout(context.Background(), time.Duration(round)*2*time.Millisecond)
		r.Shutdown(sctx)
		cancel()
		va.stopped.Store(true)
		if n := va.running.Load(); n != 0 {
			t.Errorf("round %d: %d validations running after Shutdown returned", round, n)
		}
		waited := make(chan struct{})
		go func() { wg.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: WaitResult still waiting 30 s after Shutdown", round)
		}
		time.Sleep(20 * time.Millisecond)
		if n := va.late.Load(); n != 0 {
			t.Errorf("round %d: %d validation events after Shutdown returned", round, n)
		}
		if m := va.max.Load(); m > 2 {
			t.Errorf("round %d: %d validations at once, want at most 2", round, m)
		}
		r.waitMu.Lock()
		left := len(r.waiters)
		r.waitMu.Unlock()
		if left != 0 {
			t.Errorf("round %d: %d waiters left after Shutdown", round, left)
		}
		valid, processing := 0, 0
		for _, c := range chals {
			got, err := st.GetChallenge(context.Background(), c.ID)
			if err != nil {
				t.Fatal(err)
			}
			switch got.Status {
			case acme.StatusValid:
				valid++
			case acme.StatusProcessing:
				processing++
			default:
				t.Errorf("round %d: challenge %s is %s", round, c.ID, got.Status)
			}
		}
		t.Logf("round %d: %d valid, %d processing, %d validations ran", round, valid, processing, va.total.Load())
	}
}

// TestRespondDuringShutdown: challenges answered while Shutdown runs
// (requests still in flight when the HTTP server's own shutdown gave up)
// either start before Shutdown returns and end before it does, or do not
// start at all: no validation runs after Shutdown returned, and the
// validation pool's WaitGroup is never added to while Shutdown waits on it
// from zero (go test -race reports that).
func TestRespondDuringShutdown(t *testing.T) {
	for round := range 20 {
		va := &slowVA{d: time.Millisecond}
		r, st, acct, chals := workersSetup(t, va, 1, 4)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, c := range chals {
				c, az, err := st.GetChallengeAuthorization(context.Background(), c.ID)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := r.RespondChallenge(context.Background(), acct, az, c); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		r.Shutdown(context.Background())
		va.stopped.Store(true)
		<-done
		time.Sleep(20 * time.Millisecond)
		if n := va.late.Load(); n != 0 {
			t.Errorf("round %d: %d validation events after Shutdown returned", round, n)
		}
	}
}
