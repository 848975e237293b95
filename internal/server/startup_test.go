package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// testServeConfig is a serve configuration on data with SQLite in it.
func testServeConfig(data string) *config.Serve {
	return &config.Serve{Data: data, Listen: "127.0.0.1:0", Hostname: "localhost",
		VAHTTPPort: 80, VATLSPort: 443, VADNSTimeout: time.Second, CertValidity: 90 * 24 * time.Hour, AuthzReuse: 30 * 24 * time.Hour,
		RevocationRefresh: time.Minute, LogLevel: "error", LogFormat: "text", ShutdownGrace: 5 * time.Second}
}

// hookListener calls onAddr the first time New asks for its address,
// which New does once the database is open.
type hookListener struct {
	net.Listener
	once   sync.Once
	onAddr func()
}

func (l *hookListener) Addr() net.Addr {
	l.once.Do(l.onAddr)
	return l.Listener.Addr()
}

// TestMain runs the test binary as the helper process of
// TestFailedStartKeepsOthersWAL when CERTGATE_TEST_WRITER names a database.
func TestMain(m *testing.M) {
	if dsn := os.Getenv("CERTGATE_TEST_WRITER"); dsn != "" {
		helperWriter(dsn)
	}
	// Stores, and the data directories of internal/testenv, start from a
	// database migrated once (storetest.Main).
	os.Exit(storetest.Main(m))
}

// helperWriter is another process beside a server (an administrative
// command): it commits a setting to the SQLite database dsn, prints "ok"
// and waits until it is killed.
func helperWriter(dsn string) {
	st, err := store.Open(context.Background(), dsn)
	if err == nil {
		_, err = st.InitSetting(context.Background(), "committed-by-another-process", "yes")
	}
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("ok")
	io.Copy(io.Discard, os.Stdin) // until killed
	os.Exit(0)
}

// TestFailedStartKeepsOthersWAL: administrative commands open the SQLite
// database beside the server without the data directory's lock. A start
// that fails on an existing database must not remove its -wal and -shm
// files while such a process has them open: a transaction that process
// committed lives in the WAL until a checkpoint, and must survive the
// process being killed (and be seen by the next start).
func TestFailedStartKeepsOthersWAL(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := New(ctx, testServeConfig(data), Options{}, log)
	if err != nil {
		t.Fatal(err)
	}
	stopped, cancel := context.WithCancel(ctx)
	cancel()
	if err := srv.Serve(stopped); err != nil {
		t.Fatal(err)
	}
	dsn := DSN(data, "")
	if _, err := os.Stat(dsn + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a stopped server left %s-wal (%v)", dsn, err)
	}

	// The other process opens the database while the failing start has
	// it open, and commits.
	helper := exec.Command(os.Args[0])
	helper.Env = append(os.Environ(), "CERTGATE_TEST_WRITER="+dsn)
	stdin, err := helper.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &hookListener{Listener: inner, onAddr: func() {
		if err := helper.Start(); err != nil {
			t.Error(err)
			return
		}
		if line, err := bufio.NewReader(out).ReadString('\n'); line != "ok\n" {
			t.Errorf("helper: %q, %v", line, err)
		}
	}}
	cfg := testServeConfig(data)
	cfg.CertValidity = 500 * 24 * time.Hour // fails the preflight lint, after the database is open
	if _, err := New(ctx, cfg, Options{Listener: ln}, log); err == nil {
		t.Fatal("a start with cert-validity 500d succeeded")
	}
	if helper.Process == nil {
		t.Fatal("the database was not opened before the start failed")
	}
	helper.Process.Kill()
	helper.Wait()

	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if v, err := st.GetSetting(ctx, "committed-by-another-process"); err != nil || v != "yes" {
		t.Fatalf("the other process's committed transaction: %q, %v (its WAL was removed by the failed start)", v, err)
	}
}
