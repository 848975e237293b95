package store_test

import (
	"context"
	"reflect"
	"testing"

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
