package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestPolicyConformance checks profiles, EAB keys, account binding and
// approvals on every engine (PostgreSQL failing, not skipping, when
// unreachable).
func TestPolicyConformance(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			if e.Name == store.EnginePostgres {
				storetest.RequirePostgres(t)
			}
			for _, c := range []struct {
				name string
				fn   func(t *testing.T, e storetest.Engine)
			}{{"Profiles", testProfiles}, {"EABKeys", testEABKeys}, {"Approvals", testApprovals}} {
				t.Run(c.name, func(t *testing.T) { c.fn(t, e) })
			}
		})
	}
}

func testProfiles(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	p := &store.Profile{Name: "web", Spec: []byte(`{"name":"web","validity":"90d"}`), CreatedAt: now, UpdatedAt: now}
	must(t, s.PutProfile(ctx, p, false))
	wantErr(t, "duplicate", s.PutProfile(ctx, p, false), store.ErrConflict)
	wantErr(t, "update missing", s.PutProfile(ctx, &store.Profile{Name: "x", Spec: []byte(`{}`)}, true), store.ErrNotFound)
	p.Spec, p.UpdatedAt = []byte(`{"name":"web","validity":"30d"}`), now.Add(time.Hour)
	must(t, s.PutProfile(ctx, p, true))
	got, err := s.GetProfile(ctx, "web")
	must(t, err)
	if string(got.Spec) != string(p.Spec) || !got.CreatedAt.Equal(now) || !got.UpdatedAt.Equal(p.UpdatedAt) {
		t.Errorf("GetProfile = %+v", got)
	}
	must(t, s.PutProfile(ctx, &store.Profile{Name: "api", Spec: []byte(`{}`), CreatedAt: now, UpdatedAt: now}, false))
	list, err := s.ListProfiles(ctx)
	must(t, err)
	if len(list) != 2 || list[0].Name != "api" || list[1].Name != "web" {
		t.Errorf("ListProfiles = %+v", list)
	}
	must(t, s.DeleteProfile(ctx, "web"))
	wantErr(t, "delete again", s.DeleteProfile(ctx, "web"), store.ErrNotFound)
	_, err = s.GetProfile(ctx, "web")
	wantErr(t, "get deleted", err, store.ErrNotFound)
}

func testEABKeys(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	k := &store.EABKey{KID: "kid-1", HMACKey: []byte("0123456789abcdef0123456789abcdef"), Profile: "partners", Owner: "team-a",
		Attributes: map[string]string{"billing_code": "B-1"}, Allow: []string{"*.a.test"}, SingleUse: true, Status: store.EABActive,
		Expires: now.Add(24 * time.Hour), CreatedAt: now}
	must(t, s.CreateEABKey(ctx, k))
	wantErr(t, "duplicate kid", s.CreateEABKey(ctx, k), store.ErrConflict)
	got, err := s.GetEABKey(ctx, "kid-1")
	must(t, err)
	if string(got.HMACKey) != string(k.HMACKey) || got.Attributes["billing_code"] != "B-1" || got.Allow[0] != "*.a.test" || !got.SingleUse ||
		!got.Expires.Equal(k.Expires) || got.Owner != "team-a" {
		t.Errorf("GetEABKey = %+v", got)
	}
	// A single-use key binds exactly one of two concurrent accounts.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := []string{"acct-a", "acct-b"}[i]
			errs[i] = s.CreateAccountEAB(ctx, &store.Account{ID: id, KeyThumbprint: "tp-" + id, JWK: []byte(`{}`), Status: acme.StatusValid,
				CreatedAt: now, EABKid: "kid-1", Attributes: map[string]string{"x": "y"}}, now, nil)
		}()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("concurrent bindings of a single-use key: %v, %v", errs[0], errs[1])
	}
	got, _ = s.GetEABKey(ctx, "kid-1")
	if got.Status != store.EABUsed || got.AccountID == "" || got.UsedAt.IsZero() {
		t.Errorf("used key %+v", got)
	}
	a, err := s.GetAccount(ctx, got.AccountID)
	must(t, err)
	if a.EABKid != "kid-1" || a.Attributes["x"] != "y" {
		t.Errorf("bound account %+v", a)
	}
	// Expired and revoked keys bind nothing.
	must(t, s.CreateEABKey(ctx, &store.EABKey{KID: "kid-2", HMACKey: []byte("k"), Profile: "p", Status: store.EABActive, Expires: now.Add(time.Minute), CreatedAt: now}))
	wantErr(t, "expired", s.CreateAccountEAB(ctx, &store.Account{ID: "c", KeyThumbprint: "tp-c", JWK: []byte(`{}`), Status: "valid", EABKid: "kid-2"}, now.Add(time.Hour), nil), store.ErrStale)
	revoked, err := s.RevokeEABKey(ctx, "kid-2")
	must(t, err)
	if revoked.KID != "kid-2" || revoked.Status != store.EABRevoked || revoked.Profile != "p" || !revoked.Expires.Equal(now.Add(time.Minute)) {
		t.Errorf("RevokeEABKey returned %+v, want kid-2 of profile p as revoked", revoked)
	}
	revokeErr := func(kid string) error { _, err := s.RevokeEABKey(ctx, kid); return err }
	wantErr(t, "revoke twice", revokeErr("kid-2"), store.ErrStale)
	wantErr(t, "revoke missing", revokeErr("nope"), store.ErrNotFound)
	wantErr(t, "revoked", s.CreateAccountEAB(ctx, &store.Account{ID: "c", KeyThumbprint: "tp-c", JWK: []byte(`{}`), Status: "valid", EABKid: "kid-2"}, now, nil), store.ErrStale)
	keys, err := s.ListEABKeys(ctx)
	must(t, err)
	if len(keys) != 2 {
		t.Errorf("ListEABKeys: %d keys", len(keys))
	}
	must(t, s.SetAccountAttributes(ctx, a.ID, map[string]string{"owner": "o"}))
	a, _ = s.GetAccount(ctx, a.ID)
	if a.Attributes["owner"] != "o" || len(a.Attributes) != 1 {
		t.Errorf("account attributes %v", a.Attributes)
	}
}

func testApprovals(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a := createAccount(t, s, "acct1")
	storeCodeProfile(t, s) // approving needs its profile (ErrProfileDeleted)
	mk := func(id string) *store.Approval {
		o := &store.Order{ID: "ord-" + id, AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour), Profile: "code",
			Identifiers: []acme.Identifier{{Type: "dns", Value: id + ".test"}}, AuthzIDs: []string{}, Attributes: map[string]string{"k": "v"},
			CreatedAt: now, UpdatedAt: now}
		must(t, s.CreateOrder(ctx, o, nil))
		ap := &store.Approval{ID: "ap-" + id, OrderID: o.ID, AccountID: a.ID, Profile: "code", Identifiers: o.Identifiers, KeyType: "ecdsa-p256",
			Reason: "always", CSR: []byte{1, 2, 3}, Status: store.ApprovalPending, RequestedAt: now}
		must(t, s.RequestApproval(ctx, ap, now))
		wantErr(t, "request twice", s.RequestApproval(ctx, &store.Approval{ID: "other", OrderID: o.ID}, now), store.ErrStale)
		got, err := s.GetOrder(ctx, o.ID)
		must(t, err)
		if got.Status != store.OrderAwaitingApproval || got.Profile != "code" || got.Attributes["k"] != "v" {
			t.Fatalf("order %+v", got)
		}
		return ap
	}
	pending := func(want int) {
		t.Helper()
		n, err := s.CountPendingApprovals(ctx)
		must(t, err)
		if n != want {
			t.Errorf("CountPendingApprovals = %d, want %d", n, want)
		}
	}
	pending(0)
	ap1, ap2 := mk("one"), mk("two")
	pending(2)
	list, err := s.ListApprovals(ctx, store.ApprovalPending, 10)
	must(t, err)
	if len(list) != 2 || string(list[0].CSR) != "\x01\x02\x03" || list[0].Identifiers[0].Value != "one.test" {
		t.Errorf("pending %+v", list)
	}
	must(t, s.MarkApprovalEscalated(ctx, ap1.ID, now.Add(time.Hour)))
	wantErr(t, "escalate twice", s.MarkApprovalEscalated(ctx, ap1.ID, now.Add(2*time.Hour)), store.ErrStale)
	dec, err := s.DecideApproval(ctx, ap1.ID, true, "alice", "fine", nil, now)
	must(t, err)
	if dec.ID != ap1.ID || dec.OrderID != ap1.OrderID || dec.Status != store.ApprovalApproved || dec.DecidedBy != "alice" || dec.Comment != "fine" ||
		!dec.DecidedAt.Equal(now) || !dec.EscalatedAt.Equal(now.Add(time.Hour)) {
		t.Errorf("DecideApproval returned %+v, want the approval as decided (approved by alice, escalated before)", dec)
	}
	pending(1)
	wantErr(t, "decide twice", second(s.DecideApproval(ctx, ap1.ID, false, "bob", "", nil, now)), store.ErrStale)
	wantErr(t, "decide missing", second(s.DecideApproval(ctx, "nope", true, "", "", nil, now)), store.ErrNotFound)
	ids, err := s.ApprovedAwaiting(ctx, 10)
	must(t, err)
	if len(ids) != 1 || ids[0] != ap1.OrderID {
		t.Errorf("ApprovedAwaiting = %v", ids)
	}
	perr := acme.NewProblem(acme.Unauthorized, "rejected: no")
	must(t, second(s.DecideApproval(ctx, ap2.ID, false, "bob", "no", perr, now)))
	pending(0)
	o2, _ := s.GetOrder(ctx, ap2.OrderID)
	if o2.Status != acme.StatusInvalid || o2.Error == nil || o2.Error.Detail != "rejected: no" {
		t.Errorf("rejected order %+v", o2)
	}
	got, _ := s.GetApproval(ctx, ap2.ID)
	if got.Status != store.ApprovalRejected || got.DecidedBy != "bob" || got.Comment != "no" || !got.DecidedAt.Equal(now) {
		t.Errorf("rejected approval %+v", got)
	}
	got, _ = s.GetApprovalByOrder(ctx, ap1.OrderID)
	if got.ID != ap1.ID || got.EscalatedAt.IsZero() {
		t.Errorf("by order %+v", got)
	}
}

// second returns the error of a (value, error) pair.
func second[T any](_ T, err error) error { return err }

// storeCodeProfile stores the profile "code" the approval tests' orders
// name.
func storeCodeProfile(t *testing.T, s *store.Store) {
	t.Helper()
	must(t, s.PutProfile(context.Background(), &store.Profile{Name: "code", Spec: []byte(`{"name":"code"}`), CreatedAt: now, UpdatedAt: now}, false))
}
