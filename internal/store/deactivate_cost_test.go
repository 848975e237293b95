package store_test

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestDeactivationCancelsOrdersCostFlat: on each engine, deactivating an
// account with a long history of expired orders cancels its live pending
// orders (invalid, RFC 8555 §7.3.6) and reads only the orders of the last
// store.MaxOrderLifetime before the account's newest: the plan seeks
// that range of orders_account (SQLite), and PostgreSQL's EXPLAIN ANALYZE
// of the statement shows an index scan of orders_account whose filter
// removed no row of the history. The expired orders it does not read stay
// pending (expiry makes them invalid already), and other accounts' orders
// are left alone.
func TestDeactivationCancelsOrdersCostFlat(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		s := e.Open(t)
		a := createAccount(t, s, "acct1")
		createAccount(t, s, "acct2")
		storeExpiredHistory(t, s, a.ID, 300, nil)
		storePendingOrder(t, s, a.ID, "live1", now.Add(-6*24*time.Hour), store.MaxOrderLifetime)
		storePendingOrder(t, s, a.ID, "live2", now.Add(-time.Minute), store.MaxOrderLifetime)
		storePendingOrder(t, s, "acct2", "foreign", now.Add(-time.Minute), store.MaxOrderLifetime)

		plan, err := store.CancelOrdersPlan(ctx, s, a.ID)
		must(t, err)
		p := strings.Join(plan, "\n")
		switch e.Name {
		case store.EngineSQLite:
			if !strings.Contains(p, "SEARCH orders USING INDEX orders_account (account_id=? AND created_at>?)") {
				t.Errorf("plan %q does not seek the range", p)
			}
		case store.EnginePostgres:
			if !strings.Contains(p, "Index Scan using orders_account") || !regexp.MustCompile(`Index Cond: \(\(account_id = .*\) AND \(created_at >= `).MatchString(p) ||
				strings.Contains(p, "Seq Scan") {
				t.Errorf("plan does not scan a range of orders_account:\n%s", p)
			}
			for _, m := range regexp.MustCompile(`Rows Removed by Filter: (\d+)`).FindAllStringSubmatch(p, -1) {
				if n, _ := strconv.Atoi(m[1]); n != 0 {
					t.Errorf("the statement's filter removed %d rows, want 0 (it reads only the orders of the last %s):\n%s", n, store.MaxOrderLifetime, p)
				}
			}
		}

		must(t, s.DeactivateAccount(ctx, a.ID, nil))
		for id, want := range map[string]string{"live1": acme.StatusInvalid, "live2": acme.StatusInvalid, "old000": acme.StatusPending,
			"old299": acme.StatusPending, "foreign": acme.StatusPending} {
			o, err := s.GetOrder(ctx, id)
			must(t, err)
			if o.Status != want {
				t.Errorf("order %s after its account's deactivation: %s, want %s", id, o.Status, want)
			}
		}
	})
}
