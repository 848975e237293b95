package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestPostgresDeactivationConcurrent: two nodes (two stores) on one
// PostgreSQL database deactivate 40 accounts (DeactivateAccount and
// UpdateAccount at once) while storing orders of them, with a new
// authorization or reusing a valid one only (the account's advisory lock
// shared), and starting the issuance of a ready order. No operation fails
// otherwise than ErrAccountNotValid or ErrStale (no deadlock between the
// account lock, the rows the deactivation cancels and the rate or order
// rows the others hold), and no order of a deactivated account is left
// pending (RFC 8555 §7.3.6). Coverage; no change.
func TestPostgresDeactivationConcurrent(t *testing.T) {
	storetest.RequirePostgres(t)
	ctx := context.Background()
	dsn := storetest.PostgresDSN(t)
	nodes := []*store.Store{storetest.OpenDSN(t, dsn), storetest.OpenDSN(t, dsn)}
	const accounts = 40
	var wg sync.WaitGroup
	errs := make(chan error, 10000)
	for i := range accounts {
		id := fmt.Sprintf("acct%d", i)
		a := createAccount(t, nodes[0], id)
		valid := newAuthz(a.ID, id+"-azv", id+".valid.example.test", false, acme.ChallengeHTTP01)
		createOrder(t, nodes[0], a.ID, id+"-ov", valid)
		c := valid.Challenges[0]
		must(t, nodes[0].StartChallenge(ctx, c.ID, now))
		must(t, nodes[0].FinishChallenge(ctx, &c, nil, now, now.Add(time.Hour)))
		ready := &store.Order{ID: id + "-ready", AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now,
			Identifiers: []acme.Identifier{valid.Identifier}, AuthzIDs: []string{valid.ID}}
		must(t, nodes[1].CreateOrder(ctx, ready, nil))
		for j := range 6 {
			n := nodes[j%2]
			wg.Go(func() {
				var err error
				switch j {
				case 0:
					o := &store.Order{ID: fmt.Sprintf("%s-r%d", id, j), AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now,
						Identifiers: []acme.Identifier{valid.Identifier}, AuthzIDs: []string{valid.ID}}
					err = n.CreateOrder(ctx, o, nil)
				case 1:
					az := newAuthz(a.ID, fmt.Sprintf("%s-az%d", id, j), fmt.Sprintf("n%d.%s.example.test", j, id), false, acme.ChallengeHTTP01)
					o := &store.Order{ID: fmt.Sprintf("%s-n%d", id, j), AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now,
						Identifiers: []acme.Identifier{az.Identifier, valid.Identifier}, AuthzIDs: []string{az.ID, valid.ID}}
					err = n.CreateOrder(ctx, o, []*store.Authorization{az})
				case 2:
					err = n.StartIssuance(ctx, ready.ID, fmt.Sprintf("%x", 0x1000+i), now)
				case 3:
					err = n.DeactivateAccount(ctx, a.ID, nil)
				case 4:
					err = n.UpdateAccount(ctx, &store.Account{ID: a.ID, Status: acme.StatusDeactivated})
				case 5:
					o := &store.Order{ID: fmt.Sprintf("%s-r%d", id, j), AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now,
						Identifiers: []acme.Identifier{valid.Identifier}, AuthzIDs: []string{valid.ID}}
					err = n.CreateOrder(ctx, o, nil)
				}
				if err != nil && !errors.Is(err, store.ErrAccountNotValid) && !errors.Is(err, store.ErrStale) {
					errs <- fmt.Errorf("%s op %d: %w", id, j, err)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range accounts {
		id := fmt.Sprintf("acct%d", i)
		for _, oid := range []string{id + "-r0", id + "-n1", id + "-r5", id + "-ready"} {
			o, err := nodes[0].GetOrder(ctx, oid)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			must(t, err)
			if o.Status == acme.StatusPending {
				t.Errorf("order %s pending after its account's deactivation", oid)
			}
		}
	}
}
