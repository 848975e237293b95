package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestListApprovalsPage, on each engine: walking the approvals list page
// by page (ListApprovalsPage, pages of 3, from each page's last
// approval) gives every approval of the status exactly once, oldest
// request first and ties of requested_at by ID, as ListApprovals does
// in one statement; a limit under 1 is refused.
func TestListApprovalsPage(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := e.Open(t)
		ctx := context.Background()
		a := createAccount(t, s, "acct1")
		storeCodeProfile(t, s) // approving needs its profile (ErrProfileDeleted)
		for i := range 17 {
			id := fmt.Sprintf("%02d", (i*7)%17) // IDs not in request order
			o := &store.Order{ID: "ord-" + id, AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour), Profile: "code",
				Identifiers: []acme.Identifier{{Type: "dns", Value: id + ".test"}}, AuthzIDs: []string{}, Attributes: map[string]string{},
				CreatedAt: now, UpdatedAt: now}
			must(t, s.CreateOrder(ctx, o, nil))
			// Three approvals a second: ties broken by ID.
			at := now.Add(time.Duration(i/3) * time.Second)
			must(t, s.RequestApproval(ctx, &store.Approval{ID: "ap-" + id, OrderID: o.ID, AccountID: a.ID, Profile: "code",
				Identifiers: o.Identifiers, KeyType: "ecdsa-p256", Reason: "always", CSR: []byte{1}, Status: store.ApprovalPending, RequestedAt: at}, at))
			if i%4 == 0 {
				if _, err := s.DecideApproval(ctx, "ap-"+id, true, "cli:test", "", nil, at); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, status := range []string{"", store.ApprovalPending, store.ApprovalApproved, store.ApprovalRejected} {
			all, err := s.ListApprovals(ctx, status, 0)
			must(t, err)
			var got []*store.Approval
			var after *store.ApprovalKey
			for pages := 0; ; pages++ {
				page, err := s.ListApprovalsPage(ctx, status, after, 3)
				must(t, err)
				if len(page) > 3 || pages > 10 {
					t.Fatalf("status %q: page %d of %d approvals, limit 3", status, pages, len(page))
				}
				got = append(got, page...)
				if len(page) < 3 {
					break
				}
				after = &store.ApprovalKey{RequestedAt: page[len(page)-1].RequestedAt, ID: page[len(page)-1].ID}
			}
			ids := func(aps []*store.Approval) []string {
				var out []string
				for _, a := range aps {
					out = append(out, a.ID)
				}
				return out
			}
			want := map[string]int{"": 17, store.ApprovalPending: 12, store.ApprovalApproved: 5, store.ApprovalRejected: 0}[status]
			if len(got) != want || !slices.Equal(ids(got), ids(all)) {
				t.Errorf("status %q: pages gave %v, want the %d of %v", status, ids(got), want, ids(all))
			}
			if !slices.IsSortedFunc(got, func(x, y *store.Approval) int {
				if c := x.RequestedAt.Compare(y.RequestedAt); c != 0 {
					return c
				}
				return strings.Compare(x.ID, y.ID)
			}) {
				t.Errorf("status %q: pages not in (requested_at, id) order: %v", status, ids(got))
			}
			for _, ap := range got {
				if status != "" && ap.Status != status {
					t.Errorf("status %q: approval %s is %s", status, ap.ID, ap.Status)
				}
			}
		}
		if _, err := s.ListApprovalsPage(ctx, "", nil, 0); err == nil {
			t.Error("ListApprovalsPage with limit 0: no error")
		}
	})
}

// TestApprovalsPagePlans, on each engine: a page of the approvals list,
// with and without a status, first and after a cursor, reads a range of
// approvals_keyset or approvals_status_keyset (migration 00026) in keyset
// order, without sorting: its cost is the page, not every approval
// (PostgreSQL: EXPLAIN after ANALYZE of 30,000 approvals, the cursor near
// the first, so the range holds nearly all of them; for a status that two
// thirds have it may read approvals_keyset in order with a filter, which
// is bounded too).
func TestApprovalsPagePlans(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := e.Open(t)
		ctx := context.Background()
		if e.Name == store.EnginePostgres { // SQLite plans without statistics
			must(t, store.InsertApprovalRows(ctx, s, 30000))
		}
		// Early in the list: a page's range is almost every approval.
		after := &store.ApprovalKey{RequestedAt: time.Unix(0, 5000), ID: "ap000005"}
		for _, c := range []struct {
			status string
			after  *store.ApprovalKey
			index  string
		}{
			{"", nil, "approvals_keyset"},
			{"", after, "approvals_keyset"},
			{store.ApprovalPending, nil, "approvals_status_keyset"},
			{store.ApprovalApproved, after, "approvals_status_keyset"},
		} {
			plan, err := store.ApprovalsPagePlan(ctx, s, c.status, c.after, 101)
			must(t, err)
			p := strings.Join(plan, "\n")
			index := c.index
			if e.Name == store.EnginePostgres && c.status != "" && strings.Contains(p, "approvals_keyset") {
				// A common status: PostgreSQL may filter approvals_keyset's
				// order instead, reading about limit / share rows.
				index = "approvals_keyset"
			}
			if !strings.Contains(p, index) || strings.Contains(p, "Sort") || strings.Contains(p, "TEMP B-TREE") ||
				strings.Contains(p, "Seq Scan") || (c.after != nil && !strings.Contains(strings.ToLower(p), "(requested_at,")) {
				t.Errorf("%s, status %q, after %v: plan does not read a range of %s in order:\n%s", e.Name, c.status, c.after, c.index, p)
			}
			t.Logf("%s, status %q, after %v:\n%s", e.Name, c.status, c.after != nil, p)
		}
	})
}
