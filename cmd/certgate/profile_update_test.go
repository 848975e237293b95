package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/server"
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
		_, err := updateStoredProfile(ctx, st, "web", func(p *policy.Profile) error {
			calls++
			if calls == 1 {
				put("meanwhile") // another admin changes the description
			}
			p.Validity = policy.Duration(10 * 24 * time.Hour) // --validity 10d
			return nil
		})
		must(err)
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
		_, err = updateStoredProfile(ctx, st, "web", func(p *policy.Profile) error {
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

		if _, err := updateStoredProfile(ctx, st, "nope", func(*policy.Profile) error { return nil }); err == nil ||
			err.Error() != `there is no stored profile "nope" (create it first)` {
			t.Errorf("missing profile: %v", err)
		}
	})
}

// TestProfileUpdateWithoutChange: `profile update NAME` without a flag of
// the profile's (the server's --hostname is none) is refused in one line,
// as `account set-attributes ID` without pairs is; an update that leaves
// the profile as it is says so and writes no audit event. The former code
// printed "updated profile" and audited a profile.update whose before
// and after were the same.
func TestProfileUpdateWithoutChange(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	if _, _, err := runCLI(t, nil, "profile", "create", "web", "--data", data, "--validity", "30d"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{}, {"--hostname", "acme.example.test"}} {
		out, _, err := runCLI(t, nil, append([]string{"profile", "update", "web", "--data", data}, args...)...)
		if err == nil || err.Error() != "nothing to change: give a flag or --file" || out != "" {
			t.Errorf("update %q: %q, %v; want refused: nothing to change", args, out, err)
		}
	}
	out, _, err := runCLI(t, nil, "profile", "update", "web", "--data", data, "--validity", "30d")
	if err != nil || !strings.Contains(out, "unchanged") || strings.Contains(out, "updated") {
		t.Errorf("update to the same validity: %q, %v; want unchanged", out, err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, server.DSN(data, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.ListAudit(ctx, store.AuditFilter{Action: audit.ActionProfileUpdate, Limit: 10})
	if err != nil || len(evs) != 0 {
		t.Errorf("profile.update events %+v, %v; want none", evs, err)
	}
	if out, _, err := runCLI(t, nil, "profile", "update", "web", "--data", data, "--validity", "20d"); err != nil || !strings.Contains(out, "updated profile web") {
		t.Errorf("update --validity 20d: %q, %v", out, err)
	}
	if evs, err = st.ListAudit(ctx, store.AuditFilter{Action: audit.ActionProfileUpdate, Limit: 10}); err != nil || len(evs) != 1 {
		t.Errorf("%d profile.update events, %v; want 1", len(evs), err)
	}
}
