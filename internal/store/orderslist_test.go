package store_test

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestACMEOrdersListCostFlat: on each engine, the first page of the ACME
// orders list of an account with a long history of expired (and invalid)
// orders returns its live orders, and the query enters the index
// orders_account past the old orders instead of at the account's first
// one: the range it enters holds only the orders created within
// store.MaxOrderLifetime, the plan seeks that range (SQLite), and
// PostgreSQL's EXPLAIN ANALYZE of the query shows its filter removing only
// the expired order of that window.
func TestACMEOrdersListCostFlat(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		s := e.Open(t)
		a := createAccount(t, s, "acct1")
		createAccount(t, s, "acct2")
		const old = 300
		storeExpiredHistory(t, s, a.ID, old, func(i int, created time.Time) {
			if i%50 == 0 {
				id := fmt.Sprintf("bad%03d", i)
				storePendingOrder(t, s, a.ID, id, created.Add(time.Second), store.MaxOrderLifetime)
				must(t, s.SetOrderStatus(ctx, id, acme.StatusPending, acme.StatusInvalid, acme.NewProblem(acme.BadCSR, "x"), created))
			}
		})
		// Within the last MaxOrderLifetime: one that expired early, three live.
		storePendingOrder(t, s, a.ID, "short", now.Add(-3*24*time.Hour), time.Hour)
		storePendingOrder(t, s, a.ID, "live1", now.Add(-6*24*time.Hour), store.MaxOrderLifetime)
		storePendingOrder(t, s, a.ID, "live2", now.Add(-time.Hour), store.MaxOrderLifetime)
		storePendingOrder(t, s, a.ID, "live3", now.Add(-time.Minute), store.MaxOrderLifetime)
		storePendingOrder(t, s, "acct2", "foreign", now.Add(-time.Minute), store.MaxOrderLifetime)

		orders, err := s.ListACMEOrders(ctx, a.ID, time.Time{}, "", now, 10)
		must(t, err)
		if ids, want := orderIDs(orders), []string{"live1", "live2", "live3"}; !reflect.DeepEqual(ids, want) {
			t.Fatalf("first page = %v, want %v", ids, want)
		}

		entered, plan, err := store.ACMEOrdersListCost(ctx, s, a.ID, time.Time{}, "", now, 10)
		must(t, err)
		p := strings.Join(plan, "\n")
		if entered != 4 {
			t.Errorf("the first page enters a range of %d index entries, want 4 (the orders of the last %s), not the account's %d orders",
				entered, store.MaxOrderLifetime, old+old/50+4)
		}
		switch e.Name {
		case store.EngineSQLite:
			if !strings.Contains(p, "SEARCH orders USING INDEX orders_account (account_id=? AND (created_at,id)>(?,?))") {
				t.Errorf("plan %q does not seek the range", p)
			}
		case store.EnginePostgres:
			if !strings.Contains(p, "Index Scan using orders_account") || !strings.Contains(p, "ROW(created_at, id) > ROW(") {
				t.Errorf("plan does not scan the range of orders_account:\n%s", p)
			}
			removed := 0
			for _, m := range regexp.MustCompile(`Rows Removed by Filter: (\d+)`).FindAllStringSubmatch(p, -1) {
				n, _ := strconv.Atoi(m[1])
				removed += n
			}
			if removed != 1 {
				t.Errorf("the query's filter removed %d rows, want 1 (the expired order of the last %s):\n%s", removed, store.MaxOrderLifetime, p)
			}
		}

		// A later page, from a cursor before the window, enters there too.
		entered, _, err = store.ACMEOrdersListCost(ctx, s, a.ID, now.Add(-100*24*time.Hour), "old000", now, 10)
		must(t, err)
		if entered != 4 {
			t.Errorf("a page from an old cursor enters a range of %d index entries, want 4", entered)
		}
		// A cursor inside the window is where the page starts.
		orders, err = s.ListACMEOrders(ctx, a.ID, orders[0].CreatedAt, orders[0].ID, now, 10)
		must(t, err)
		if ids, want := orderIDs(orders), []string{"live2", "live3"}; !reflect.DeepEqual(ids, want) {
			t.Fatalf("page after live1 = %v, want %v", ids, want)
		}
	})
}

// storePendingOrder stores a pending order id of account acct (its one
// authorization az-ID not stored), created at created and expiring
// lifetime later.
func storePendingOrder(t *testing.T, s *store.Store, acct, id string, created time.Time, lifetime time.Duration) {
	t.Helper()
	o := &store.Order{ID: id, AccountID: acct, Status: acme.StatusPending, Expires: created.Add(lifetime),
		Identifiers: []acme.Identifier{{Type: "dns", Value: id + ".example.test"}}, AuthzIDs: []string{"az-" + id},
		CreatedAt: created, UpdatedAt: created}
	must(t, s.CreateOrder(context.Background(), o, nil))
}

// storeExpiredHistory stores n expired orders of account acct (still
// pending: expiry alone makes them invalid), old000 onwards, one every 6
// hours back from 8 days before now, and calls each, if not nil, after
// each with its index and creation time.
func storeExpiredHistory(t *testing.T, s *store.Store, acct string, n int, each func(i int, created time.Time)) {
	t.Helper()
	for i := range n {
		created := now.Add(-8*24*time.Hour - time.Duration(i)*6*time.Hour)
		storePendingOrder(t, s, acct, fmt.Sprintf("old%03d", i), created, store.MaxOrderLifetime)
		if each != nil {
			each(i, created)
		}
	}
}
