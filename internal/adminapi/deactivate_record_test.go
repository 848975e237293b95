package adminapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
)

// TestAccountDeactivateRecordsAdminObject, on both engines: an ACME
// client's own deactivation (RFC 8555 §7.3.6, ra.UpdateAccount) records
// in account.deactivate the account object the admin API records (and
// shows: AccountView), before and after, with its EAB key, the key's
// owner, its attributes, terms agreement and creation time, and its
// contacts as the same request sets them; the admin API's own event has
// the same fields. Before, the ACME path recorded id, status and contact
// only.
func TestAccountDeactivateRecordsAdminObject(t *testing.T) {
	eachEngine(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		if err := f.st.CreateEABKey(ctx, &store.EABKey{KID: "kid-pay", HMACKey: []byte("k"), Profile: "default", Owner: "team-pay",
			Status: store.EABActive, CreatedAt: f.now}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"acme-side", "api-side"} {
			if err := f.st.CreateAccount(ctx, &store.Account{ID: id, KeyThumbprint: "tp-" + id, JWK: []byte(`{}`), Status: acme.StatusValid,
				Contact: []string{"mailto:old@example.com"}, TOSAgreed: true, CreatedAt: f.now, EABKid: "kid-pay",
				Attributes: map[string]string{"team": "pay"}}); err != nil {
				t.Fatal(err)
			}
		}
		acct, err := f.st.GetAccount(ctx, "acme-side")
		if err != nil {
			t.Fatal(err)
		}
		r := ra.New(ra.Config{Audit: f.log}, f.st, nil, nil, func() time.Time { return f.now }, slog.New(slog.DiscardHandler))
		t.Cleanup(func() { r.Shutdown(ctx) })
		contact := []string{"mailto:new@example.com"}
		if _, err := r.UpdateAccount(ctx, acct, acme.AccountUpdateRequest{Status: acme.StatusDeactivated, Contact: &contact}); err != nil {
			t.Fatal(err)
		}
		if resp := f.do("POST", "/api/v1/accounts/api-side/deactivate", f.tokens[auth.RoleAdmin], nil); resp.status != 200 {
			t.Fatalf("admin API deactivate: %d %s", resp.status, resp.body)
		}
		event := func(id string) (before, after map[string]any) {
			evs, err := f.log.List(ctx, store.AuditFilter{Newest: true, ObjectType: "account", ObjectID: id, Action: "account.deactivate"})
			if err != nil || len(evs) != 1 {
				t.Fatalf("%s: account.deactivate events %+v, %v; want one", id, evs, err)
			}
			if err := json.Unmarshal([]byte(evs[0].Before), &before); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(evs[0].After), &after); err != nil {
				t.Fatal(err)
			}
			return before, after
		}
		asMap := func(a Account) map[string]any {
			b, _ := json.Marshal(a)
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			return m
		}
		wantBefore := AccountView(acct, "team-pay")
		wantAfter := wantBefore
		wantAfter.Status, wantAfter.Contact = acme.StatusDeactivated, contact
		before, after := event("acme-side")
		if !reflect.DeepEqual(before, asMap(wantBefore)) || !reflect.DeepEqual(after, asMap(wantAfter)) {
			t.Errorf("ACME deactivation recorded\n before %v\n after  %v\nwant the admin API's account object\n before %v\n after  %v",
				before, after, asMap(wantBefore), asMap(wantAfter))
		}
		apiBefore, apiAfter := event("api-side")
		keys := func(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
		if !slices.Equal(keys(before), keys(apiBefore)) || !slices.Equal(keys(after), keys(apiAfter)) {
			t.Errorf("fields: ACME %v / %v, admin API %v / %v", keys(before), keys(after), keys(apiBefore), keys(apiAfter))
		}
	})
}
