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

// TestPostgresOrderDuringDeactivationCommit: two nodes (two stores) on one
// PostgreSQL database. Node 2 deactivates an account, audited (as the admin
// API does, DeactivateAccount, or the account itself over ACME,
// UpdateAccount), and is held
// after it has deactivated the account's pending authorizations, before it
// commits (another session holds the audit head's row, which its audit
// append waits for). Meanwhile node 1 stores an order of the account with
// a new authorization: either the order is refused (ErrAccountNotValid) or
// the deactivation deactivates its authorization, so that once both are
// done no pending authorization belongs to the deactivated account (RFC
// 8555 §7.3.6). Before the account lock, the order's transaction, which
// does not see the uncommitted deactivation, stored it with its
// authorization pending. The order either has a new authorization or
// reuses a valid one only ("/reuse"): then it is refused, or the
// deactivation cancels it (invalid), as a ready order (RFC 8555 §7.3.6);
// before the order took the account lock without a new authorization, it
// was stored after the deactivation had looked for the account's orders,
// and stayed ready.
func TestPostgresOrderDuringDeactivationCommit(t *testing.T) {
	storetest.RequirePostgres(t)
	for name, deactivate := range map[string]func(ctx context.Context, s *store.Store, id string) error{
		"DeactivateAccount": func(ctx context.Context, s *store.Store, id string) error {
			return s.DeactivateAccount(ctx, id, txEvent("account.deactivate", false))
		},
		"UpdateAccount": func(ctx context.Context, s *store.Store, id string) error {
			return s.UpdateAccount(ctx, &store.Account{ID: id, Status: acme.StatusDeactivated}, txEvent("account.deactivate", false))
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			orderDuringDeactivationCommit(t, deactivate, false)
		})
		t.Run(name+"/reuse", func(t *testing.T) {
			t.Parallel()
			orderDuringDeactivationCommit(t, deactivate, true)
		})
	}
}

func orderDuringDeactivationCommit(t *testing.T, deactivate func(ctx context.Context, s *store.Store, id string) error, reuse bool) {
	ctx := context.Background()
	dsn := storetest.PostgresDSN(t)
	node1, node2 := storetest.OpenDSN(t, dsn), storetest.OpenDSN(t, dsn)
	a := createAccount(t, node1, "racer")
	var valid *store.Authorization
	if reuse { // a valid authorization for the order to reuse
		valid = newAuthz(a.ID, "az-valid", "valid.example.test", false, acme.ChallengeHTTP01)
		createOrder(t, node1, a.ID, "ord-valid", valid)
		c := valid.Challenges[0]
		must(t, node1.StartChallenge(ctx, c.ID, now))
		must(t, node1.FinishChallenge(ctx, &c, nil, now, now.Add(time.Hour)))
	}
	watch := connect(t, ctx, dsn)

	// Hold the audit head.
	head := connect(t, ctx, dsn)
	if _, err := head.Exec(ctx, `BEGIN`); err != nil {
		t.Fatal(err)
	}
	if _, err := head.Exec(ctx, `SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	lockWaits := func() int {
		t.Helper()
		var n int
		must(t, watch.QueryRow(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n))
		return n
	}

	deactivated := make(chan error, 1)
	go func() { deactivated <- deactivate(ctx, node2, a.ID) }()
	for lockWaits() < 1 { // the deactivation waits for the audit head
		select {
		case err := <-deactivated:
			t.Fatalf("the deactivation ended (%v) while the audit head was held", err)
		case <-time.After(10 * time.Millisecond):
		}
	}

	az := newAuthz(a.ID, "az-racer", "racer.example.test", false, acme.ChallengeHTTP01)
	o := &store.Order{ID: "ord-racer", AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour),
		Identifiers: []acme.Identifier{az.Identifier}, AuthzIDs: []string{az.ID}, CreatedAt: now, UpdatedAt: now}
	newAuthzs := []*store.Authorization{az}
	if reuse {
		o.Identifiers, o.AuthzIDs, newAuthzs = []acme.Identifier{valid.Identifier}, []string{valid.ID}, nil
	}
	ordered := make(chan error, 1)
	go func() { ordered <- node1.CreateOrder(ctx, o, newAuthzs) }()
	// The order is stored, or waits (for the deactivation).
	var orderErr error
	waited := false
	for !waited {
		select {
		case orderErr = <-ordered:
			waited = true
			ordered = nil
		case <-time.After(10 * time.Millisecond):
			waited = lockWaits() >= 2
		}
	}
	if _, err := head.Exec(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	must(t, <-deactivated)
	if ordered != nil {
		orderErr = <-ordered
	}
	if orderErr != nil && !errors.Is(orderErr, store.ErrAccountNotValid) {
		t.Fatalf("CreateOrder: %v", orderErr)
	}
	if reuse {
		stored, err := node1.GetOrder(ctx, o.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if orderErr == nil {
				t.Fatal("CreateOrder succeeded but the order is missing")
			}
		case err != nil:
			t.Fatal(err)
		case stored.Status != acme.StatusInvalid:
			t.Fatalf("order (reusing a valid authorization) stored while its account's deactivation committed is %s, want invalid", stored.Status)
		}
		return
	}
	got, err := node1.GetAuthorization(ctx, az.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if orderErr == nil {
			t.Fatal("the order was stored without its authorization")
		}
	case err != nil:
		t.Fatal(err)
	case got.Status != acme.StatusDeactivated:
		t.Fatalf("authorization of an order stored while its account's deactivation committed is %s, want deactivated (order error: %v)", got.Status, orderErr)
	}
	if n, _, err := node2.PendingAuthorizations(ctx, a.ID, now); err != nil || n != 0 {
		t.Fatalf("the deactivated account has %d pending authorizations (%v), want 0", n, err)
	}
}
