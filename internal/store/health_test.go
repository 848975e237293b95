package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestHealthQueries: on both engines, Ping answers until the store is
// closed, Pools names the engine's pools (on PostgreSQL also the nonce
// sessions, whose waits the metrics must show), and CountCertificatesByExpiry
// counts unrevoked certificates by notAfter window, bounds included at
// the start and excluded at the end.
func TestHealthQueries(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		must(t, s.Ping(ctx))
		names := map[string]bool{}
		for n, db := range s.Pools() {
			names[n] = db != nil
		}
		want := map[string]bool{"writer": true, "reader": true}
		if s.Engine() == store.EnginePostgres {
			want = map[string]bool{"pool": true, "nonce": true}
		}
		if !reflect.DeepEqual(names, want) {
			t.Errorf("Pools = %v, want %v", names, want)
		}

		day := 24 * time.Hour
		bounds := []time.Time{now.Add(-30 * day), now, now.Add(7 * day), now.Add(30 * day)}
		counts, err := s.CountCertificatesByExpiry(ctx, bounds)
		must(t, err)
		if !reflect.DeepEqual(counts, []int64{0, 0, 0}) {
			t.Errorf("empty database: %v", counts)
		}
		var certs []*store.Certificate
		for i, at := range []time.Time{
			now.Add(-31 * day),        // before the first window
			now.Add(-30 * day),        // first window, at its start
			now.Add(-time.Nanosecond), // first window
			now,                       // second window, at its start
			now.Add(3 * day),          // second window
			now.Add(3 * day),          // second window, revoked below
			now.Add(7 * day),          // third window, at its start
			now.Add(29 * day),         // third window
			now.Add(30 * day),         // after the last window
			now.Add(90 * day),         // after the last window
		} {
			c := invCert(string(rune('a'+i)), 0)
			c.NotAfter = at
			if c.Serial == "f" { // revoked for keyCompromise below: its key is read from the DER
				c.DER = certDER(t, testKey(t))
			}
			certs = append(certs, c)
		}
		must(t, s.InsertCertificates(ctx, certs))
		must(t, s.RevokeCertificate(ctx, "f", 1, now))
		counts, err = s.CountCertificatesByExpiry(ctx, bounds)
		must(t, err)
		if !reflect.DeepEqual(counts, []int64{2, 2, 2}) {
			t.Errorf("CountCertificatesByExpiry = %v, want [2 2 2]", counts)
		}
		if _, err := s.CountCertificatesByExpiry(ctx, bounds[:1]); err == nil {
			t.Error("one bound accepted")
		}

		s.Close()
		if err := s.Ping(ctx); err == nil {
			t.Error("Ping succeeded on a closed store")
		}
	})
}
