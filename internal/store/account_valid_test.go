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

// TestOrderNeedsValidAccount checks on every engine that an account
// deactivated meanwhile (another node or the CLI did it, so the caller's
// cached account still says valid) can neither create an order, with or
// without a replaced certificate, nor start the issuance of a ready one
// (RFC 8555 §7.3.6): ErrAccountNotValid, and nothing is written — no
// authorization, no order, no reserved serial; the ready order stays
// invalid, as the deactivation left it (cancelled). A valid order of the
// deactivated account is refused ErrAccountNotValid too; one of a valid
// account ErrStale.
func TestOrderNeedsValidAccount(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		s := e.Open(t)
		a, o, _ := seed(t, s)
		// A ready order's issuance, and a replacement of a certificate,
		// for the same account.
		old := createOrder(t, s, a.ID, "ord-old", newAuthz(a.ID, "az-old", "old.example.test", false, acme.ChallengeHTTP01))
		issue(t, s, old.ID, a.ID, "01aa")
		must(t, s.DeactivateAccount(ctx, a.ID, nil))

		az := newAuthz(a.ID, "az2", "b.example.test", false, acme.ChallengeHTTP01)
		o2 := &store.Order{ID: "ord2", AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour),
			Identifiers: []acme.Identifier{az.Identifier}, AuthzIDs: []string{az.ID}, CreatedAt: now, UpdatedAt: now}
		wantErr(t, "CreateOrder", s.CreateOrder(ctx, o2, []*store.Authorization{az}), store.ErrAccountNotValid)
		o2.Replaces = "01aa"
		wantErr(t, "CreateReplacementOrder", s.CreateReplacementOrder(ctx, o2, []*store.Authorization{az}, "01aa", ""), store.ErrAccountNotValid)
		if _, err := s.GetOrder(ctx, o2.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("order of the deactivated account: %v, want ErrNotFound", err)
		}
		if _, err := s.GetAuthorization(ctx, az.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("authorization of the refused order: %v, want ErrNotFound", err)
		}

		wantErr(t, "StartIssuanceKey", s.StartIssuanceKey(ctx, o.ID, "02bb", nil, now), store.ErrAccountNotValid)
		got, err := s.GetOrder(ctx, o.ID)
		must(t, err)
		if got.Status != acme.StatusInvalid {
			t.Errorf("order after the deactivation and the refused issuance start is %s, want invalid (cancelled)", got.Status)
		}
		// The serial was not reserved: reserving it now succeeds.
		must(t, s.ReserveSerial(ctx, "02bb", now))
		wantErr(t, "StartIssuanceKey of a valid order of the deactivated account", s.StartIssuanceKey(ctx, old.ID, "03cc", nil, now), store.ErrAccountNotValid)
		// An order that is not pending, of a valid account, is ErrStale.
		b := createAccount(t, s, "acct-b")
		done := createOrder(t, s, b.ID, "ord-b", newAuthz(b.ID, "az-b", "b.example.test", false, acme.ChallengeHTTP01))
		issue(t, s, done.ID, b.ID, "04dd")
		wantErr(t, "StartIssuanceKey of a valid order", s.StartIssuanceKey(ctx, done.ID, "05ee", nil, now), store.ErrStale)
	})
}

// TestOrderRacesAccountDeactivation checks on both engines that an order
// created while its account is being deactivated either is refused or has
// its authorizations cancelled by the deactivation: afterwards no pending
// authorization belongs to a deactivated account (SQLite's write
// transactions are exclusive; on PostgreSQL the account lock orders them,
// see accountLockClass; TestPostgresOrderDuringDeactivationCommit holds the
// deactivation at the worst moment).
func TestOrderRacesAccountDeactivation(t *testing.T) {
	for _, e := range storetest.Engines() {
		if e.Name == store.EnginePostgres {
			storetest.RequirePostgres(t)
		}
		ctx := context.Background()
		s := e.Open(t)
		const rounds, orders = 40, 4
		for r := range rounds {
			a := createAccount(t, s, fmt.Sprintf("race%d", r))
			var wg sync.WaitGroup
			errs := make([]error, orders)
			for i := range orders {
				wg.Go(func() {
					id := fmt.Sprintf("race%d-%d", r, i)
					az := newAuthz(a.ID, "az-"+id, id+".example.test", false, acme.ChallengeHTTP01)
					o := &store.Order{ID: "ord-" + id, AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour),
						Identifiers: []acme.Identifier{az.Identifier}, AuthzIDs: []string{az.ID}, CreatedAt: now, UpdatedAt: now}
					errs[i] = s.CreateOrder(ctx, o, []*store.Authorization{az})
				})
			}
			wg.Go(func() { must(t, s.DeactivateAccount(ctx, a.ID, nil)) })
			wg.Wait()
			for i, err := range errs {
				if err != nil && !errors.Is(err, store.ErrAccountNotValid) {
					t.Fatalf("round %d order %d: %v", r, i, err)
				}
				az, err := s.GetAuthorization(ctx, fmt.Sprintf("az-race%d-%d", r, i))
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				must(t, err)
				if az.Status != acme.StatusDeactivated {
					t.Fatalf("round %d: authorization %s of the deactivated account is %s, want deactivated", r, az.ID, az.Status)
				}
			}
		}
	}
}

// TestRequestApprovalNeedsValidAccount checks on every engine that the
// order of an account deactivated meanwhile (the caller's cached account
// still says valid) cannot be parked for approval, as its issuance
// cannot start (TestOrderNeedsValidAccount): ErrAccountNotValid, where it
// was ErrStale (the finalize answered orderNotReady "already being
// finalized" instead of unauthorized), and nothing is written: no
// approval. A non-pending order of a valid account is still
// ErrStale.
func TestRequestApprovalNeedsValidAccount(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		s := e.Open(t)
		a, o, _ := seed(t, s)
		must(t, s.DeactivateAccount(ctx, a.ID, nil))
		ap := &store.Approval{ID: "ap1", OrderID: o.ID, AccountID: a.ID, Identifiers: o.Identifiers, KeyType: "ecdsa-p256",
			Reason: "test", CSR: []byte{1}, Status: store.ApprovalPending, RequestedAt: now}
		wantErr(t, "RequestApproval", s.RequestApproval(ctx, ap, now), store.ErrAccountNotValid)
		if _, err := s.GetApprovalByOrder(ctx, o.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("approval of the refused request: %v, want ErrNotFound", err)
		}
		got, err := s.GetOrder(ctx, o.ID)
		must(t, err)
		if got.Status != acme.StatusInvalid {
			t.Errorf("order after the refused approval request is %s, want invalid (cancelled by the deactivation)", got.Status)
		}

		b := createAccount(t, s, "acct-b")
		done := createOrder(t, s, b.ID, "ord-b", newAuthz(b.ID, "az-b", "b.example.test", false, acme.ChallengeHTTP01))
		issue(t, s, done.ID, b.ID, "04dd")
		ap = &store.Approval{ID: "ap2", OrderID: done.ID, AccountID: b.ID, Identifiers: done.Identifiers, KeyType: "ecdsa-p256",
			Reason: "test", CSR: []byte{1}, Status: store.ApprovalPending, RequestedAt: now}
		wantErr(t, "RequestApproval of a valid order", s.RequestApproval(ctx, ap, now), store.ErrStale)
	})
}
