package store_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

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

// TestRemoteOrders checks, on every engine, the record of an order's
// upstream order: RecordRemoteOrder only for a processing order, read back
// whole, replaced by a second record; ClaimRemoteOrder succeeds for one of
// two claims that read the same count (one node recovers an order), moves
// the order to the claiming node and its update time (out of
// ProcessingOrders' reach, into AbandonedOrders' once that node holds no
// lease), and claims nothing of an order no longer processing; DeleteStale
// deletes the record with its order.
func TestRemoteOrders(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, o, _ := seed(t, s)
		ro := &store.RemoteOrder{OrderID: o.ID, Issuer: "upstream-pebble", UpstreamOrder: "https://up.test/order/1",
			UpstreamAccount: "https://up.test/acct/1", CSR: []byte{0x30, 0x01, 0x02}, CreatedAt: now}
		wantErr(t, "a record for a pending order", s.RecordRemoteOrder(ctx, ro), store.ErrStale)
		if _, err := s.GetRemoteOrder(ctx, o.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("record of an order never recorded: %v; want ErrNotFound", err)
		}
		must(t, s.SetOrderStatus(ctx, o.ID, acme.StatusPending, acme.StatusProcessing, nil, now))
		must(t, s.RecordRemoteOrder(ctx, ro))
		ro.UpstreamOrder = "https://up.test/order/2"
		must(t, s.RecordRemoteOrder(ctx, ro))
		got, err := s.GetRemoteOrder(ctx, o.ID)
		if err != nil || got.UpstreamOrder != ro.UpstreamOrder || got.UpstreamAccount != ro.UpstreamAccount || got.Issuer != ro.Issuer ||
			!bytes.Equal(got.CSR, ro.CSR) || !got.CreatedAt.Equal(now) || got.Claims != 0 {
			t.Fatalf("recorded upstream order: %+v, %v; want %+v", got, err, ro)
		}

		// Two nodes claim it at once with the count they read: one wins.
		later := now.Add(time.Minute)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, node := range []string{"node-a", "node-b"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.ClaimRemoteOrder(ctx, got, node, later, later)
			}()
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) || !errors.Is(errors.Join(errs[0], errs[1]), store.ErrStale) {
			t.Fatalf("two claims of one count: %v, %v; want one to succeed and the other ErrStale", errs[0], errs[1])
		}
		if again, err := s.GetRemoteOrder(ctx, o.ID); err != nil || again.Claims != 1 {
			t.Fatalf("claims after one: %+v, %v; want 1", again, err)
		}
		if ids, err := s.ProcessingOrders(ctx, now.Add(30*time.Second)); err != nil || len(ids) != 0 {
			t.Fatalf("processing orders updated before the claim: %v, %v; want none (the claim moved it on)", ids, err)
		}
		if ids, err := s.AbandonedOrders(ctx, "node-c", later.Add(time.Second)); err != nil || len(ids) != 1 || ids[0] != o.ID {
			t.Fatalf("abandoned orders (the claiming node holds no lease): %v, %v; want %s", ids, err, o.ID)
		}
		// A third node that found it stuck before the claim, and reads
		// the count after it, claims nothing while the claiming node
		// lives: the order is neither stuck nor abandoned any more.
		must(t, s.RenewNodeLease(ctx, "node-a", later.Add(time.Hour)))
		must(t, s.RenewNodeLease(ctx, "node-b", later.Add(time.Hour)))
		fresh, err := s.GetRemoteOrder(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, "a claim by a sweep that read the order before the claim", s.ClaimRemoteOrder(ctx, fresh, "node-c", later, later.Add(time.Second)), store.ErrStale)
		// Once the claiming node's lease ran out, it is abandoned: claimed.
		must(t, s.ClaimRemoteOrder(ctx, fresh, "node-c", time.Time{}, later.Add(2*time.Hour)))

		// No claim of an order no longer processing; the count stays.
		must(t, s.SetOrderStatus(ctx, o.ID, acme.StatusProcessing, acme.StatusInvalid, nil, later))
		got.Claims = 2
		wantErr(t, "a claim of an invalid order", s.ClaimRemoteOrder(ctx, got, "node-a", later.Add(3*time.Hour), later.Add(3*time.Hour)), store.ErrStale)
		if again, err := s.GetRemoteOrder(ctx, o.ID); err != nil || again.Claims != 2 {
			t.Fatalf("claims after a refused claim: %+v, %v; want 2", again, err)
		}
		if _, _, err := s.DeleteStale(ctx, now.Add(store.MaxOrderLifetime+time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetRemoteOrder(ctx, o.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("record of a deleted order: %v; want ErrNotFound", err)
		}
	})
}
