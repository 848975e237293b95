package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// discoveredRec is a discovered certificate record for names, expiring
// at notAfter, whose fingerprint is "fp-" + serial.
func discoveredRec(serial string, notAfter time.Time, names ...string) *store.Certificate {
	return &store.Certificate{Serial: serial, Issuer: "CN=Other CA", DER: []byte("der-" + serial), SANs: names, KeyType: "ECDSA P-256",
		KeyBits: 256, SignatureAlgorithm: "ECDSA-SHA256", FingerprintSHA256: "fp-" + serial, NotBefore: notAfter.Add(-90 * 24 * time.Hour),
		NotAfter: notAfter, Status: store.StatusValid, CreatedAt: notAfter.Add(-90 * 24 * time.Hour), Profile: store.DefaultProfile,
		Source: store.SourceDiscovered}
}

// TestSupersededDiscoveredNotExpiring: on both engines, a discovered
// certificate whose endpoint now serves a newer certificate (later
// notAfter) for all of its names counts as renewed: the expiring search
// (NotReplaced) and the dashboard's expiry counts leave it out. One still
// served at another endpoint, one replaced by a certificate for fewer of
// its names or by one expiring sooner still count; it counts again when
// its successor is revoked or when the endpoint serves it again.
func TestSupersededDiscoveredNotExpiring(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
		soon, later := t0.Add(5*24*time.Hour), t0.Add(90*24*time.Hour)
		certs := []*store.Certificate{
			discoveredRec("01", soon, "a.example.test", "b.example.test"),
			discoveredRec("02", later, "a.example.test", "b.example.test", "c.example.test"),
			discoveredRec("11", soon, "x.example.test", "y.example.test"),
			discoveredRec("12", later, "x.example.test"),
			discoveredRec("21", soon, "s.example.test"),
			discoveredRec("22", later, "s.example.test"),
			discoveredRec("31", soon, "o.example.test"),
			discoveredRec("32", soon.Add(-24*time.Hour), "o.example.test"),
		}
		if err := s.InsertCertificates(ctx, certs); err != nil {
			t.Fatal(err)
		}
		n := 0
		scan := func(served map[string]string) {
			t.Helper()
			n++
			at := t0.Add(time.Duration(n) * time.Minute)
			sc := &store.Scan{ID: store.NewID(at), Status: store.ScanRunning, StartedAt: at}
			if err := s.CreateScan(ctx, sc); err != nil {
				t.Fatal(err)
			}
			var fs []*store.Finding
			for host, serial := range served {
				fs = append(fs, &store.Finding{ScanID: sc.ID, Address: host, Port: 443, SNI: host, Fingerprint: "fp-" + serial, SeenAt: at})
			}
			sc.Status, sc.FinishedAt = store.ScanCompleted, at
			if err := s.FinishScan(ctx, sc, fs); err != nil {
				t.Fatal(err)
			}
		}
		expiring := func(want ...string) {
			t.Helper()
			cs, err := s.SearchCertificates(ctx, store.CertQuery{Status: store.StatusValid, NotReplaced: true, Now: t0,
				NotAfterTo: t0.Add(30 * 24 * time.Hour), Sort: store.SortSerial, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cs {
				got = append(got, c.Serial)
			}
			if !slices.Equal(got, want) {
				t.Errorf("expiring within 30 days %v, want %v", got, want)
			}
			counts, err := s.CountCertificatesByExpiry(ctx, []time.Time{t0, t0.Add(30 * 24 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if counts[0] != int64(len(want)) {
				t.Errorf("dashboard counts %d expiring within 30 days, want %d", counts[0], len(want))
			}
		}
		scan(map[string]string{"e1": "01", "e2": "11", "e3": "21", "e4": "21", "e5": "31"})
		expiring("01", "11", "21", "31", "32")
		scan(map[string]string{"e1": "02", "e2": "12", "e3": "22", "e5": "32"})
		expiring("11", "21", "31", "32")
		scan(map[string]string{"e1": "01"}) // rolled back
		expiring("01", "11", "21", "31", "32")
		scan(map[string]string{"e1": "02", "e4": "22"}) // renewed again; e4 too
		expiring("11", "31", "32")
		if err := s.RevokeCertificate(ctx, "02", 4, t0); err != nil {
			t.Fatal(err)
		}
		expiring("01", "11", "31", "32")
	})
}
