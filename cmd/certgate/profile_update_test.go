package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestProfileUpdateKeepsConcurrentChange: `certgate profile update`
// (updateStoredProfile) applies its flags to the profile as stored when it
// writes: a change of another field committed after its read (made
// deterministic by committing it from the change function) is kept, not
// overwritten, and the audit event's before is that change; a profile that
// keeps changing ends in a one-line error with the other change kept. On
// both engines.
func TestProfileUpdateKeepsConcurrentChange(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		put := func(desc string) {
			t.Helper()
			must(st.PutProfile(ctx, &store.Profile{Name: "web", Spec: []byte(`{"name":"web","validity":"30d","description":"` + desc + `"}`),
				UpdatedAt: now}, true))
		}
		must(st.PutProfile(ctx, &store.Profile{Name: "web", Spec: []byte(`{"name":"web","validity":"30d","description":"old"}`),
			CreatedAt: now, UpdatedAt: now}, false))
		stored := func() *policy.Profile {
			t.Helper()
			rec, err := st.GetProfile(ctx, "web")
			must(err)
			p, err := policy.Parse(rec.Spec)
			must(err)
			return p
		}

		calls := 0
		must(updateStoredProfile(ctx, st, "web", func(p *policy.Profile) error {
			calls++
			if calls == 1 {
				put("meanwhile") // another admin changes the description
			}
			p.Validity = policy.Duration(10 * 24 * time.Hour) // --validity 10d
			return nil
		}))
		if p := stored(); p.Description != "meanwhile" || time.Duration(p.Validity) != 10*24*time.Hour {
			t.Errorf("stored description %q validity %v, want the concurrent change kept (meanwhile) and 10d", p.Description, time.Duration(p.Validity))
		}
		if calls != 2 {
			t.Errorf("change applied %d times, want 2 (once more to the changed profile)", calls)
		}
		evs, err := st.ListAudit(ctx, store.AuditFilter{Newest: true, Action: audit.ActionProfileUpdate, ObjectID: "web", Limit: 10})
		must(err)
		if len(evs) != 1 || !strings.Contains(evs[0].Before, `"meanwhile"`) || !strings.Contains(evs[0].After, `"meanwhile"`) ||
			!strings.Contains(evs[0].After, `"10d"`) {
			t.Errorf("profile.update events %+v, want one whose before and after hold the concurrent change", evs)
		}

		n := 0
		err = updateStoredProfile(ctx, st, "web", func(p *policy.Profile) error {
			n++
			put(strings.Repeat("x", n)) // changed again before every write
			p.Description = "mine"
			return nil
		})
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "was changed by others 5 times") {
			t.Errorf("always changed: error %v, want one line saying it was changed 5 times", err)
		}
		if p := stored(); p.Description != "xxxxx" {
			t.Errorf("stored description %q after the refused update, want the last concurrent one", p.Description)
		}
		evs, err = st.ListAudit(ctx, store.AuditFilter{Newest: true, Action: audit.ActionProfileUpdate, ObjectID: "web", Limit: 10})
		must(err)
		if len(evs) != 1 {
			t.Errorf("%d profile.update events after the refused update, want still 1", len(evs))
		}

		if err := updateStoredProfile(ctx, st, "nope", func(*policy.Profile) error { return nil }); err == nil ||
			err.Error() != `there is no stored profile "nope" (create it first)` {
			t.Errorf("missing profile: %v", err)
		}
	})
}
