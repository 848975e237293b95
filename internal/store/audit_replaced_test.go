package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// replacedEvent returns an audit append whose Replaced hook stores the row
// it is given in *got and records it as before (and "after" as after).
func replacedEvent[T any](t *testing.T, s *store.Store, got **T) *store.AuditAppend {
	t.Helper()
	ev, err := audit.New(s, nil).Prepare(context.Background(), audit.Event{Actor: "cli:test", Action: audit.ActionProfileUpdate, ObjectType: "test", ObjectID: "x",
		Replaced: audit.ReplacedRow(func(old *T) (any, any) {
			*got = old
			return old, "after"
		})})
	must(t, err)
	return ev
}

// lastBefore returns the before of the newest audit event.
func lastBefore(t *testing.T, s *store.Store) string {
	t.Helper()
	evs, err := s.ListAudit(context.Background(), store.AuditFilter{Newest: true, Limit: 1})
	must(t, err)
	if len(evs) != 1 {
		t.Fatalf("%d audit events, want one", len(evs))
	}
	if evs[0].After != `"after"` {
		t.Errorf("after %s, want the hook's", evs[0].After)
	}
	return evs[0].Before
}

// TestAuditReplacedRow: on both engines, each store method that takes an
// event with a Replaced hook hands it the row as its transaction found it,
// after a change made since the caller's read, and the event records the
// hook's before: PutProfile (update), DeleteProfile, RevokeEABKey,
// SetAccountAttributes, DeactivateAccount, RevokeCertificate (whose read
// joins the issuer chain: FOR UPDATE OF on PostgreSQL),
// SetRateLimitOverride (nil when there was none) and
// DeleteRateLimitOverride. A missing row is ErrNotFound, nothing recorded.
func TestAuditReplacedRow(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		put := func(spec string, update bool, events ...*store.AuditAppend) error {
			return s.PutProfile(ctx, &store.Profile{Name: "p", Spec: []byte(spec), CreatedAt: now, UpdatedAt: now}, update, events...)
		}
		must(t, put(`{"v":1}`, false))
		must(t, put(`{"v":2}`, true)) // after the caller read v1
		var p *store.Profile
		must(t, put(`{"v":3}`, true, replacedEvent(t, s, &p)))
		if p == nil || string(p.Spec) != `{"v":2}` {
			t.Errorf("PutProfile: hook got %+v, want spec v2", p)
		}
		if b := lastBefore(t, s); b == "" || !json.Valid([]byte(b)) {
			t.Errorf("PutProfile: before %q", b)
		}
		p = nil
		must(t, s.DeleteProfile(ctx, "p", replacedEvent(t, s, &p)))
		if p == nil || string(p.Spec) != `{"v":3}` {
			t.Errorf("DeleteProfile: hook got %+v, want spec v3", p)
		}
		if err := s.DeleteProfile(ctx, "p", replacedEvent(t, s, &p)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteProfile of a missing profile: %v, want ErrNotFound", err)
		}

		must(t, s.CreateEABKey(ctx, &store.EABKey{KID: "k", HMACKey: []byte("k"), Profile: "default", Status: store.EABActive, CreatedAt: now}))
		must(t, s.CreateAccountEAB(ctx, &store.Account{ID: "a", KeyThumbprint: "tp-a", JWK: []byte(`{}`), Status: "valid", CreatedAt: now, EABKid: "k"}, now, nil))
		var k *store.EABKey
		_, err := s.RevokeEABKey(ctx, "k", replacedEvent(t, s, &k))
		must(t, err)
		if k == nil || k.Status != store.EABActive || k.AccountID != "a" {
			t.Errorf("RevokeEABKey: hook got %+v, want the active key bound to a", k)
		}

		must(t, s.SetAccountAttributes(ctx, "a", map[string]string{"team": "blue"}))
		var a *store.Account
		must(t, s.SetAccountAttributes(ctx, "a", map[string]string{"team": "red"}, replacedEvent(t, s, &a)))
		if a == nil || a.Attributes["team"] != "blue" {
			t.Errorf("SetAccountAttributes: hook got %+v, want team blue", a)
		}
		a = nil
		must(t, s.DeactivateAccount(ctx, "a", replacedEvent(t, s, &a)))
		if a == nil || a.Status != "valid" || a.Attributes["team"] != "red" {
			t.Errorf("DeactivateAccount: hook got %+v, want the valid account of team red", a)
		}

		c1 := invCert("c1", 30, "a.example")
		c1.DER = certDER(t, testKey(t)) // reason 1 blocks its key, read from the DER
		must(t, s.InsertCertificates(ctx, []*store.Certificate{c1}))
		var c *store.Certificate
		must(t, s.RevokeCertificate(ctx, "c1", 1, now, replacedEvent(t, s, &c)))
		if c == nil || c.Serial != "c1" || c.Status != "valid" {
			t.Errorf("RevokeCertificate: hook got %+v, want valid c1", c)
		}

		o := store.RateLimitOverride{Limit: "new-orders-per-account", Subject: "account:a", Count: 5, Period: time.Hour, CreatedAt: now}
		o1 := &store.RateLimitOverride{}
		must(t, s.SetRateLimitOverride(ctx, o, replacedEvent(t, s, &o1)))
		if o1 != nil {
			t.Errorf("SetRateLimitOverride of a new override: hook got %+v, want nil", o1)
		}
		if b := lastBefore(t, s); b != "" && b != "null" {
			t.Errorf("SetRateLimitOverride of a new override: before %q, want none", b)
		}
		o.Count = 7
		must(t, s.SetRateLimitOverride(ctx, o, replacedEvent(t, s, &o1)))
		if o1 == nil || o1.Count != 5 {
			t.Errorf("SetRateLimitOverride: hook got %+v, want count 5", o1)
		}
		o1 = nil
		must(t, s.DeleteRateLimitOverride(ctx, o.Limit, o.Subject, replacedEvent(t, s, &o1)))
		if o1 == nil || o1.Count != 7 {
			t.Errorf("DeleteRateLimitOverride: hook got %+v, want count 7", o1)
		}
	})
}

// TestAuditReplacedLocksRow: on PostgreSQL the read of the replaced row
// waits for a concurrent transaction that changed the row and then sees
// its change (SELECT ... FOR UPDATE), so the recorded before is the row the
// change replaced; a plain read would see the row before that transaction
// and the change would then overwrite the transaction's row.
func TestAuditReplacedLocksRow(t *testing.T) {
	ctx := context.Background()
	s, tx, waitForLock := lockedProfileChange(t)
	var got *store.Profile
	ev := replacedEvent(t, s, &got)
	done := make(chan error, 1)
	go func() {
		done <- s.PutProfile(ctx, &store.Profile{Name: "p", Spec: []byte(`{"v":3}`), UpdatedAt: now}, true, ev)
	}()
	waitForLock("change")
	must(t, tx.Commit(ctx))
	must(t, <-done)
	if got == nil || string(got.Spec) != `{"v":2}` {
		t.Errorf("hook got %+v, want spec v2, the concurrent transaction's", got)
	}
}
