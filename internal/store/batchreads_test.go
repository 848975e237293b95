package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestBatchReads: on both engines, AccountStatuses gives the status of
// each existing account named (duplicates once, unknown ones absent, none
// for no ids) and BlockedKeysAmong the blocked keys among the hashes
// named, as GetBlockedKey gives each.
func TestBatchReads(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := e.Open(t)
		ctx := context.Background()
		createAccount(t, s, "acct1")
		a2 := createAccount(t, s, "acct2")
		a2.Status = acme.StatusDeactivated
		must(t, s.UpdateAccount(ctx, a2))
		got, err := s.AccountStatuses(ctx, []string{"acct2", "nope", "acct1", "acct2"})
		must(t, err)
		if want := map[string]string{"acct1": acme.StatusValid, "acct2": acme.StatusDeactivated}; !reflect.DeepEqual(got, want) {
			t.Errorf("AccountStatuses = %v, want %v", got, want)
		}
		if got, err := s.AccountStatuses(ctx, nil); err != nil || len(got) != 0 {
			t.Errorf("AccountStatuses(nil) = %v, %v", got, err)
		}

		k, other := testKey(t), testKey(t)
		must(t, s.InsertCertificates(ctx, []*store.Certificate{issuedCert(t, "k1", k, 30)}))
		must(t, s.RevokeCertificate(ctx, "k1", acme.ReasonKeyCompromise, now))
		h, ho := keyHash(t, k.Public()), keyHash(t, other.Public())
		blocked, err := s.BlockedKeysAmong(ctx, [][]byte{ho, h, h})
		must(t, err)
		one, err := s.GetBlockedKey(ctx, h)
		must(t, err)
		if len(blocked) != 1 || !reflect.DeepEqual(blocked[string(h)], one) {
			t.Errorf("BlockedKeysAmong = %v, want only %+v", blocked, one)
		}
		if got, err := s.BlockedKeysAmong(ctx, nil); err != nil || len(got) != 0 {
			t.Errorf("BlockedKeysAmong(nil) = %v, %v", got, err)
		}
	})
}

// TestUnusableAuthorizations: on both engines, UnusableAuthorizations
// names, for each order asked about, an authorization of it that is not
// valid at now (deactivated; valid but expired by now) and leaves out
// orders whose authorizations are all valid, unknown orders, and all when
// no ids are given.
func TestUnusableAuthorizations(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := e.Open(t)
		ctx := context.Background()
		a := createAccount(t, s, "acct1")
		valid := func(id, name string, expires time.Time) *store.Authorization {
			az := newAuthz(a.ID, id, name, false)
			az.Status, az.ValidatedAt, az.Expires = acme.StatusValid, now, expires
			return az
		}
		later := now.Add(24 * time.Hour)
		createOrder(t, s, a.ID, "ok", valid("az-ok1", "ok1.test", later), valid("az-ok2", "ok2.test", later))
		createOrder(t, s, a.ID, "deact", valid("az-d1", "d1.test", later), valid("az-d2", "d2.test", later))
		createOrder(t, s, a.ID, "old", valid("az-old", "old.test", now.Add(time.Hour)))
		must(t, s.DeactivateAuthorization(ctx, "az-d2", now))
		got, err := s.UnusableAuthorizations(ctx, []string{"deact", "ok", "nope", "old", "deact"}, now.Add(2*time.Hour))
		must(t, err)
		if len(got) != 2 || got["deact"] == nil || got["deact"].ID != "az-d2" || got["deact"].Status != acme.StatusDeactivated ||
			got["old"] == nil || got["old"].ID != "az-old" {
			t.Errorf("UnusableAuthorizations = %+v; want deact (az-d2, deactivated) and old (az-old, expired)", got)
		}
		if got, err := s.UnusableAuthorizations(ctx, []string{"ok", "old"}, now); err != nil || len(got) != 0 {
			t.Errorf("UnusableAuthorizations before the expiry = %v, %v; want none", got, err)
		}
		if got, err := s.UnusableAuthorizations(ctx, nil, now); err != nil || len(got) != 0 {
			t.Errorf("UnusableAuthorizations(nil) = %v, %v", got, err)
		}
	})
}
