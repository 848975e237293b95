package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestStartIssuance checks StartIssuance on every engine: it moves a
// pending order to processing and reserves the serial together, refuses
// (writing nothing) an order that is not pending or a serial reserved
// before, and lets exactly one of several concurrent calls through.
func TestStartIssuance(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			if e.Name == store.EnginePostgres {
				storetest.RequirePostgres(t)
			}
			ctx := context.Background()

			s := e.Open(t)
			a, o, _ := seed(t, s)
			must(t, s.ReserveSerial(ctx, "used", now))
			wantErr(t, "reserved serial", s.StartIssuance(ctx, o.ID, "used", now), store.ErrConflict)
			if got, err := s.GetOrder(ctx, o.ID); err != nil || got.Status != acme.StatusPending {
				t.Fatalf("order after a refused start: %+v, %v; want still pending", got, err)
			}
			must(t, s.StartIssuance(ctx, o.ID, "s1", now))
			if got, err := s.GetOrder(ctx, o.ID); err != nil || got.Status != acme.StatusProcessing {
				t.Fatalf("order after StartIssuance: %+v, %v; want processing", got, err)
			}
			wantErr(t, "serial reserved by StartIssuance", s.ReserveSerial(ctx, "s1", now), store.ErrConflict)
			wantErr(t, "second start", s.StartIssuance(ctx, o.ID, "s2", now), store.ErrStale)
			must(t, s.ReserveSerial(ctx, "s2", now)) // the refused start reserved nothing
			must(t, s.FinishOrder(ctx, o.ID, newCert("s1", o.ID, a.ID), now))

			s2 := e.Open(t)
			seed(t, s2)
			errs := race(8, func(i int) error {
				return s2.StartIssuance(ctx, "ord1", fmt.Sprintf("r%d", i), now)
			})
			oneWinner(t, "StartIssuance", errs, store.ErrStale)
			for i, err := range errs {
				if err != nil {
					must(t, s2.ReserveSerial(ctx, fmt.Sprintf("r%d", i), now)) // losers reserved nothing
				}
			}
		})
	}
}
