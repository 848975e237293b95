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

// TestPendingApprovalsExpired: on both engines, PendingApprovalsExpired
// lists the pending approvals whose order expired by now (the order's
// expiry included), and no decided ones.
func TestPendingApprovalsExpired(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := createAccount(t, s, "acct1")
		for _, id := range []string{"o1", "o2"} {
			createOrder(t, s, a.ID, id, newAuthz(a.ID, "az-"+id, id+".example.test", false, acme.ChallengeHTTP01)) // expires now + 1h
			must(t, s.RequestApproval(ctx, &store.Approval{ID: "ap-" + id, OrderID: id, AccountID: a.ID, Profile: "default",
				Identifiers: []acme.Identifier{{Type: acme.IdentifierDNS, Value: id + ".example.test"}}, KeyType: "ecdsa-p256", Reason: "test",
				CSR: []byte("csr"), Status: store.ApprovalPending, RequestedAt: now}, now))
		}
		ids := func(at time.Time) []string {
			t.Helper()
			aps, err := s.PendingApprovalsExpired(ctx, at, 10)
			must(t, err)
			var out []string
			for _, ap := range aps {
				out = append(out, ap.ID)
			}
			return out
		}
		if got := ids(now.Add(time.Hour - time.Nanosecond)); len(got) != 0 {
			t.Errorf("before the orders expire: %v", got)
		}
		if _, err := s.DecideApproval(ctx, "ap-o2", false, "alice", "no", acme.NewProblem(acme.Unauthorized, "no"), now); err != nil {
			t.Fatal(err)
		}
		if got := ids(now.Add(time.Hour)); len(got) != 1 || got[0] != "ap-o1" {
			t.Errorf("at the orders' expiry: %v, want [ap-o1]", got)
		}
	})
}

// TestApproveExpiredOrderRefused: on both engines, DecideApproval refuses
// to approve the approval of an order that expired by the decision's time
// (ErrOrderExpired; the approval stays pending, its order untouched),
// since that approval would issue nothing (RFC 8555 §7.1.3); a rejection
// then is taken, and an approval a moment before the expiry too. The
// former code recorded the approval (audited as approval.approve, the
// admin API answering 200) and ResumeApproved then made the order invalid.
func TestApproveExpiredOrderRefused(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := createAccount(t, s, "acct1")
		for _, id := range []string{"o1", "o2", "o3"} {
			createOrder(t, s, a.ID, id, newAuthz(a.ID, "az-"+id, id+".example.test", false, acme.ChallengeHTTP01)) // expires now + 1h
			must(t, s.RequestApproval(ctx, &store.Approval{ID: "ap-" + id, OrderID: id, AccountID: a.ID, Profile: "default",
				Identifiers: []acme.Identifier{{Type: acme.IdentifierDNS, Value: id + ".example.test"}}, KeyType: "ecdsa-p256", Reason: "test",
				CSR: []byte("csr"), Status: store.ApprovalPending, RequestedAt: now}, now))
		}
		expiry := now.Add(time.Hour)
		if _, err := s.DecideApproval(ctx, "ap-o1", true, "alice", "ok", nil, expiry); !errors.Is(err, store.ErrOrderExpired) {
			t.Errorf("approval at the order's expiry: %v, want ErrOrderExpired", err)
		}
		ap, err := s.GetApproval(ctx, "ap-o1")
		must(t, err)
		o, err := s.GetOrder(ctx, "o1")
		must(t, err)
		if ap.Status != store.ApprovalPending || o.Status != store.OrderAwaitingApproval {
			t.Errorf("after the refused approval: approval %s, order %s; want pending, %s", ap.Status, o.Status, store.OrderAwaitingApproval)
		}
		if ap, err := s.DecideApproval(ctx, "ap-o2", false, "alice", "too late", acme.NewProblem(acme.Unauthorized, "no"), expiry); err != nil || ap.Status != store.ApprovalRejected {
			t.Errorf("rejection at the order's expiry: %+v, %v; want rejected", ap, err)
		}
		if ap, err := s.DecideApproval(ctx, "ap-o3", true, "alice", "ok", nil, expiry.Add(-time.Nanosecond)); err != nil || ap.Status != store.ApprovalApproved {
			t.Errorf("approval just before the order's expiry: %+v, %v; want approved", ap, err)
		}
	})
}

// TestApproveForInvalidAccountRefused: on both engines, DecideApproval
// refuses to approve the approval of an account that is no longer valid
// (ErrAccountNotValid; it stays pending), since that approval would issue
// nothing (RFC 8555 §7.3.6); a rejection is taken. The former code
// recorded the approval, and ResumeApproved then made the order invalid.
func TestApproveForInvalidAccountRefused(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := createAccount(t, s, "acct1")
		for _, id := range []string{"o1", "o2"} {
			createOrder(t, s, a.ID, id, newAuthz(a.ID, "az-"+id, id+".example.test", false, acme.ChallengeHTTP01))
			must(t, s.RequestApproval(ctx, &store.Approval{ID: "ap-" + id, OrderID: id, AccountID: a.ID, Profile: "default",
				Identifiers: []acme.Identifier{{Type: acme.IdentifierDNS, Value: id + ".example.test"}}, KeyType: "ecdsa-p256", Reason: "test",
				CSR: []byte("csr"), Status: store.ApprovalPending, RequestedAt: now}, now))
		}
		deactivated := *a
		deactivated.Status = acme.StatusDeactivated
		must(t, s.UpdateAccount(ctx, &deactivated))
		if _, err := s.DecideApproval(ctx, "ap-o1", true, "alice", "ok", nil, now); !errors.Is(err, store.ErrAccountNotValid) {
			t.Errorf("approval for a deactivated account: %v, want ErrAccountNotValid", err)
		}
		if ap, err := s.GetApproval(ctx, "ap-o1"); err != nil || ap.Status != store.ApprovalPending {
			t.Errorf("after the refused approval: %+v, %v; want pending", ap, err)
		}
		if ap, err := s.DecideApproval(ctx, "ap-o2", false, "alice", "no", acme.NewProblem(acme.Unauthorized, "no"), now); err != nil || ap.Status != store.ApprovalRejected {
			t.Errorf("rejection for a deactivated account: %+v, %v; want rejected", ap, err)
		}
	})
}
