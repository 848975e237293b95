package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestFinishRemoteOrder checks, on every engine, the storing of a
// certificate whose serial an upstream CA chose: FinishRemoteOrder records
// the serial as used with the certificate (so the built-in CA can never
// reserve it), and refuses, storing nothing and leaving the order
// processing, a serial recorded before; RemoteSerialKey then gives the
// serial-FINGERPRINT16 key that is free.
func TestFinishRemoteOrder(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, o, _ := seed(t, s)
		fp := strings.Repeat("ab", 32)
		must(t, s.StartIssuance(ctx, o.ID, "local-reserved", now))
		key, err := s.RemoteSerialKey(ctx, "local-reserved", fp)
		if err != nil || key != "local-reserved-"+fp[:16] {
			t.Fatalf("RemoteSerialKey of a reserved serial: %q, %v; want it keyed with the fingerprint", key, err)
		}
		c := newCert("local-reserved", o.ID, a.ID)
		c.Issuer, c.FingerprintSHA256 = "upstream-pebble", fp
		wantErr(t, "a reserved serial", s.FinishRemoteOrder(ctx, o.ID, c, now), store.ErrConflict)
		if got, err := s.GetOrder(ctx, o.ID); err != nil || got.Status != acme.StatusProcessing {
			t.Fatalf("order after a refused finish: %+v, %v; want processing", got, err)
		}
		if _, err := s.GetCertificate(ctx, "local-reserved"); err == nil {
			t.Fatal("a refused finish stored the certificate")
		}
		if key, err = s.RemoteSerialKey(ctx, "0a1b", fp); err != nil || key != "0a1b" {
			t.Fatalf("RemoteSerialKey of a free serial: %q, %v; want the serial", key, err)
		}
		c.Serial = key
		must(t, s.FinishRemoteOrder(ctx, o.ID, c, now))
		got, err := s.GetCertificate(ctx, "0a1b")
		if err != nil || got.Issuer != "upstream-pebble" || got.OrderID != o.ID {
			t.Fatalf("stored certificate: %+v, %v", got, err)
		}
		if ord, err := s.GetOrder(ctx, o.ID); err != nil || ord.Status != acme.StatusValid || ord.CertSerial != "0a1b" {
			t.Fatalf("order after the finish: %+v, %v; want valid with 0a1b", ord, err)
		}
		wantErr(t, "the upstream's serial for the built-in CA", s.ReserveSerial(ctx, "0a1b", now), store.ErrConflict)
	})
}
