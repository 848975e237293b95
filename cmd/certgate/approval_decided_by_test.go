package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv"
)

// TestApprovalDecidedBySameForCLIAndAPI: an approval's decided_by is its
// decision's audit actor whoever decided: "cli:NAME" from `certgate
// approval approve|reject` (--by NAME, else the OS user), "token:NAME#ID"
// through the admin API, and the approvals listing of the CLI and of the
// API read the same. The CLI recorded the bare name ("alice") as decided_by
// beside the actor "cli:alice" of its audit event.
func TestApprovalDecidedBySameForCLIAndAPI(t *testing.T) {
	env := testenv.New(t)
	st := env.Server.Store()
	ctx := context.Background()
	data := env.Config.Data
	now := time.Now().UTC()
	if err := st.CreateAccount(ctx, &store.Account{ID: "acct", KeyThumbprint: "tp", JWK: []byte(`{}`), Status: acme.StatusValid, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	ids := []string{"cli-by", "cli-os", "cli-rej", "api-ok", "api-rej"}
	for _, id := range ids {
		o := &store.Order{ID: "ord-" + id, AccountID: "acct", Status: acme.StatusPending, Expires: now.Add(time.Hour),
			Identifiers: []acme.Identifier{{Type: "dns", Value: id + ".test"}}, AuthzIDs: []string{}, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateOrder(ctx, o, nil); err != nil {
			t.Fatal(err)
		}
		if err := st.RequestApproval(ctx, &store.Approval{ID: id, OrderID: o.ID, AccountID: "acct", Profile: "default", Identifiers: o.Identifiers,
			KeyType: "ecdsa-p256", Reason: "always", CSR: []byte{1}, Status: store.ApprovalPending, RequestedAt: now}, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"approve", "cli-by", "--by", "alice"},
		{"approve", "cli-os"},
		{"reject", "cli-rej", "--by", "alice", "--comment", "no"},
	} {
		out, _, err := runCLI(t, nil, append(append([]string{"approval"}, args...), "--data", data)...)
		if err != nil {
			t.Fatalf("approval %v: %v", args, err)
		}
		if !strings.Contains(out, "(by cli:") {
			t.Errorf("approval %v printed %q, want the decider as recorded, (by cli:...)", args, out)
		}
	}
	token := adminToken(t, env, "admin")
	api := func(method, path, body string) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, env.BaseURL+"/api/v1"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := env.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %s\n%s", method, path, res.Status, b)
		}
		return b
	}
	api(http.MethodPost, "/approvals/api-ok/approve", `{}`)
	api(http.MethodPost, "/approvals/api-rej/reject", `{"comment": "no"}`)

	// The decision events' actors, and the decided_by of their after.
	out, _, err := runCLI(t, nil, "audit", "list", "--data", data, "--object-type", "approval", "--limit", "100", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var evs struct{ Items []audit.View }
	if err := json.Unmarshal([]byte(out), &evs); err != nil {
		t.Fatal(err)
	}
	actor := map[string]string{}
	for _, e := range evs.Items {
		if e.Action != audit.ActionApprovalApprove && e.Action != audit.ActionApprovalReject {
			continue
		}
		var after ra.ApprovalView
		if err := json.Unmarshal(e.After, &after); err != nil || after.DecidedBy != e.Actor {
			t.Errorf("event %s of %s: actor %s, after.decided_by %q (%v)", e.Action, e.ObjectID, e.Actor, after.DecidedBy, err)
		}
		actor[e.ObjectID] = e.Actor
	}
	var fromAPI struct{ Items []ra.ApprovalView }
	if err := json.Unmarshal(api(http.MethodGet, "/approvals?status=all", ""), &fromAPI); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, nil, "approval", "list", "--status", "all", "--data", data, "--format", "json")
	var fromCLI []ra.ApprovalView
	if err != nil || json.Unmarshal([]byte(out), &fromCLI) != nil {
		t.Fatalf("approval list: %v\n%s", err, out)
	}
	want := map[string]string{"cli-by": "cli:alice", "cli-os": cliActor(), "cli-rej": "cli:alice", "api-ok": "token:t-admin#", "api-rej": "token:t-admin#"}
	for _, list := range [][]ra.ApprovalView{fromAPI.Items, fromCLI} {
		if len(list) != len(ids) {
			t.Fatalf("%d approvals listed, want %d", len(list), len(ids))
		}
		for _, ap := range list {
			if !strings.HasPrefix(ap.DecidedBy, want[ap.ID]) || ap.DecidedBy != actor[ap.ID] {
				t.Errorf("approval %s: decided_by %q, its decision's audit actor %q; want both %s...", ap.ID, ap.DecidedBy, actor[ap.ID], want[ap.ID])
			}
		}
	}
	// The table names the decider as the JSON does.
	out, _, err = runCLI(t, nil, "approval", "list", "--status", "all", "--data", data)
	if err != nil || strings.Count(out, " cli:alice ") != 2 || strings.Count(out, " token:t-admin#") != 2 {
		t.Errorf("approval list: %v\n%s", err, out)
	}
}
