package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestDeleteProfileUnused: on both engines, DeleteProfileWhen with Unused
// deletes a profile only while nothing refers to it (a revoked EAB key
// does not count): an EAB key, an order or a certificate without an order
// makes it a *ProfileInUseError (errors.Is ErrConflict) with the counts
// of the deleting transaction, deleting nothing and recording no audit
// event; without Unused the same profile is deleted. With CheckSpec too,
// a changed spec is ErrStale; a missing profile is ErrNotFound.
func TestDeleteProfileUnused(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		put := func(name string) {
			t.Helper()
			must(t, s.PutProfile(ctx, &store.Profile{Name: name, Spec: []byte(`{"v":1}`), CreatedAt: now, UpdatedAt: now}, false))
		}
		unused := store.ProfileDeletion{Unused: true}
		inUse := func(what, name string, want store.ProfileUse) {
			t.Helper()
			var got *store.Profile
			err := s.DeleteProfileWhen(ctx, name, unused, replacedEvent(t, s, &got))
			var pe *store.ProfileInUseError
			if !errors.As(err, &pe) || !errors.Is(err, store.ErrConflict) || pe.Use != want || pe.Name != name {
				t.Fatalf("%s: %v, want a *ProfileInUseError for %+v", what, err, want)
			}
			evs, lerr := s.ListAudit(ctx, store.AuditFilter{Limit: 1})
			must(t, lerr)
			if _, err := s.GetProfile(ctx, name); err != nil || got != nil || len(evs) != 0 {
				t.Errorf("%s: profile %v, hook got %+v, %d audit events; want the profile kept, no hook call, no event", what, err, got, len(evs))
			}
		}

		put("keys")
		must(t, s.CreateEABKey(ctx, &store.EABKey{KID: "revoked", HMACKey: []byte("k"), Profile: "keys", Status: store.EABActive, CreatedAt: now}))
		_, err := s.RevokeEABKey(ctx, "revoked")
		must(t, err)
		must(t, s.CreateEABKey(ctx, &store.EABKey{KID: "live", HMACKey: []byte("k"), Profile: "keys", Status: store.EABActive, CreatedAt: now}))
		inUse("a live EAB key", "keys", store.ProfileUse{EABKeys: 1})

		put("orders")
		a := createAccount(t, s, "acct1")
		must(t, s.CreateOrder(ctx, profileOrder("o1", a.ID, "orders"), nil))
		inUse("an order", "orders", store.ProfileUse{Orders: 1})

		put("certs")
		c := invCert("0c", 30, "c.example.test")
		c.Profile = "certs"
		must(t, s.InsertCertificates(ctx, []*store.Certificate{c}))
		inUse("an imported certificate", "certs", store.ProfileUse{Certificates: 1})

		must(t, s.DeleteProfileWhen(ctx, "orders", store.ProfileDeletion{}))
		wantErr(t, "deleted without Unused", s.DeleteProfileWhen(ctx, "orders", unused), store.ErrNotFound)

		put("free")
		wantErr(t, "stale spec", s.DeleteProfileWhen(ctx, "free", store.ProfileDeletion{CheckSpec: true, Spec: []byte(`{"v":0}`), Unused: true}), store.ErrStale)
		must(t, s.DeleteProfileWhen(ctx, "free", store.ProfileDeletion{CheckSpec: true, Spec: []byte(`{"v":1}`), Unused: true}))
		wantErr(t, "missing", s.DeleteProfileWhen(ctx, "free", unused), store.ErrNotFound)
	})
}

// TestDeleteProfileUnusedWaitsForInsert: on PostgreSQL, a deletion with
// Unused waits for a concurrent uncommitted transaction that locked the
// profile's row as the writers do (shareProfile: FOR KEY SHARE) and
// stored an EAB key for it, then counts that key: it refuses. A count
// made outside the deleting transaction, or before its row lock, would
// not see the key and delete a profile in use.
func TestDeleteProfileUnusedWaitsForInsert(t *testing.T) {
	s, tx, waitForLock := lockedProfile(t,
		`SELECT 1 FROM profiles WHERE name = 'p' FOR KEY SHARE`,
		`INSERT INTO eab_keys (kid, hmac_key, profile, status, created_at) VALUES ('k1', 'aw', 'p', 'active', 0)`)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- s.DeleteProfileWhen(ctx, "p", store.ProfileDeletion{Unused: true}) }()
	waitForLock("deletion")
	must(t, tx.Commit(ctx))
	var pe *store.ProfileInUseError
	if err := <-done; !errors.As(err, &pe) || pe.Use != (store.ProfileUse{EABKeys: 1}) {
		t.Fatalf("deletion: %v, want a *ProfileInUseError for the key committed meanwhile", err)
	}
	if _, err := s.GetProfile(ctx, "p"); err != nil {
		t.Fatalf("profile in use deleted: %v", err)
	}
}

// TestProfileWritersWaitForDeletion: on PostgreSQL, the transactions that
// store a row referring to a profile (an order, one of the default
// profile too, an EAB key, a certificate without an order) wait for a
// concurrent deletion that holds the profile's row locked (as
// DeleteProfileWhen does, FOR UPDATE, before it counts), so that the
// deletion's count cannot miss them: they are stored after it commits.
func TestProfileWritersWaitForDeletion(t *testing.T) {
	ctx := context.Background()
	order := func(id, profile string) func(*store.Store) error {
		return func(s *store.Store) error { return s.CreateOrder(ctx, profileOrder(id, "acct1", profile), nil) }
	}
	for _, tc := range []struct {
		what    string
		profile string
		write   func(*store.Store) error
	}{
		{"order", "p", order("o1", "p")},
		{"order of the default profile", store.DefaultProfile, order("o2", "")},
		{"EAB key", "p", func(s *store.Store) error {
			return s.CreateEABKey(ctx, &store.EABKey{KID: "k1", HMACKey: []byte("k"), Profile: "p", Status: store.EABActive, CreatedAt: now})
		}},
		{"imported certificate", "p", func(s *store.Store) error {
			c := invCert("0c", 30, "c.example.test")
			c.Profile = "p"
			return s.InsertCertificates(ctx, []*store.Certificate{c})
		}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			s, tx, waitForLock := lockedProfile(t)
			must(t, s.PutProfile(ctx, &store.Profile{Name: store.DefaultProfile, Spec: []byte(`{}`), CreatedAt: now, UpdatedAt: now}, false))
			createAccount(t, s, "acct1")
			_, err := tx.Exec(ctx, `SELECT 1 FROM profiles WHERE name = $1 FOR UPDATE`, tc.profile)
			must(t, err)
			done := make(chan error, 1)
			go func() { done <- tc.write(s) }()
			waitForLock(tc.what)
			_, err = tx.Exec(ctx, `DELETE FROM profiles WHERE name = $1`, tc.profile)
			must(t, err)
			must(t, tx.Commit(ctx))
			must(t, <-done)
		})
	}
}

// profileOrder is a pending order without authorizations of account
// accountID under profile ("" for the default profile).
func profileOrder(id, accountID, profile string) *store.Order {
	return &store.Order{ID: id, AccountID: accountID, Status: acme.StatusPending, Expires: now.Add(time.Hour),
		Identifiers: []acme.Identifier{{Type: acme.IdentifierDNS, Value: "a.example.test"}}, AuthzIDs: []string{}, CreatedAt: now, UpdatedAt: now,
		Profile: profile}
}
