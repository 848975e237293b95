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

// TestInterruptStale: a scan left running by a process that died is
// marked interrupted with a reason once StaleAfter has passed since its
// start; a running scan younger than that (a live one, of any node) and a
// finished one are left alone; a scan that finishes after all overwrites
// the mark.
func TestInterruptStale(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		base := time.Now().UTC().Truncate(time.Second)
		clk := &clock{t: base}
		svc := discovery.New(st, inventory.New(st, clk.now), clk.now)
		add := func(status string, started time.Time) *store.Scan {
			t.Helper()
			sc := &store.Scan{ID: store.NewID(started), Status: status, Targets: []string{"127.0.0.1"}, StartedAt: started, Endpoints: 1}
			if err := st.CreateScan(ctx, sc); err != nil {
				t.Fatal(err)
			}
			return sc
		}
		dead := add(store.ScanRunning, base.Add(-discovery.StaleAfter-time.Second))
		deadToo := add(store.ScanRunning, base.Add(-48*time.Hour))
		live := add(store.ScanRunning, base.Add(-discovery.StaleAfter+time.Minute))
		done := add(store.ScanCompleted, base.Add(-48*time.Hour))
		ids, err := svc.InterruptStale(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != 2 || ids[0] != deadToo.ID || ids[1] != dead.ID {
			t.Fatalf("interrupted %v, want [%s %s]", ids, deadToo.ID, dead.ID)
		}
		want := map[string]string{dead.ID: store.ScanInterrupted, deadToo.ID: store.ScanInterrupted, live.ID: store.ScanRunning,
			done.ID: store.ScanCompleted}
		p, err := svc.List(ctx, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range p.Items {
			if s.Status != want[s.ID] || (s.Reason != "") != (s.Status == store.ScanInterrupted) {
				t.Errorf("scan %s: status %q reason %q, want status %q", s.ID, s.Status, s.Reason, want[s.ID])
			}
		}
		if v, err := svc.Show(ctx, dead.ID, true); err != nil || v.Status != store.ScanInterrupted || v.Reason != discovery.InterruptedReason() {
			t.Fatalf("show: %+v %v", v, err)
		}
		if ids, err := svc.InterruptStale(ctx); err != nil || len(ids) != 0 {
			t.Fatalf("second sweep: %v %v", ids, err)
		}
		// A live scan that finishes after all wins over the mark.
		dead.Status, dead.FinishedAt = store.ScanCompleted, base
		if err := st.FinishScan(ctx, dead, nil); err != nil {
			t.Fatal(err)
		}
		if sc, err := st.GetScan(ctx, dead.ID); err != nil || sc.Status != store.ScanCompleted {
			t.Fatalf("finished after the mark: %+v %v", sc, err)
		}
	})
}
