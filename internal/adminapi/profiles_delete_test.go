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
