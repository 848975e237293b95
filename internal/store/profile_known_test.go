package store_test

import (
	"context"
	"testing"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestProfileKnown: on both engines, ProfileKnown knows the default
// profile, a stored profile, and a deleted profile that a certificate
// still carries; not a name that is neither.
func TestProfileKnown(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		must(t, s.PutProfile(ctx, &store.Profile{Name: "web", Spec: []byte(`{"v":1}`), CreatedAt: now, UpdatedAt: now}, false))
		must(t, s.PutProfile(ctx, &store.Profile{Name: "gone", Spec: []byte(`{"v":1}`), CreatedAt: now, UpdatedAt: now}, false))
		c := invCert("0d", 30, "k.example.test")
		c.Profile = "gone"
		must(t, s.InsertCertificates(ctx, []*store.Certificate{c}))
		must(t, s.DeleteProfile(ctx, "gone"))
		for name, want := range map[string]bool{store.DefaultProfile: true, "web": true, "gone": true, "nosuch": false, "": false} {
			got, err := s.ProfileKnown(ctx, name)
			if err != nil || got != want {
				t.Errorf("ProfileKnown(%q) = %v, %v; want %v", name, got, err, want)
			}
		}
	})
}
