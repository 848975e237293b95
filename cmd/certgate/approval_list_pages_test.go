package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestApprovalListAllPages: `certgate approval list` prints every
// approval, as before the admin API paged the list, although there are
// more (1,001) than one of its pages holds (1,000): it reads every page.
// Each once, oldest request first and ties by ID, in json and table.
func TestApprovalListAllPages(t *testing.T) {
	t.Setenv("CERTGATE_DB", "")
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	st := storetest.OpenDSN(t, server.DSN(data, ""))
	ctx := context.Background()
	now := time.Now().UTC()
	if err := st.CreateAccount(ctx, &store.Account{ID: "acct", KeyThumbprint: "tp", JWK: []byte(`{}`), Status: acme.StatusValid, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	const n = 1001
	var want []string
	for i := range n {
		id := fmt.Sprintf("ap%04d", (i*10)%n)                // IDs not in request order
		at := now.Add(time.Duration(i/2) * time.Millisecond) // two a millisecond: ties by ID
		o := &store.Order{ID: "ord-" + id, AccountID: "acct", Status: acme.StatusPending, Expires: now.Add(time.Hour),
			Identifiers: []acme.Identifier{{Type: "dns", Value: id + ".test"}}, AuthzIDs: []string{}, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateOrder(ctx, o, nil); err != nil {
			t.Fatal(err)
		}
		if err := st.RequestApproval(ctx, &store.Approval{ID: id, OrderID: o.ID, AccountID: "acct", Profile: "default", Identifiers: o.Identifiers,
			KeyType: "ecdsa-p256", Reason: "always", CSR: []byte{1}, Status: store.ApprovalPending, RequestedAt: at}, at); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	for i := 0; i+1 < n; i += 2 { // each pair of a millisecond by ID
		if want[i] > want[i+1] {
			want[i], want[i+1] = want[i+1], want[i]
		}
	}
	out, _, err := runCLI(t, nil, "approval", "list", "--data", data, "--status", "all", "--format", "json")
	var list []ra.ApprovalView
	if err != nil || json.Unmarshal([]byte(out), &list) != nil {
		t.Fatalf("json: %v: %.200s", err, out)
	}
	got := make([]string, len(list))
	for i, a := range list {
		got[i] = a.ID
	}
	if !slices.Equal(got, want) {
		t.Fatalf("json: %d approvals, want each of the %d once, in (requested_at, id) order", len(got), n)
	}
	out, _, err = runCLI(t, nil, "approval", "list", "--data", data)
	if err != nil || strings.Count(out, "\n") != n+1 || !strings.Contains(out, want[n-1]) {
		t.Fatalf("table: %v, %d lines, want %d", err, strings.Count(out, "\n"), n+1)
	}
}
