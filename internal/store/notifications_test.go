package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestJobLease: on both engines, of two nodes only the first to ask holds
// a job lease; it renews it; the other gets it once it ran out or was
// released.
func TestJobLease(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := e.Open(t)
		ctx := context.Background()
		take := func(node string, at time.Time) bool {
			t.Helper()
			ok, err := s.TakeJobLease(ctx, "job", node, at, at.Add(time.Minute))
			must(t, err)
			return ok
		}
		if !take("a", now) || take("b", now.Add(time.Second)) || !take("a", now.Add(30*time.Second)) {
			t.Fatal("a takes, b is refused, a renews: not so")
		}
		if take("b", now.Add(89*time.Second)) {
			t.Error("b took a's renewed lease before it ran out")
		}
		if !take("b", now.Add(91*time.Second)) {
			t.Error("b did not get the lease a let run out")
		}
		must(t, s.ReleaseJobLease(ctx, "job", "b"))
		if !take("a", now.Add(92*time.Second)) {
			t.Error("a did not get the lease b released")
		}
	})
}

// TestNotificationClaimRunsOut: on both engines, a delivery claimed by a
// node that died is claimed by another once the lease ran out (attempts
// counted), the dead node's late outcome is refused (ErrStale), and a
// delivery is recorded once per certificate, channel and recipient at a
// threshold or above a lower one already recorded.
func TestNotificationClaimRunsOut(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := e.Open(t)
		ctx := context.Background()
		must(t, s.InsertCertificates(ctx, []*store.Certificate{invCert("c1", 5)}))
		n := func(th int) *store.Notification {
			return &store.Notification{Serial: "c1", ThresholdDays: th, Channel: "email", Recipient: "a@example.test", Rule: "r", NextAttemptAt: now}
		}
		added, err := s.AddNotifications(ctx, []*store.Notification{n(7), n(7), n(14)}, now)
		must(t, err)
		if len(added) != 1 || added[0].ThresholdDays != 7 {
			t.Fatalf("added %+v, want the 7-day one once (14 is above the 7 recorded)", added)
		}
		first, err := s.ClaimNotifications(ctx, "dead", now, now, now.Add(time.Minute), 10)
		must(t, err)
		if len(first) != 1 || first[0].Attempts != 1 || first[0].Status != store.NotificationSending {
			t.Fatalf("claim: %+v", first)
		}
		if again, err := s.ClaimNotifications(ctx, "other", now.Add(30*time.Second), now.Add(30*time.Second), now.Add(time.Hour), 10); err != nil || len(again) != 0 {
			t.Fatalf("claimed while the lease runs: %+v %v", again, err)
		}
		// dueBy looks ahead for pending deliveries only: a claim whose
		// lease has not run out at now is not taken, however far dueBy.
		if again, err := s.ClaimNotifications(ctx, "other", now.Add(30*time.Second), now.Add(time.Hour), now.Add(time.Hour), 10); err != nil || len(again) != 0 {
			t.Fatalf("claimed a running lease with a later dueBy: %+v %v", again, err)
		}
		later := now.Add(2 * time.Minute)
		second, err := s.ClaimNotifications(ctx, "other", later, later, later.Add(time.Minute), 10)
		must(t, err)
		if len(second) != 1 || second[0].Attempts != 2 || second[0].Node != "other" {
			t.Fatalf("claim after the lease ran out: %+v", second)
		}
		if err := s.FinishNotification(ctx, first[0].ID, "dead", first[0].Rule, store.NotificationSent, "", later, later); !errors.Is(err, store.ErrStale) {
			t.Errorf("the dead node's outcome: %v, want ErrStale", err)
		}
		must(t, s.FinishNotification(ctx, second[0].ID, "other", second[0].Rule, store.NotificationSent, "", later, later))
		list, err := s.ListNotifications(ctx, store.NotificationFilter{Limit: 10})
		must(t, err)
		if len(list) != 1 || list[0].Status != store.NotificationSent || !list[0].SentAt.Equal(later) {
			t.Errorf("deliveries %+v, want one sent", list)
		}
	})
}

// TestPruneNotifications: on both engines, a finished delivery is kept
// until its threshold plus NotificationRetention has passed since it was
// recorded (so past its certificate's expiry), a pending one always.
func TestPruneNotifications(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := e.Open(t)
		ctx := context.Background()
		must(t, s.InsertCertificates(ctx, []*store.Certificate{invCert("p1", 7), invCert("p2", 7)}))
		for _, serial := range []string{"p1", "p2"} {
			_, err := s.AddNotifications(ctx, []*store.Notification{{Serial: serial, ThresholdDays: 7, Channel: "email", Recipient: "a@example.test", Rule: "r", NextAttemptAt: now}}, now)
			must(t, err)
		}
		claimed, err := s.ClaimNotifications(ctx, "n", now, now, now.Add(time.Minute), 1)
		must(t, err)
		must(t, s.FinishNotification(ctx, claimed[0].ID, "n", claimed[0].Rule, store.NotificationSent, "", now, now))
		keep := now.Add(7*24*time.Hour + store.NotificationRetention)
		if n, err := s.PruneNotifications(ctx, keep.Add(-time.Second)); err != nil || n != 0 {
			t.Fatalf("prune before the retention: %d %v, want none", n, err)
		}
		if n, err := s.PruneNotifications(ctx, keep.Add(time.Second)); err != nil || n != 1 {
			t.Fatalf("prune after the retention: %d %v, want the sent one", n, err)
		}
		list, err := s.ListNotifications(ctx, store.NotificationFilter{Limit: 10})
		must(t, err)
		if len(list) != 1 || list[0].Status != store.NotificationPending {
			t.Errorf("left %+v, want the pending one", list)
		}
	})
}

// TestNotificationClaimDueBy: on both engines, a pending delivery due
// after now is claimed by a claim whose dueBy reaches it (a poller taking
// what falls due before its next poll) and not by one at now.
func TestNotificationClaimDueBy(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := e.Open(t)
		ctx := context.Background()
		must(t, s.InsertCertificates(ctx, []*store.Certificate{invCert("d1", 5)}))
		due := now.Add(20 * time.Second)
		_, err := s.AddNotifications(ctx, []*store.Notification{{Serial: "d1", ThresholdDays: 7, Channel: "email", Recipient: "a@example.test", Rule: "r", NextAttemptAt: due}}, now)
		must(t, err)
		if got, err := s.ClaimNotifications(ctx, "n", now, now, now.Add(time.Minute), 10); err != nil || len(got) != 0 {
			t.Fatalf("claimed before it is due: %+v %v", got, err)
		}
		got, err := s.ClaimNotifications(ctx, "n", now, now.Add(30*time.Second), now.Add(time.Minute), 10)
		if err != nil || len(got) != 1 || got[0].Serial != "d1" {
			t.Fatalf("claim with dueBy past its due time: %+v %v, want d1", got, err)
		}
	})
}
