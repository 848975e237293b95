package adminapi

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store"
)

// TestAuditBeforeUnderConcurrentChange: the audit event of an admin change
// to an existing row records as "before" the row the change replaced, even
// when another change committed after the handler read the row and before
// its change (made deterministic by fixture.meanwhile): profile update and
// delete, EAB key revocation, approval decision, account deactivation, on
// both engines.
func TestAuditBeforeUnderConcurrentChange(t *testing.T) {
	eachEngine(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		admin := f.tokens[auth.RoleAdmin]
		// must stops the (sub)test t on err; for the test's own goroutine.
		must := func(t *testing.T, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		// check fails the (sub)test t on err without stopping it: for the
		// changes made meanwhile, which run on the handler's goroutine,
		// where t.Fatal must not be called.
		check := func(t *testing.T, err error) {
			t.Helper()
			if err != nil {
				t.Error(err)
			}
		}
		// last returns the newest audit event of the object as JSON
		// values.
		last := func(t *testing.T, objectType, id, action string) (before, after map[string]any) {
			t.Helper()
			evs, err := f.log.List(ctx, store.AuditFilter{Newest: true, ObjectType: objectType, ObjectID: id, Limit: 1})
			must(t, err)
			if len(evs) != 1 || evs[0].Action != action {
				t.Fatalf("newest %s %s event: %+v, want one %s", objectType, id, evs, action)
			}
			for _, x := range []struct {
				s string
				v *map[string]any
			}{{evs[0].Before, &before}, {evs[0].After, &after}} {
				if x.s != "" {
					must(t, json.Unmarshal([]byte(x.s), x.v))
				}
			}
			return before, after
		}
		spec := func(name, validity string) []byte {
			return []byte(`{"name":"` + name + `","validity":"` + validity + `","wildcard":true}`)
		}
		putMeanwhile := func(t *testing.T, name, validity string) func() {
			return func() {
				check(t, f.st.PutProfile(ctx, &store.Profile{Name: name, Spec: spec(name, validity), UpdatedAt: f.now}, true))
			}
		}

		t.Run("profile update", func(t *testing.T) {
			name := f.storedProfile() // validity 30d
			f.meanwhile = putMeanwhile(t, name, "20d")
			if r := f.do("PUT", "/api/v1/profiles/"+name, admin, map[string]any{"name": name, "validity": "10d", "wildcard": true}); r.status != 200 {
				t.Fatalf("update: %d %s", r.status, r.body)
			}
			before, after := last(t, "profile", name, "profile.update")
			if before["validity"] != "20d" || after["validity"] != "10d" {
				t.Errorf("profile.update validity before %v after %v, want 20d (the concurrent update the change replaced) and 10d", before["validity"], after["validity"])
			}
		})
		t.Run("profile delete", func(t *testing.T) {
			name := f.storedProfile()
			f.meanwhile = putMeanwhile(t, name, "20d")
			if r := f.do("DELETE", "/api/v1/profiles/"+name+"?force=true", admin, nil); r.status != 204 {
				t.Fatalf("delete: %d %s", r.status, r.body)
			}
			if before, after := last(t, "profile", name, "profile.delete"); before["validity"] != "20d" || after != nil {
				t.Errorf("profile.delete before %v after %v, want validity 20d (the deleted row) and none", before, after)
			}
		})
		t.Run("EAB key revoke", func(t *testing.T) {
			kid := f.eabKey()
			f.meanwhile = func() {
				check(t, f.st.CreateAccountEAB(ctx, &store.Account{ID: "bound-" + kid, KeyThumbprint: "tp-bound-" + kid, JWK: []byte(`{}`),
					Status: acme.StatusValid, CreatedAt: f.now, EABKid: kid}, f.now, nil))
			}
			r := f.do("POST", "/api/v1/eab-keys/"+kid+"/revoke", admin, nil)
			if r.status != 200 {
				t.Fatalf("revoke: %d %s", r.status, r.body)
			}
			before, after := last(t, "eab_key", kid, "eab_key.revoke")
			if before["account"] != "bound-"+kid || before["status"] != "active" || after["account"] != "bound-"+kid || after["status"] != "revoked" {
				t.Errorf("eab_key.revoke before %v after %v, want the account bound meanwhile in both, active then revoked", before, after)
			}
			var body map[string]any
			must(t, json.Unmarshal(r.body, &body))
			if body["account"] != "bound-"+kid {
				t.Errorf("revoke answered %s, want the key as revoked, with the account bound meanwhile", r.body)
			}
		})
		t.Run("approval approve", func(t *testing.T) {
			id := f.approval()
			f.meanwhile = func() { check(t, f.st.MarkApprovalEscalated(ctx, id, f.now)) }
			r := f.do("POST", "/api/v1/approvals/"+id+"/approve", admin, map[string]any{})
			if r.status != 200 {
				t.Fatalf("approve: %d %s", r.status, r.body)
			}
			before, after := last(t, "approval", id, "approval.approve")
			if before["escalated_at"] == nil || after["escalated_at"] == nil || before["status"] != "pending" || after["status"] != "approved" {
				t.Errorf("approval.approve before %v after %v, want the escalation made meanwhile in both, pending then approved", before, after)
			}
			var body map[string]any
			must(t, json.Unmarshal(r.body, &body))
			if body["escalated_at"] == nil || body["status"] != "approved" || body["decided_by"] != f.actor(auth.RoleAdmin) {
				t.Errorf("approve answered %s, want the approval as the decision left it: approved, with the escalation made meanwhile", r.body)
			}
		})
		t.Run("account deactivate", func(t *testing.T) {
			id, _ := f.account()
			f.meanwhile = func() { check(t, f.st.SetAccountAttributes(ctx, id, map[string]string{"team": "blue"})) }
			if r := f.do("POST", "/api/v1/accounts/"+id+"/deactivate", admin, nil); r.status != 200 {
				t.Fatalf("deactivate: %d %s", r.status, r.body)
			}
			before, after := last(t, "account", id, "account.deactivate")
			want := map[string]any{"team": "blue"}
			if !reflect.DeepEqual(before["attributes"], want) || !reflect.DeepEqual(after["attributes"], want) ||
				before["status"] != "valid" || after["status"] != "deactivated" {
				t.Errorf("account.deactivate before %v after %v, want the attributes set meanwhile in both, valid then deactivated", before, after)
			}
		})
	})
}

// TestEABRevokeAnswerWithoutAudit: without an audit log too, the answer of
// POST /api/v1/eab-keys/{kid}/revoke is the key as the revocation's
// transaction left it, with an account bound after the handler began
// (fixture.meanwhile, run at the handler's reading of the clock), as
// TestAuditBeforeUnderConcurrentChange's "EAB key revoke" pins it with
// one. On both engines.
func TestEABRevokeAnswerWithoutAudit(t *testing.T) {
	eachEngineUnaudited(t, func(t *testing.T, f *fixture) {
		kid := f.eabKey()
		f.meanwhile = func() {
			if err := f.st.CreateAccountEAB(context.Background(), &store.Account{ID: "bound-" + kid, KeyThumbprint: "tp-bound-" + kid, JWK: []byte(`{}`),
				Status: acme.StatusValid, CreatedAt: f.now, EABKid: kid}, f.now, nil); err != nil {
				t.Error(err)
			}
		}
		r := f.do("POST", "/api/v1/eab-keys/"+kid+"/revoke", f.tokens[auth.RoleAdmin], nil)
		if r.status != 200 || f.meanwhile != nil {
			t.Fatalf("revoke: %d %s (the concurrent bind ran: %v)", r.status, r.body, f.meanwhile == nil)
		}
		var body map[string]any
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		if body["account"] != "bound-"+kid || body["status"] != "revoked" {
			t.Errorf("revoke answered %s, want the key as revoked, with the account bound meanwhile", r.body)
		}
	})
}
