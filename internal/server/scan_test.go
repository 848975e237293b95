package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/discovery"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv"
	"github.com/certgate/certgate/internal/testenv/tlstest"
)

// TestScheduledScan: a server with scan-interval and scan-targets runs the
// scheduled scan when it starts: here of a TLS server on loopback serving
// a certificate of the server's own CA (made before the server starts in
// its data directory) and not in its inventory, and of a closed port. The
// finding is trusted (the scan verifies against the CA's root) and shadow,
// and its certificate's certificate.discover event is recorded (actor
// system). A scan a dead process left running two days before is marked
// interrupted.
func TestScheduledScan(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	ca, err := local.LoadOrCreate(server.CADir(data), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	der, err := ca.SignLeaf(context.Background(), local.LeafRequest{Serial: big.NewInt(0x5ced), PublicKey: &key.PublicKey,
		DNSNames: []string{"app.example.test"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	port := tlstest.Serve(t, tls.Certificate{Certificate: [][]byte{der, ca.Intermediate().Raw}, PrivateKey: key})
	closedPort := tlstest.ClosedPort(t)
	// A scan whose process died two days ago, left running in the database.
	pre, err := store.Open(context.Background(), filepath.Join(data, "certgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	stale := &store.Scan{ID: store.NewID(now.Add(-48 * time.Hour)), Status: store.ScanRunning, Targets: []string{"10.0.0.1"},
		StartedAt: now.Add(-48 * time.Hour).UTC(), Endpoints: 1}
	if err := pre.CreateScan(context.Background(), stale); err != nil {
		t.Fatal(err)
	}
	pre.Close()
	env := testenv.NewWithOptions(t, testenv.Options{Data: data, ScanInterval: time.Hour,
		ScanTargets: []string{"127.0.0.1:" + strconv.Itoa(port) + "@app.example.test 127.0.0.1:" + strconv.Itoa(closedPort)}})
	st := env.Server.Store()
	ctx := context.Background()
	var scans []*store.Scan
	for deadline := time.Now().Add(30 * time.Second); ; {
		scans, err = st.ListScans(ctx, time.Time{}, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(scans) > 0 && scans[0].Status == store.ScanCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no completed scheduled scan within 30s: %+v", scans)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(scans) != 2 || scans[1].ID != stale.ID || scans[1].Status != store.ScanInterrupted {
		t.Fatalf("the dead process's scan was not marked interrupted: %+v", scans[len(scans)-1])
	}
	if len(scans) != 2 || scans[0].Endpoints != 2 || scans[0].Served != 1 || scans[0].NewCertificates != 1 || scans[0].Actor != "serve:scan-interval" {
		t.Fatalf("scheduled scans: %+v", scans[0])
	}
	fs, err := st.ScanFindings(ctx, scans[0].ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) == 2 && fs[0].Port == closedPort {
		fs[0], fs[1] = fs[1], fs[0]
	}
	if len(fs) != 2 || !fs[0].Trusted || fs[0].Incomplete || fs[0].NameMismatch || fs[0].SNI != "app.example.test" || fs[1].Error != "connection refused" {
		t.Fatalf("findings: %+v %+v", fs[0], fs[1])
	}
	c, err := st.GetCertificateByFingerprint(ctx, fs[0].Fingerprint)
	if err != nil || c.Source != store.SourceDiscovered {
		t.Fatalf("inventory record: %+v %v", c, err)
	}
	evs, err := st.ListAudit(ctx, store.AuditFilter{Action: audit.ActionCertificateDiscover})
	if err != nil || len(evs) != 1 || evs[0].ObjectID != c.Serial || evs[0].Actor != audit.ActorSystem ||
		!strings.Contains(evs[0].After, `"scan_id":"`+scans[0].ID+`"`) {
		t.Fatalf("certificate.discover events: %+v %v", evs, err)
	}
}

// TestScanTargetsChecked: a server whose scan-targets are invalid is
// refused at start with one line naming the setting and the target.
func TestScanTargetsChecked(t *testing.T) {
	cfg := &config.Serve{Data: filepath.Join(t.TempDir(), "data"), Listen: "127.0.0.1:0", Hostname: "localhost",
		VAHTTPPort: 80, VATLSPort: 443, VADNSTimeout: time.Second, CertValidity: 90 * 24 * time.Hour,
		RevocationRefresh: time.Minute, LogLevel: "error", LogFormat: "text", ShutdownGrace: 5 * time.Second,
		ScanInterval: time.Hour, ScanTargets: []string{"10.0.0.1:443 bad_target:0"}}
	_, err := server.New(context.Background(), cfg, server.Options{}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, discovery.ErrInvalidTarget) || !strings.HasPrefix(err.Error(), `scan-targets: invalid scan target "bad_target:0": port "0"`) {
		t.Fatalf("New with a bad scan target: %v", err)
	}
}

// TestScanStartTLSChecked: a server whose scan-starttls is invalid is
// refused at start with one line naming the setting and the value.
func TestScanStartTLSChecked(t *testing.T) {
	cfg := &config.Serve{Data: filepath.Join(t.TempDir(), "data"), Listen: "127.0.0.1:0", Hostname: "localhost",
		VAHTTPPort: 80, VATLSPort: 443, VADNSTimeout: time.Second, CertValidity: 90 * 24 * time.Hour,
		RevocationRefresh: time.Minute, LogLevel: "error", LogFormat: "text", ShutdownGrace: 5 * time.Second,
		ScanInterval: time.Hour, ScanTargets: []string{"10.0.0.1:443"}, ScanStartTLS: []string{"2525=smtp 25=imap"}}
	_, err := server.New(context.Background(), cfg, server.Options{}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, discovery.ErrInvalidStartTLS) ||
		err.Error() != `scan-starttls: invalid STARTTLS setting "25=imap": protocol "imap" is not one of smtp, postgres, none` {
		t.Fatalf("New with a bad scan-starttls: %v", err)
	}
}

// TestScanStartTLSCheckedWithoutSchedule: scan-starttls is checked at
// start without a scheduled scan (scan-interval 0) too, as every setting
// is checked even when unused.
func TestScanStartTLSCheckedWithoutSchedule(t *testing.T) {
	cfg := &config.Serve{Data: filepath.Join(t.TempDir(), "data"), Listen: "127.0.0.1:0", Hostname: "localhost",
		VAHTTPPort: 80, VATLSPort: 443, VADNSTimeout: time.Second, CertValidity: 90 * 24 * time.Hour,
		RevocationRefresh: time.Minute, LogLevel: "error", LogFormat: "text", ShutdownGrace: 5 * time.Second,
		ScanStartTLS: []string{"25=bogus"}}
	_, err := server.New(context.Background(), cfg, server.Options{}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, discovery.ErrInvalidStartTLS) ||
		err.Error() != `scan-starttls: invalid STARTTLS setting "25=bogus": protocol "bogus" is not one of smtp, postgres, none` {
		t.Fatalf("New with a bad scan-starttls and no scheduled scan: %v", err)
	}
	if _, err := os.Stat(cfg.Data); !os.IsNotExist(err) {
		t.Fatalf("a refused start left the data directory: %v", err)
	}
}
