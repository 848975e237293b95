package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestClaimScheduledScan: of several nodes claiming the same due run at
// once exactly one gets it; none gets it again before the next run is
// due; the first claim of a schedule never run is due at once.
func TestClaimScheduledScan(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for _, node := range []string{"a", "b", "c", "d"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.ClaimScheduledScan(ctx, "default", node, t0, t0.Add(time.Hour))
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					won++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%d nodes claimed the first run, want 1", won)
		}
		if ok, err := s.ClaimScheduledScan(ctx, "default", "a", t0.Add(59*time.Minute), t0.Add(2*time.Hour)); ok || err != nil {
			t.Fatalf("claimed before the next run was due: %v %v", ok, err)
		}
		if ok, err := s.ClaimScheduledScan(ctx, "default", "b", t0.Add(time.Hour), t0.Add(2*time.Hour)); !ok || err != nil {
			t.Fatalf("the due next run was not claimed: %v %v", ok, err)
		}
		if ok, err := s.ClaimScheduledScan(ctx, "other", "b", t0, t0.Add(time.Hour)); !ok || err != nil {
			t.Fatalf("another schedule's first run was not claimed: %v %v", ok, err)
		}
	})
}
