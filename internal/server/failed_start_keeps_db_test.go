package server

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestFailedFirstStartKeepsDatabaseWithCA: a first start that fails after
// it recorded its new CA in the new SQLite database (here: its own TLS
// certificate signed but not stored, as with a full disk) kept the CA but
// removed the database, so that the next start served that CA on a new
// database: the serial the lost certificate reserved free again, its
// certificate.store_failed event gone, and no "created the built-in CA"
// line ever logged. Now the database stays with the CA, and the next start
// serves both.
func TestFailedFirstStartKeepsDatabaseWithCA(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	dsn := DSN(data, "")
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Once New has created and migrated the database (it asks for the
	// listener's address then), the listener certificate's record is refused.
	ln := &hookListener{Listener: inner, onAddr: func() { refuseListenerRecords(t, dsn) }}
	var logBuf bytes.Buffer
	clock := &listenerClock{t: time.Now()}
	_, err = New(context.Background(), testServeConfig(data), Options{Listener: ln, Now: clock.now},
		slog.New(slog.NewTextHandler(&logBuf, nil)))
	if err == nil || !strings.Contains(err.Error(), "signed but not recorded") {
		t.Fatalf("New: %v, want the listener certificate not recorded", err)
	}
	inner.Close()
	if _, err := os.Stat(dsn); err != nil {
		t.Fatalf("the failed start kept its CA but not the database recording it: %v", err)
	}
	ca, err := local.LoadOrCreate(CADir(data), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fp := local.Fingerprint(ca.Root())
	if !strings.Contains(logBuf.String(), `msg="created the built-in CA" root_sha256=`+fp) {
		t.Errorf("the failed start kept a new CA without logging it:\n%s", logBuf.String())
	}
	st := storetest.OpenDSN(t, dsn)
	if v, err := st.GetSetting(context.Background(), CARootSetting); err != nil || v != fp {
		t.Errorf("%s in the kept database: %q, %v; want the kept CA's %s", CARootSetting, v, err, fp)
	}
	lost := lostListenerCert(t, st, clock.now(), 0) // its serial still reserved
	if _, err := storetest.RawDB(t, dsn).Exec(`DROP TRIGGER refuse_listener`); err != nil {
		t.Fatal(err)
	}
	st.Close()

	logBuf.Reset()
	s, stop := startListenerServer(t, data, "", clock)
	defer stop()
	if got := local.Fingerprint(s.CA().Root()); got != fp {
		t.Errorf("the next start serves root %s, want the kept CA's %s", got, fp)
	}
	if s.tlsSerial == "" || s.tlsSerial == lost {
		t.Errorf("the next start's listener certificate has serial %q (the lost one %s)", s.tlsSerial, lost)
	}
}
