package store_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestApprovalContexts, on each engine: ApprovalContexts answers, by
// approval ID, the order's custom attributes, requested validity and
// expiry, the account's status and the EAB key (and its owner) the
// account was bound with: empty EAB fields for an account bound with none,
// the kid without an owner for a key not stored (accounts.eab_kid has no
// foreign key); unknown IDs are
// absent and no IDs read nothing. An approval whose order was deleted
// (DeleteStale) keeps its context, without the order's fields.
func TestApprovalContexts(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := e.Open(t)
		ctx := context.Background()
		must(t, s.CreateEABKey(ctx, &store.EABKey{KID: "kid-team", HMACKey: []byte("k"), Profile: "code", Owner: "team-a",
			Status: store.EABActive, CreatedAt: now}))
		bound := &store.Account{ID: "bound", KeyThumbprint: "tp-bound", JWK: []byte(`{}`), Status: acme.StatusValid, CreatedAt: now, EABKid: "kid-team"}
		must(t, s.CreateAccount(ctx, bound))
		orphan := &store.Account{ID: "orphan", KeyThumbprint: "tp-orphan", JWK: []byte(`{}`), Status: acme.StatusValid, CreatedAt: now, EABKid: "kid-gone"}
		must(t, s.CreateAccount(ctx, orphan))
		plain := createAccount(t, s, "plain")
		nb, na := now.Add(time.Hour).Truncate(time.Second), now.Add(48*time.Hour).Truncate(time.Second)
		attrs := map[string]string{"billing_code": "CC-7", "env": "prod"}
		for _, c := range []struct {
			acct  string
			attrs map[string]string
			nb    time.Time
			na    time.Time
		}{{bound.ID, attrs, nb, na}, {orphan.ID, nil, time.Time{}, time.Time{}}, {plain.ID, nil, time.Time{}, time.Time{}}} {
			o := &store.Order{ID: "ord-" + c.acct, AccountID: c.acct, Status: acme.StatusPending, Expires: now.Add(time.Hour), Profile: "code",
				Identifiers: []acme.Identifier{{Type: "dns", Value: c.acct + ".test"}}, AuthzIDs: []string{}, Attributes: c.attrs,
				NotBefore: c.nb, NotAfter: c.na, CreatedAt: now, UpdatedAt: now}
			must(t, s.CreateOrder(ctx, o, nil))
			must(t, s.RequestApproval(ctx, &store.Approval{ID: "ap-" + c.acct, OrderID: o.ID, AccountID: c.acct, Profile: "code",
				Identifiers: o.Identifiers, KeyType: "ecdsa-p256", Reason: "always", CSR: []byte{1}, Status: store.ApprovalPending, RequestedAt: now}, now))
		}
		must(t, s.DeactivateAccount(ctx, plain.ID, nil))
		got, err := s.ApprovalContexts(ctx, []string{"ap-bound", "ap-orphan", "ap-plain", "ap-bound", "nope"})
		must(t, err)
		if len(got) != 3 || got["nope"] != nil {
			t.Fatalf("contexts: %v, want the three approvals that exist", got)
		}
		b := got["ap-bound"]
		if !maps.Equal(b.Attributes, attrs) || !b.NotBefore.Equal(nb) || !b.NotAfter.Equal(na) || !b.OrderExpires.Equal(now.Add(time.Hour)) ||
			b.AccountStatus != acme.StatusValid || b.EABKid != "kid-team" || b.EABOwner != "team-a" {
			t.Errorf("bound: %+v", b)
		}
		if o := got["ap-orphan"]; o.EABKid != "kid-gone" || o.EABOwner != "" || o.Attributes != nil || !o.NotBefore.IsZero() || !o.NotAfter.IsZero() {
			t.Errorf("orphan: %+v, want the kid without an owner, no attributes or requested validity", o)
		}
		if p := got["ap-plain"]; p.EABKid != "" || p.EABOwner != "" || p.AccountStatus != acme.StatusDeactivated {
			t.Errorf("plain: %+v, want no EAB key and the account deactivated", p)
		}
		if !b.OrderStored || !got["ap-plain"].OrderStored {
			t.Errorf("orders stored: %+v", got)
		}
		// A rejected approval's order is invalid, and deleted once
		// expired: the approval keeps its context without the order.
		_, err = s.DecideApproval(ctx, "ap-bound", false, "cli:test", "no", nil, now)
		must(t, err)
		if n, _, err := s.DeleteStale(ctx, now.Add(2*time.Hour)); err != nil || n == 0 {
			t.Fatalf("DeleteStale: %d orders, %v", n, err)
		}
		got, err = s.ApprovalContexts(ctx, []string{"ap-bound"})
		must(t, err)
		if b := got["ap-bound"]; b == nil || b.OrderStored || b.Attributes != nil || !b.OrderExpires.IsZero() || b.EABOwner != "team-a" {
			t.Errorf("context of the approval whose order was deleted: %+v, want the account's without the order's", b)
		}
		if none, err := s.ApprovalContexts(ctx, nil); err != nil || len(none) != 0 {
			t.Errorf("no ids: %v, %v", none, err)
		}
	})
}
