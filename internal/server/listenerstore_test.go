package server

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// listenerClock is a settable clock for Options.Now.
type listenerClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *listenerClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *listenerClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// eachListenerEngine runs test on SQLite (in the data directory) and on a
// fresh PostgreSQL database, each with a data directory of its own: the
// DB setting of the server to start.
func eachListenerEngine(t *testing.T, test func(t *testing.T, data, db string)) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			db := ""
			if e.Name == store.EnginePostgres {
				storetest.RequirePostgres(t)
				db = e.NewDSN(t)
			}
			test(t, filepath.Join(t.TempDir(), "data"), db)
		})
	}
}

// startListenerServer starts a server (New) on data and db with the
// built-in CA's listener certificate and clock; stop ends it (Serve with
// a context done: the listeners, store and data directory lock freed).
func startListenerServer(t *testing.T, data, db string, clock *listenerClock) (s *Server, stop func()) {
	t.Helper()
	cfg := &config.Serve{Data: data, DB: db, Listen: "127.0.0.1:0", Hostname: "localhost",
		VAHTTPPort: 80, VATLSPort: 443, VADNSTimeout: time.Second, CertValidity: 90 * 24 * time.Hour,
		RevocationRefresh: time.Minute, LogLevel: "error", LogFormat: "text", ShutdownGrace: 5 * time.Second}
	s, err := New(context.Background(), cfg, Options{Now: clock.now}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Serve(ctx); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	t.Cleanup(stop)
	return s, stop
}

// listenerCerts returns the inventory's listener certificates; with
// current, only those not superseded by a valid one.
func listenerCerts(t *testing.T, st *store.Store, now time.Time, current bool) []*store.Certificate {
	t.Helper()
	cs, err := st.SearchCertificates(context.Background(), store.CertQuery{Source: store.SourceListener, NotReplaced: current,
		Now: now, Sort: store.SortSerial, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// issueEvents returns the certificate.issue events of the audit log.
func issueEvents(t *testing.T, st *store.Store) []*store.AuditRecord {
	t.Helper()
	evs, err := st.ListAudit(context.Background(), store.AuditFilter{Action: audit.ActionCertificateIssue})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestListenerCertRecorded: the listener certificate the built-in CA
// issues at start is in the inventory (source listener, profile
// certgate-listener, issuer local), its serial reserved, with a
// certificate.issue event by the system, and kept in the data directory
// with its key, mode 0600.
func TestListenerCertRecorded(t *testing.T) {
	eachListenerEngine(t, func(t *testing.T, data, db string) {
		clock := &listenerClock{t: time.Now()}
		s, _ := startListenerServer(t, data, db, clock)
		ctx := context.Background()
		serving, err := s.certificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		serial := serving.Leaf.SerialNumber.Text(16)
		rec, err := s.store.GetCertificate(ctx, serial)
		if err != nil {
			t.Fatalf("the served listener certificate %s is not in the inventory: %v", serial, err)
		}
		if rec.Source != store.SourceListener || rec.Profile != store.ListenerProfile || rec.Issuer != issuer.LocalName ||
			rec.Status != store.StatusValid || string(rec.DER) != string(serving.Leaf.Raw) || rec.OrderID != "" || rec.AccountID != "" {
			t.Fatalf("record: source %q profile %q issuer %q status %q order %q account %q, DER served %v",
				rec.Source, rec.Profile, rec.Issuer, rec.Status, rec.OrderID, rec.AccountID, string(rec.DER) == string(serving.Leaf.Raw))
		}
		if got := strings.Join(rec.SANs, " "); got != "localhost 127.0.0.1 ::1" {
			t.Errorf("SANs %q", got)
		}
		if err := s.store.ReserveSerial(ctx, serial, clock.now()); !errors.Is(err, store.ErrConflict) {
			t.Errorf("serial %s not reserved: ReserveSerial = %v", serial, err)
		}
		evs := issueEvents(t, s.store)
		if len(evs) != 1 || evs[0].ObjectID != serial || evs[0].Actor != audit.ActorSystem ||
			!strings.Contains(evs[0].After, `"source":"listener"`) || !strings.Contains(evs[0].After, `"profile":"certgate-listener"`) {
			t.Fatalf("certificate.issue events: %+v", evs)
		}
		if cs := listenerCerts(t, s.store, clock.now(), true); len(cs) != 1 || cs[0].Serial != serial {
			t.Fatalf("inventory search source=listener: %d certificates", len(cs))
		}
		// Not in the expiry notifications of a rule without source= (the
		// server renews it itself), in those of source=listener.
		q := store.CertQuery{Status: store.StatusValid, NotReplaced: true, Now: clock.now(), NotAfterFrom: clock.now(),
			NotAfterTo: clock.now().Add(60 * 24 * time.Hour), NotSource: store.SourceListener, Limit: 10}
		if cs, err := s.store.SearchCertificates(ctx, q); err != nil || len(cs) != 0 {
			t.Fatalf("NotSource listener: %d certificates, %v", len(cs), err)
		}
		fi, err := os.Stat(ListenerCertFile(data))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("kept listener certificate: %v, mode %v", err, fi)
		}
		if di, err := os.Stat(filepath.Dir(ListenerCertFile(data))); err != nil || di.Mode().Perm() != 0o700 {
			t.Fatalf("listener directory: %v, mode %v", err, di)
		}
	})
}

// TestListenerCertRestart: a restart serves the kept listener certificate
// again while it is the inventory's current one and has more than a third
// of its life left: no new issuance. A kept file others may read is not
// served: a new certificate supersedes it.
func TestListenerCertRestart(t *testing.T) {
	eachListenerEngine(t, func(t *testing.T, data, db string) {
		clock := &listenerClock{t: time.Now()}
		s, stop := startListenerServer(t, data, db, clock)
		first := s.tlsSerial
		stop()

		clock.add(24 * time.Hour)
		s, stop = startListenerServer(t, data, db, clock)
		if s.tlsSerial != first {
			t.Fatalf("restart issued %s instead of serving %s again", s.tlsSerial, first)
		}
		if evs := issueEvents(t, s.store); len(evs) != 1 {
			t.Fatalf("%d certificate.issue events after a restart, want 1", len(evs))
		}
		if cs := listenerCerts(t, s.store, clock.now(), false); len(cs) != 1 {
			t.Fatalf("%d listener certificates after a restart, want 1", len(cs))
		}
		stop()

		if err := os.Chmod(ListenerCertFile(data), 0o644); err != nil {
			t.Fatal(err)
		}
		s, stop = startListenerServer(t, data, db, clock)
		defer stop()
		if s.tlsSerial == first || s.tlsSerial == "" {
			t.Fatalf("a kept key others may read was served again (%s)", s.tlsSerial)
		}
		cur := listenerCerts(t, s.store, clock.now(), true)
		if len(cur) != 1 || cur[0].Serial != s.tlsSerial {
			t.Fatalf("current listener certificates: %d, want the new one only (the old one superseded)", len(cur))
		}
		if fi, err := os.Stat(ListenerCertFile(data)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("rewritten listener certificate: %v, mode %v", err, fi)
		}
	})
}

// TestListenerCertRenewalSupersedes: the renewal (a third of the life
// left) records the new certificate with a new reserved serial and marks
// the one it renews superseded by it, so that it leaves the expiry
// reports; the next start serves the renewed one.
func TestListenerCertRenewalSupersedes(t *testing.T) {
	eachListenerEngine(t, func(t *testing.T, data, db string) {
		clock := &listenerClock{t: time.Now()}
		s, stop := startListenerServer(t, data, db, clock)
		first := s.tlsSerial
		clock.add(serverCertValidity - serverCertValidity/3 + time.Hour)
		c, err := s.certificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		second := c.Leaf.SerialNumber.Text(16)
		if second == first || s.tlsSerial != second {
			t.Fatalf("not renewed: serving %s, first %s", second, first)
		}
		all := listenerCerts(t, s.store, clock.now(), false)
		cur := listenerCerts(t, s.store, clock.now(), true)
		if len(all) != 2 || len(cur) != 1 || cur[0].Serial != second {
			t.Fatalf("listener certificates: %d, current %d (want 2 and the renewed one)", len(all), len(cur))
		}
		evs := issueEvents(t, s.store)
		if len(evs) != 2 || evs[1].ObjectID != second || !strings.Contains(evs[1].After, `"supersedes":"`+first+`"`) {
			t.Fatalf("certificate.issue events: %+v", evs)
		}
		for _, serial := range []string{first, second} {
			if err := s.store.ReserveSerial(context.Background(), serial, clock.now()); !errors.Is(err, store.ErrConflict) {
				t.Errorf("serial %s not reserved: %v", serial, err)
			}
		}
		stop()

		s, stop = startListenerServer(t, data, db, clock)
		if s.tlsSerial != second {
			t.Fatalf("restart after the renewal serves %s, want the renewed %s", s.tlsSerial, second)
		}
		if evs := issueEvents(t, s.store); len(evs) != 2 {
			t.Fatalf("%d certificate.issue events after the restart, want 2", len(evs))
		}
		stop()

		// A server stopped until its kept certificate expired: the start
		// issues a new one, which supersedes the expired one (out of the
		// expired-in-the-last-30-days count).
		clock.add(serverCertValidity)
		s, stop = startListenerServer(t, data, db, clock)
		defer stop()
		third := s.tlsSerial
		if third == second || third == first {
			t.Fatalf("an expired kept certificate served again (%s)", third)
		}
		cur = listenerCerts(t, s.store, clock.now(), true)
		if len(cur) != 1 || cur[0].Serial != third {
			t.Fatalf("current listener certificates after the expired one: %d, want the new one only", len(cur))
		}
	})
}

// refuseListenerRecords makes the database refuse every new certificate
// record of source listener (a trigger), as a full disk or a broken
// connection would refuse the transaction that stores one.
func refuseListenerRecords(t *testing.T, dsn string) {
	t.Helper()
	stmts := []string{`CREATE TRIGGER refuse_listener BEFORE INSERT ON certificates
		WHEN NEW.source = 'listener' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`}
	if store.IsPostgresDSN(dsn) {
		stmts = []string{`CREATE FUNCTION refuse_listener() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN IF NEW.source = 'listener' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$`,
			`CREATE TRIGGER refuse_listener BEFORE INSERT ON certificates FOR EACH ROW EXECUTE FUNCTION refuse_listener()`}
	}
	db := storetest.RawDB(t, dsn)
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// lostListenerCert checks that exactly one listener certificate was signed
// but not recorded: one certificate.store_failed event by the system
// naming its serial, source and fingerprint (no PEM), no certificate.issue
// event and no inventory record of it, its serial still reserved. It
// returns that serial.
func lostListenerCert(t *testing.T, st *store.Store, now time.Time, issued int) string {
	t.Helper()
	ctx := context.Background()
	lost, err := st.ListAudit(ctx, store.AuditFilter{Action: audit.ActionCertificateStoreFailed})
	if err != nil {
		t.Fatal(err)
	}
	if len(lost) != 1 || lost[0].Actor != audit.ActorSystem || !strings.Contains(lost[0].After, `"source":"listener"`) ||
		!strings.Contains(lost[0].After, `"fingerprint_sha256":"`) || strings.Contains(lost[0].After, "CERTIFICATE-----") {
		t.Fatalf("certificate.store_failed events: %+v; want one of the listener certificate", lost)
	}
	serial := lost[0].ObjectID
	if _, err := st.GetCertificate(ctx, serial); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("lost certificate %s: %v, want no record", serial, err)
	}
	if err := st.ReserveSerial(ctx, serial, now); !errors.Is(err, store.ErrConflict) {
		t.Errorf("serial %s of the lost certificate not reserved: %v", serial, err)
	}
	if evs := issueEvents(t, st); len(evs) != issued {
		t.Errorf("%d certificate.issue events, want %d", len(evs), issued)
	}
	if res, err := audit.New(st, nil).Verify(ctx); err != nil || !res.OK {
		t.Errorf("audit chain: %+v, %v", res, err)
	}
	return serial
}

// TestListenerCertNotRecorded: a listener certificate the database does
// not take is never served. At start, New fails with an error that names
// its serial, and nothing is kept in the data directory; at renewal, the
// server keeps serving the certificate it has. Either way the loss is in
// the audit log (certificate.store_failed, as for ACME issuance) and the
// serial stays reserved.
func TestListenerCertNotRecorded(t *testing.T) {
	eachListenerEngine(t, func(t *testing.T, data, db string) {
		dsn := DSN(data, db)
		if err := os.MkdirAll(data, 0o700); err != nil {
			t.Fatal(err)
		}
		storetest.OpenDSN(t, dsn).Close() // the schema, for the trigger
		refuseListenerRecords(t, dsn)
		clock := &listenerClock{t: time.Now()}
		cfg := &config.Serve{Data: data, DB: db, Listen: "127.0.0.1:0", Hostname: "localhost",
			VAHTTPPort: 80, VATLSPort: 443, VADNSTimeout: time.Second, CertValidity: 90 * 24 * time.Hour,
			RevocationRefresh: time.Minute, LogLevel: "error", LogFormat: "text", ShutdownGrace: 5 * time.Second}
		s, err := New(context.Background(), cfg, Options{Now: clock.now}, slog.New(slog.DiscardHandler))
		if err == nil {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			s.Serve(ctx)
			t.Fatal("New started a server whose listener certificate was not recorded")
		}
		st := storetest.OpenDSN(t, dsn)
		serial := lostListenerCert(t, st, clock.now(), 0)
		if !strings.Contains(err.Error(), "certificate "+serial+" signed but not recorded") {
			t.Errorf("New: %v; want the lost certificate's serial %s named", err, serial)
		}
		if _, err := os.Stat(ListenerCertFile(data)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("kept listener file of a lost certificate: %v", err)
		}
	})
}

// TestListenerCertRenewalNotRecorded: a renewal the database does not take
// leaves the server serving the certificate it has (recorded, kept) and
// records the loss (TestListenerCertNotRecorded).
func TestListenerCertRenewalNotRecorded(t *testing.T) {
	eachListenerEngine(t, func(t *testing.T, data, db string) {
		clock := &listenerClock{t: time.Now()}
		s, _ := startListenerServer(t, data, db, clock)
		first := s.tlsSerial
		refuseListenerRecords(t, DSN(data, db))
		clock.add(serverCertValidity - serverCertValidity/3 + time.Hour)
		c, err := s.certificate(nil)
		if err != nil {
			t.Fatalf("renewal refused by the database: %v; want the current certificate served", err)
		}
		if got := c.Leaf.SerialNumber.Text(16); got != first || s.tlsSerial != first {
			t.Fatalf("serving %s (recorded serial %s), want the current %s", got, s.tlsSerial, first)
		}
		lost := lostListenerCert(t, s.store, clock.now(), 1)
		if lost == first {
			t.Fatalf("the store_failed event names the served certificate %s", first)
		}
		if cur := listenerCerts(t, s.store, clock.now(), true); len(cur) != 1 || cur[0].Serial != first {
			t.Fatalf("current listener certificates: %d, want the one served", len(cur))
		}
	})
}
