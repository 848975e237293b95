package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestAbandonedOrders: on both engines, AbandonedOrders names the
// processing orders whose node's lease ran out or was pruned, and none of
// a node whose lease runs, of the caller itself, without a node (a
// version before node leases), or not processing.
func TestAbandonedOrders(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		must(t, s.CreateAccount(ctx, &store.Account{ID: "a", KeyThumbprint: "tp", JWK: []byte("{}"), Status: "valid", CreatedAt: now}))
		for _, id := range []string{"alive", "dead", "pruned", "self", "none", "approved", "done"} {
			must(t, s.CreateOrder(ctx, &store.Order{ID: id, AccountID: "a", Status: "pending", Expires: now.Add(time.Hour),
				Identifiers: []acme.Identifier{{Type: "dns", Value: id + ".example.test"}}, CreatedAt: now, UpdatedAt: now}, nil))
		}
		must(t, s.RenewNodeLease(ctx, "n-alive", now.Add(5*time.Second)))
		must(t, s.RenewNodeLease(ctx, "n-dead", now.Add(-time.Second)))
		must(t, s.RenewNodeLease(ctx, "n-self", now.Add(-time.Second)))
		must(t, s.RenewNodeLease(ctx, "n-pruned", now.Add(-2*time.Hour)))
		must(t, s.StartIssuanceBy(ctx, "alive", "0a", "n-alive", nil, now))
		must(t, s.StartIssuanceBy(ctx, "dead", "0b", "n-dead", nil, now))
		must(t, s.StartIssuanceBy(ctx, "pruned", "0c", "n-pruned", nil, now))
		must(t, s.StartIssuanceBy(ctx, "self", "0d", "n-self", nil, now))
		must(t, s.StartIssuance(ctx, "none", "0e", now))
		must(t, s.SetOrderStatus(ctx, "approved", acme.StatusPending, store.OrderAwaitingApproval, nil, now))
		must(t, s.SetOrderProcessing(ctx, "approved", store.OrderAwaitingApproval, "n-dead", now))
		must(t, s.StartIssuanceBy(ctx, "done", "0f", "n-dead", nil, now))
		must(t, s.SetOrderStatus(ctx, "done", acme.StatusProcessing, acme.StatusInvalid, nil, now))
		if n, err := s.PruneNodeLeases(ctx, now.Add(-time.Hour)); err != nil || n != 1 {
			t.Fatalf("PruneNodeLeases = %d, %v; want 1 (n-pruned)", n, err)
		}
		later := now.Add(time.Second)
		ids, err := s.AbandonedOrders(ctx, "n-self", later)
		if err != nil || !sameIDs(ids, "dead", "pruned", "approved") {
			t.Fatalf("AbandonedOrders = %v, %v; want dead, pruned and approved", ids, err)
		}
		// Renewed: no longer abandoned.
		must(t, s.RenewNodeLease(ctx, "n-dead", later.Add(5*time.Second)))
		if ids, err := s.AbandonedOrders(ctx, "n-self", later); err != nil || !sameIDs(ids, "pruned") {
			t.Fatalf("AbandonedOrders after n-dead renewed = %v, %v; want pruned", ids, err)
		}
		if ids, err := s.AbandonedOrders(ctx, "other", later); err != nil || !sameIDs(ids, "pruned", "self") {
			t.Fatalf("AbandonedOrders for another caller = %v, %v; want pruned and self", ids, err)
		}
	})
}
