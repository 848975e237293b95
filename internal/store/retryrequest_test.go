package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestRequestChallengeRetry checks on every engine (on PostgreSQL through
// two stores on one database, as two nodes) that a retry request is
// recorded only on a processing challenge, read back by the other node,
// never moved back by an earlier time, and refused with ErrStale, with
// nothing changed, on a pending, valid or unknown challenge;
// ChallengeRetryRequestedAt of an unknown challenge is ErrNotFound.
func TestRequestChallengeRetry(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		dsn := e.NewDSN(t)
		a := storetest.OpenDSN(t, dsn)
		b := a
		if e.Name == store.EnginePostgres {
			b = storetest.OpenDSN(t, dsn)
		}
		_, _, az := seed(t, a)
		ch := az.Challenges[0].ID
		requested := func(want time.Time) {
			t.Helper()
			got, err := a.ChallengeRetryRequestedAt(ctx, ch)
			if err != nil || !got.Equal(want) {
				t.Fatalf("retry requested at %v, %v; want %v", got, err, want)
			}
		}
		requested(time.Time{})
		wantErr(t, "request on a pending challenge", b.RequestChallengeRetry(ctx, ch, now), store.ErrStale)
		requested(time.Time{})
		wantErr(t, "request on an unknown challenge", b.RequestChallengeRetry(ctx, "nope", now), store.ErrStale)
		if _, err := a.ChallengeRetryRequestedAt(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("retry request of an unknown challenge: %v; want ErrNotFound", err)
		}

		must(t, a.StartChallengeLeased(ctx, ch, "node-a", now, now.Add(time.Minute)))
		must(t, b.RequestChallengeRetry(ctx, ch, now.Add(2*time.Second)))
		requested(now.Add(2 * time.Second))
		must(t, b.RequestChallengeRetry(ctx, ch, now.Add(time.Second))) // a node whose clock is behind
		requested(now.Add(2 * time.Second))
		must(t, b.RequestChallengeRetry(ctx, ch, now.Add(3*time.Second)))
		requested(now.Add(3 * time.Second))
		if c, err := a.GetChallenge(ctx, ch); err != nil || c.Status != acme.StatusProcessing || !c.UpdatedAt.Equal(now) || c.Attempts != 0 {
			t.Fatalf("challenge after retry requests: %+v, %v; want it as started", c, err)
		}

		c, err := a.GetChallenge(ctx, ch)
		must(t, err)
		must(t, a.FinishChallenge(ctx, c, nil, now.Add(4*time.Second), now.Add(time.Hour)))
		wantErr(t, "request on a valid challenge", b.RequestChallengeRetry(ctx, ch, now.Add(5*time.Second)), store.ErrStale)
		requested(now.Add(3 * time.Second))
	})
}
