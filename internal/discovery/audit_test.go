package discovery_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/discovery"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestScanAuditsDiscoveredCertificates: a scan that adds a certificate to
// the inventory records one certificate.discover event (the record, the
// endpoint and the scan's ID); a certificate already in the inventory
// (imported) and a rescan's sightings record none; the log verifies.
func TestScanAuditsDiscoveredCertificates(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		base := time.Now().UTC().Truncate(time.Second)
		clk := &clock{t: base}
		rootKey := newKey(t)
		root := mint(t, caTemplate("Audit Test Root", base), rootKey, nil, nil)
		newKeyA, impKey := newKey(t), newKey(t)
		found := mint(t, leafTemplate("found.test", base.Add(-time.Hour), base.Add(24*time.Hour)), newKeyA, root, rootKey)
		imp := mint(t, leafTemplate("imported.test", base.Add(-time.Hour), base.Add(24*time.Hour)), impKey, root, rootKey)
		inv := inventory.New(st, clk.now).WithAudit(audit.New(st, clk.now), "cli:alice")
		if _, err := inv.ImportCertificates(ctx, []*x509.Certificate{imp}); err != nil {
			t.Fatal(err)
		}
		l := &lab{t: t, lns: map[string]net.Listener{}}
		pFound := l.serve("127.0.0.1:0", fixed(tlsCert(newKeyA, found, root)))
		pImp := l.serve("127.0.0.1:0", fixed(tlsCert(impKey, imp)))
		svc := discovery.New(st, inv, clk.now)
		sc := &discovery.Scanner{Concurrency: 2, Timeout: 10 * time.Second, NoSystemRoots: true, Now: clk.now}
		opt := discovery.Options{Targets: []string{hp("127.0.0.1", pFound) + "@found.test", hp("127.0.0.1", pImp)}}
		v, err := svc.Run(ctx, sc, opt)
		if err != nil {
			t.Fatal(err)
		}
		clk.set(base.Add(time.Hour))
		if v2, err := svc.Run(ctx, sc, opt); err != nil || v2.Served != 2 || v2.NewCertificates != 0 {
			t.Fatalf("rescan: %+v %v", v2, err)
		}
		evs, err := st.ListAudit(ctx, store.AuditFilter{Action: audit.ActionCertificateDiscover})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 {
			t.Fatalf("%d certificate.discover events, want 1 (the new certificate's, none for the imported one or the rescan): %+v", len(evs), evs)
		}
		c, err := st.GetCertificateByFingerprint(ctx, byEndpoint(v)[hp("127.0.0.1", pFound)+"/found.test"].Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		ev := evs[0]
		var after struct {
			Serial      string `json:"serial"`
			Source      string `json:"source"`
			Fingerprint string `json:"fingerprint_sha256"`
			FoundAt     struct {
				ScanID  string `json:"scan_id"`
				Address string `json:"address"`
				Port    int    `json:"port"`
				SNI     string `json:"sni"`
			} `json:"found_at"`
		}
		if err := json.Unmarshal([]byte(ev.After), &after); err != nil {
			t.Fatalf("after %q: %v", ev.After, err)
		}
		if ev.ObjectType != audit.ObjectCertificate || ev.ObjectID != c.Serial || ev.Actor != "cli:alice" || ev.Before != "" ||
			after.Serial != c.Serial || after.Source != store.SourceDiscovered || after.Fingerprint != c.FingerprintSHA256 ||
			after.FoundAt.ScanID != v.ID || after.FoundAt.Address != "127.0.0.1" || after.FoundAt.Port != pFound ||
			after.FoundAt.SNI != "found.test" {
			t.Fatalf("event %+v, after %+v; want certificate %s found by scan %s at 127.0.0.1:%d/found.test", ev, after, c.Serial, v.ID, pFound)
		}
		if r, err := audit.New(st, clk.now).Verify(ctx); err != nil || !r.OK || r.Events != 2 {
			t.Fatalf("verify: %+v %v", r, err)
		}
	})
}
