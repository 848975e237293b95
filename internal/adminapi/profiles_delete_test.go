package adminapi

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store"
)

// TestDeleteProfileInUse, on both engines: DELETE /api/v1/profiles/{name}
// is a 409 problem naming what still uses the profile while an EAB key
// that is not revoked or an order refers to it; a revoked key does not
// count; force=true deletes anyway.
func TestDeleteProfileInUse(t *testing.T) {
	eachEngine(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		admin := f.tokens[auth.RoleAdmin]

		// A key for the profile, revoked: the profile is unused.
		unused := f.storedProfile()
		if err := f.st.CreateEABKey(ctx, &store.EABKey{KID: "kid-old", HMACKey: []byte("k"), Profile: unused, Status: store.EABActive, CreatedAt: f.now}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.RevokeEABKey(ctx, "kid-old"); err != nil {
			t.Fatal(err)
		}
		if r := f.do("DELETE", "/api/v1/profiles/"+unused, admin, nil); r.status != 204 {
			t.Errorf("delete of a profile with only a revoked key: %d %s", r.status, r.body)
		}

		used := f.storedProfile()
		if err := f.st.CreateEABKey(ctx, &store.EABKey{KID: "kid-live", HMACKey: []byte("k"), Profile: used, Status: store.EABActive, CreatedAt: f.now}); err != nil {
			t.Fatal(err)
		}
		acct, _ := f.account()
		if err := f.st.CreateOrder(ctx, &store.Order{ID: "order-used", AccountID: acct, Status: acme.StatusPending, Expires: f.now.Add(time.Hour),
			Identifiers: []acme.Identifier{{Type: "dns", Value: "b.example.com"}}, AuthzIDs: []string{}, CreatedAt: f.now, UpdatedAt: f.now,
			Profile: used}, nil); err != nil {
			t.Fatal(err)
		}
		r := f.do("DELETE", "/api/v1/profiles/"+used, admin, nil)
		if err := isProblem(r, 409); err != nil {
			t.Fatalf("delete of a profile in use: %v", err)
		}
		if want := "still used by 1 EAB key not revoked, 1 order: delete it anyway with force=true"; !strings.Contains(string(r.body), want) {
			t.Errorf("409 body %s lacks %q", r.body, want)
		}
		if _, err := f.st.GetProfile(ctx, used); err != nil {
			t.Fatalf("refused delete removed the profile: %v", err)
		}
		if r := f.do("DELETE", "/api/v1/profiles/"+used+"?force=true", admin, nil); r.status != 204 {
			t.Fatalf("forced delete: %d %s", r.status, r.body)
		}
		if _, err := f.st.GetProfile(ctx, used); err == nil {
			t.Error("forced delete kept the profile")
		}
	})
}

// TestDeleteProfileInUseMeanwhile, on both engines: DELETE
// /api/v1/profiles/{name} without force counts what uses the profile in
// the transaction that deletes it, so an EAB key or an order stored after
// the handler began and before that transaction (fixture.meanwhile) makes
// it a 409 that deletes nothing; a count made before, outside that
// transaction, missed them and deleted a profile in use.
func TestDeleteProfileInUseMeanwhile(t *testing.T) {
	eachEngine(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		admin := f.tokens[auth.RoleAdmin]
		acct, _ := f.account()
		for _, tc := range []struct {
			what  string
			store func(profile string) error
			want  string
		}{
			{"EAB key", func(profile string) error {
				return f.st.CreateEABKey(ctx, &store.EABKey{KID: "kid-" + profile, HMACKey: []byte("k"), Profile: profile, Status: store.EABActive, CreatedAt: f.now})
			}, "still used by 1 EAB key not revoked: delete it anyway with force=true"},
			{"order", func(profile string) error {
				return f.st.CreateOrder(ctx, &store.Order{ID: "order-" + profile, AccountID: acct, Status: acme.StatusPending, Expires: f.now.Add(time.Hour),
					Identifiers: []acme.Identifier{{Type: "dns", Value: "b.example.com"}}, AuthzIDs: []string{}, CreatedAt: f.now, UpdatedAt: f.now,
					Profile: profile}, nil)
			}, "still used by 1 order: delete it anyway with force=true"},
		} {
			t.Run(tc.what, func(t *testing.T) {
				name := f.storedProfile()
				f.meanwhile = func() {
					if err := tc.store(name); err != nil {
						t.Error(err)
					}
				}
				r := f.do("DELETE", "/api/v1/profiles/"+name, admin, nil)
				if f.meanwhile != nil {
					t.Fatal("the concurrent change never ran")
				}
				if err := isProblem(r, 409); err != nil {
					t.Fatalf("delete of a profile put in use meanwhile: %v", err)
				}
				if !strings.Contains(string(r.body), tc.want) {
					t.Errorf("409 body %s lacks %q", r.body, tc.want)
				}
				if _, err := f.st.GetProfile(ctx, name); err != nil || f.profileEvents(t, name, "profile.delete") != 0 {
					t.Errorf("refused delete: profile %v, %d profile.delete events; want it kept, none", err, f.profileEvents(t, name, "profile.delete"))
				}
			})
		}
	})
}
