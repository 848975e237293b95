package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestRateSpendInWrite checks, on every engine, rate-limit spends made in
// the transaction of the write they guard: an admitted spend is stored
// with the order (CreateOrder) or the issuance start (StartIssuance); a
// refused one makes the write fail with ErrRateLimited and write nothing,
// neither the bucket nor the order, serial or status change; a write that
// fails for its own reason does not spend the bucket.
func TestRateSpendInWrite(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := createAccount(t, s, "acct1")
		t0 := now.Add(time.Minute)
		// spend sets every key's time to t0 when allowed; seen records
		// the times it was shown.
		var seen []time.Time
		spend := func(allow bool, keys ...string) *store.RateSpend {
			return &store.RateSpend{Keys: keys, Decide: func(tats []time.Time) ([]time.Time, bool) {
				seen = append(seen[:0], tats...)
				next := make([]time.Time, len(tats))
				for i := range next {
					next[i] = t0
				}
				return next, allow
			}}
		}
		bucket := func(key string) time.Time {
			t.Helper()
			tats, err := s.RateBuckets(ctx, []string{key})
			must(t, err)
			return tats[0]
		}
		order := func(id string, azs ...*store.Authorization) *store.Order {
			o := &store.Order{ID: id, AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
			for _, az := range azs {
				o.Identifiers = append(o.Identifiers, az.Identifier)
				o.AuthzIDs = append(o.AuthzIDs, az.ID)
			}
			return o
		}

		// Refused: nothing written.
		az1 := newAuthz(a.ID, "az1", "a.example.test", false, acme.ChallengeHTTP01)
		wantErr(t, "refused CreateOrder", s.CreateOrder(ctx, order("ord1", az1), []*store.Authorization{az1}, spend(false, "orders:acct1")), store.ErrRateLimited)
		if _, err := s.GetOrder(ctx, "ord1"); err == nil {
			t.Fatal("a refused CreateOrder stored the order")
		}
		if _, err := s.GetAuthorization(ctx, "az1"); err == nil {
			t.Fatal("a refused CreateOrder stored the authorization")
		}
		if tat := bucket("orders:acct1"); !tat.IsZero() {
			t.Fatalf("a refused spend stored the bucket: %v", tat)
		}

		// Admitted: order and bucket stored together; a nil spend is skipped.
		must(t, s.CreateOrder(ctx, order("ord1", az1), []*store.Authorization{az1}, nil, spend(true, "orders:acct1")))
		if _, err := s.GetOrder(ctx, "ord1"); err != nil {
			t.Fatal(err)
		}
		if tat := bucket("orders:acct1"); !tat.Equal(t0) {
			t.Fatalf("bucket after an admitted spend: %v, want %v", tat, t0)
		}

		// The write failing for its own reason spends nothing.
		err := s.CreateOrder(ctx, order("ord1", az1), nil, spend(true, "orders:other"))
		if err == nil {
			t.Fatal("a duplicate order was stored")
		}
		if tat := bucket("orders:other"); !tat.IsZero() {
			t.Fatalf("a failed CreateOrder spent its bucket: %v", tat)
		}

		// StartIssuance: refused writes nothing, the order stays pending
		// and the serial unreserved; admitted stores both.
		keys := []string{"cert:b.test", "cert:a.test"}
		wantErr(t, "refused StartIssuance", s.StartIssuance(ctx, "ord1", "s1", now, spend(false, keys...)), store.ErrRateLimited)
		if got, err := s.GetOrder(ctx, "ord1"); err != nil || got.Status != acme.StatusPending {
			t.Fatalf("order after a refused StartIssuance: %+v, %v; want pending", got, err)
		}
		must(t, s.ReserveSerial(ctx, "s1", now))
		if len(seen) != 2 || !seen[0].IsZero() || !seen[1].IsZero() {
			t.Fatalf("decide saw %v, want two zero times", seen)
		}
		must(t, s.StartIssuance(ctx, "ord1", "s2", now, spend(true, keys...)))
		for _, k := range keys {
			if tat := bucket(k); !tat.Equal(t0) {
				t.Errorf("bucket %s after StartIssuance: %v, want %v", k, tat, t0)
			}
		}
		// A second start loses (ErrStale) and spends nothing more: its
		// spend does not even run, spends come after the order's update
		// (TestRateSpendComesLast).
		var spent bool
		stale := &store.RateSpend{Keys: []string{"cert:c.test"}, Decide: func(tats []time.Time) ([]time.Time, bool) {
			spent = true
			return []time.Time{t0}, true
		}}
		wantErr(t, "second StartIssuance", s.StartIssuance(ctx, "ord1", "s3", now, stale), store.ErrStale)
		if spent {
			t.Error("a stale StartIssuance ran its spend")
		}
		if tat := bucket("cert:c.test"); !tat.IsZero() {
			t.Errorf("a stale StartIssuance spent its bucket: %v", tat)
		}

		// RequestApprovalSpend: refused requests nothing, admitted stores
		// the approval and the bucket, and a second request (the order
		// awaits approval already) spends nothing.
		az2 := newAuthz(a.ID, "az2", "b.example.test", false, acme.ChallengeHTTP01)
		must(t, s.CreateOrder(ctx, order("ord2", az2), []*store.Authorization{az2}))
		ap := func(id string) *store.Approval {
			return &store.Approval{ID: id, OrderID: "ord2", AccountID: a.ID, Identifiers: []acme.Identifier{az2.Identifier},
				KeyType: "ecdsa-p256", Reason: "always", CSR: []byte{1}, Status: store.ApprovalPending, RequestedAt: now}
		}
		wantErr(t, "refused RequestApprovalSpend", s.RequestApprovalSpend(ctx, ap("ap1"), now, spend(false, "cert:d.test")), store.ErrRateLimited)
		if got, err := s.GetOrder(ctx, "ord2"); err != nil || got.Status != acme.StatusPending {
			t.Fatalf("order after a refused RequestApprovalSpend: %+v, %v; want pending", got, err)
		}
		if _, err := s.GetApprovalByOrder(ctx, "ord2"); err == nil {
			t.Fatal("a refused RequestApprovalSpend stored the approval")
		}
		must(t, s.RequestApprovalSpend(ctx, ap("ap1"), now, spend(true, "cert:d.test")))
		if got, err := s.GetOrder(ctx, "ord2"); err != nil || got.Status != store.OrderAwaitingApproval {
			t.Fatalf("order after RequestApprovalSpend: %+v, %v; want awaiting approval", got, err)
		}
		if tat := bucket("cert:d.test"); !tat.Equal(t0) {
			t.Errorf("bucket after RequestApprovalSpend: %v, want %v", tat, t0)
		}
		wantErr(t, "second RequestApprovalSpend", s.RequestApprovalSpend(ctx, ap("ap2"), now, spend(true, "cert:e.test")), store.ErrStale)
		if tat := bucket("cert:e.test"); !tat.IsZero() {
			t.Errorf("a stale RequestApprovalSpend spent its bucket: %v", tat)
		}
	})
}

// TestRateBucketsSerialized checks, on every engine, that concurrent
// UpdateRateBuckets calls on the same keys (a first use among them) take
// turns: each sees the time the previous one stored, so none is lost, and
// decide is shown an existing bucket's stored time.
func TestRateBucketsSerialized(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		keys := []string{"k:b", "k:a"}
		const n = 16
		errs := make(chan error, n)
		for range n {
			go func() {
				_, err := s.UpdateRateBuckets(ctx, keys, func(tats []time.Time) ([]time.Time, bool) {
					next := make([]time.Time, len(tats))
					for i, tat := range tats {
						if tat.IsZero() {
							tat = now
						}
						next[i] = tat.Add(time.Second)
					}
					return next, true
				})
				errs <- err
			}()
		}
		for range n {
			must(t, <-errs)
		}
		tats, err := s.RateBuckets(ctx, keys)
		must(t, err)
		for i, tat := range tats {
			if want := now.Add(n * time.Second); !tat.Equal(want) {
				t.Errorf("bucket %s = %v, want %v", keys[i], tat, want)
			}
		}
		var seen []time.Time
		ok, err := s.UpdateRateBuckets(ctx, []string{"k:a"}, func(tats []time.Time) ([]time.Time, bool) {
			seen = append(seen, tats...)
			return nil, false
		})
		must(t, err)
		if ok || len(seen) != 1 || !seen[0].Equal(now.Add(n*time.Second)) {
			t.Fatalf("refused update: ok %v, decide saw %v", ok, seen)
		}
	})
}

// TestRateSpendRacesPrune: a spend and the sweep's prune of full buckets
// (another node's, on PostgreSQL) run at once. The prune may delete a
// bucket between the spend's insert of its row and its locking read; the
// spend must then create the row again (a deleted bucket is a full one),
// never fail. Every spend below lands in a bucket the prune may delete.
func TestRateSpendRacesPrune(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		keys := []string{"p:a", "p:b", "p:c"}
		pruned := make(chan error, 1)
		go func() {
			var err error
			for ctx.Err() == nil && err == nil {
				// Every bucket below is full again by then.
				_, err = s.PruneRateBuckets(ctx, now.Add(time.Hour))
			}
			if ctx.Err() != nil {
				err = nil
			}
			pruned <- err
		}()
		const workers, spends = 8, 150
		errs := make(chan error, workers)
		for w := range workers {
			go func() {
				for i := range spends {
					k := []string{keys[(w+i)%len(keys)], keys[(w+i+1)%len(keys)]}
					ok, err := s.UpdateRateBuckets(context.Background(), k, func(tats []time.Time) ([]time.Time, bool) {
						return []time.Time{now, now}, true
					})
					if err == nil && !ok {
						err = errors.New("spend refused")
					}
					if err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		var first error
		for range workers {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		cancel()
		must(t, <-pruned)
		must(t, first)
	})
}

// TestRateBucketsRead checks, on every engine, that RateBuckets returns
// each key's stored time in the order of the keys asked for, the zero
// time for a key without a bucket, and a key asked for twice in both
// places.
func TestRateBucketsRead(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		stored := map[string]time.Time{"k:x": now.Add(time.Second), "k:y": now.Add(2 * time.Second)}
		ok, err := s.UpdateRateBuckets(ctx, []string{"k:x", "k:y"}, func(tats []time.Time) ([]time.Time, bool) {
			return []time.Time{stored["k:x"], stored["k:y"]}, true
		})
		must(t, err)
		if !ok {
			t.Fatal("UpdateRateBuckets refused")
		}
		keys := []string{"k:y", "k:none", "k:x", "k:y"}
		tats, err := s.RateBuckets(ctx, keys)
		must(t, err)
		if len(tats) != len(keys) {
			t.Fatalf("%d times for %d keys", len(tats), len(keys))
		}
		for i, k := range keys {
			if !tats[i].Equal(stored[k]) {
				t.Errorf("RateBuckets[%d] (%s) = %v, want %v", i, k, tats[i], stored[k])
			}
		}
	})
}

// TestRateBucketsManyKeys: RateBuckets answers for more keys than SQLite
// joins in one compound SELECT (500 terms by default), on both engines,
// each key with its own stored time.
func TestRateBucketsManyKeys(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		keys := make([]string, 1201)
		for i := range keys {
			keys[i] = fmt.Sprintf("k:%d", i)
		}
		stored := []string{keys[3], keys[600], keys[1200]}
		ok, err := s.UpdateRateBuckets(ctx, stored, func(tats []time.Time) ([]time.Time, bool) {
			return []time.Time{now.Add(time.Second), now.Add(2 * time.Second), now.Add(3 * time.Second)}, true
		})
		must(t, err)
		if !ok {
			t.Fatal("UpdateRateBuckets refused")
		}
		tats, err := s.RateBuckets(ctx, keys)
		must(t, err)
		if len(tats) != len(keys) {
			t.Fatalf("%d times for %d keys", len(tats), len(keys))
		}
		for i, tat := range tats {
			var want time.Time
			switch i {
			case 3:
				want = now.Add(time.Second)
			case 600:
				want = now.Add(2 * time.Second)
			case 1200:
				want = now.Add(3 * time.Second)
			}
			if !tat.Equal(want) {
				t.Errorf("RateBuckets[%d] = %v, want %v", i, tat, want)
			}
		}
	})
}

// TestRateSpendsPruneTwoNodes: on PostgreSQL, two nodes (two Stores on
// one database) spend overlapping buckets, with UpdateRateBuckets (up to
// three keys, a key possibly twice) and SpendRateBucket, while each node
// prunes every bucket in a loop. No call may fail: a deadlock
// (SQLSTATE 40P01) would fail a newOrder or finalize. Before the prune
// deleted by row address, its DELETE could wait on a spend
// ("while locking updated version of tuple") and deadlock with spends
// waiting for the rows it had locked (seen in 2 of 28 runs of this
// test; the database log showed the cycle).
func TestRateSpendsPruneTwoNodes(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	nodes := []*store.Store{storetest.OpenDSN(t, dsn), storetest.OpenDSN(t, dsn)}
	keys := []string{"d:a", "d:b", "d:c", "d:d", "d:e"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	var pruners, spenders sync.WaitGroup
	for _, s := range nodes {
		pruners.Add(1)
		go func() {
			defer pruners.Done()
			for ctx.Err() == nil {
				// Every bucket is full again an hour from now.
				if _, err := s.PruneRateBuckets(ctx, time.Now().Add(time.Hour)); err != nil && ctx.Err() == nil {
					fail(err)
				}
			}
		}()
	}
	for w := range 12 {
		s := nodes[w%len(nodes)]
		spenders.Add(1)
		go func() {
			defer spenders.Done()
			for i := range 300 {
				if (w+i)%2 == 0 {
					k := []string{keys[rand.IntN(len(keys))], keys[rand.IntN(len(keys))], keys[rand.IntN(len(keys))]}
					_, err := s.UpdateRateBuckets(context.Background(), k, func(tats []time.Time) ([]time.Time, bool) {
						n := time.Now()
						return []time.Time{n, n, n}, true
					})
					if err != nil {
						fail(err)
					}
				} else if _, _, err := s.SpendRateBucket(context.Background(), keys[rand.IntN(len(keys))], time.Now(), time.Millisecond, time.Hour); err != nil {
					fail(err)
				}
			}
		}()
	}
	spenders.Wait()
	cancel()
	pruners.Wait()
	for i, err := range errs {
		if i == 5 {
			t.Errorf("... %d errors in all", len(errs))
			break
		}
		t.Error(err)
	}
}

// TestPruneGivesWayOnPostgres checks that a PostgreSQL prune that has to
// wait for a lock gives way after its lock timeout (nothing pruned, no
// error) instead of waiting: a waiting prune can close a wait cycle with
// spends, which PostgreSQL breaks by cancelling a spend (a failed
// newOrder). Here another session holds the table in ACCESS EXCLUSIVE
// mode for 5 s; the prune must return long before that, and prune the
// bucket once the table is free.
func TestPruneGivesWayOnPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	s := storetest.OpenDSN(t, dsn)
	ctx := context.Background()
	if _, _, err := s.SpendRateBucket(ctx, "d:prune", time.Now(), time.Millisecond, time.Hour); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `LOCK TABLE rate_buckets IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		defer close(released)
		time.Sleep(5 * time.Second)
		_ = tx.Rollback()
	}()
	start := time.Now()
	n, err := s.PruneRateBuckets(ctx, time.Now().Add(time.Hour))
	waited := time.Since(start)
	if err != nil || n != 0 {
		t.Errorf("prune while the table is locked: %d pruned, error %v; want 0 and no error", n, err)
	}
	select {
	case <-released:
		t.Fatalf("the prune returned only after the lock was released (%v): it waited instead of giving way", waited)
	default:
	}
	<-released
	if n, err := s.PruneRateBuckets(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("prune after the lock was released: %d pruned, error %v; want 1", n, err)
	}
}
