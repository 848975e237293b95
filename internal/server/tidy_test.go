package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStartTidiesDataDir: a start removes, and logs, the temporary
// directories (holding private keys) that a killed `certgate ca import`
// or first start left next to DATA/ca, and restricts an existing SQLite
// database and its -wal and -shm files (0644 from earlier releases) to
// their owner; a new database is created owner-only.
func TestStartTidiesDataDir(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	start := func(log *slog.Logger) {
		t.Helper()
		srv, err := New(ctx, testServeConfig(data), Options{}, log)
		if err != nil {
			t.Fatal(err)
		}
		stopped, cancel := context.WithCancel(ctx)
		cancel()
		if err := srv.Serve(stopped); err != nil {
			t.Fatal(err)
		}
	}
	start(slog.New(slog.DiscardHandler))
	dsn := DSN(data, "")
	if fi, err := os.Stat(dsn); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("new database: %v %v, want mode 0600", fi.Mode(), err)
	}

	// An install of an earlier release, and two interrupted CA writes.
	for _, p := range []string{dsn, dsn + "-wal", dsn + "-shm"} {
		if err := os.WriteFile(p, nil, 0o644); err != nil && !errors.Is(err, os.ErrExist) {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dsn, 0o644); err != nil {
		t.Fatal(err)
	}
	var leftovers []string
	for _, name := range []string{".ca.import-123456", ".ca.create-654321"} {
		d := filepath.Join(data, name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "intermediate.key"), []byte("-----BEGIN PRIVATE KEY-----\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		leftovers = append(leftovers, d)
	}
	keep := filepath.Join(data, ".ca.other")
	if err := os.Mkdir(keep, 0o700); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	start(slog.New(slog.NewTextHandler(logs, nil)))
	for _, d := range leftovers {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there (%v)", d, err)
		}
		if !strings.Contains(logs.String(), "removed the leftover of an interrupted CA import or creation") || !strings.Contains(logs.String(), "path="+d) {
			t.Errorf("removal of %s not logged:\n%s", d, logs)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("another directory was removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "ca", "intermediate.key")); err != nil {
		t.Errorf("the CA: %v", err)
	}
	for _, p := range []string{dsn, dsn + "-wal", dsn + "-shm"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v after the start, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
	if !strings.Contains(logs.String(), "restricted a database file to its owner") || !strings.Contains(logs.String(), "old_mode=-rw-r--r--") {
		t.Errorf("the mode change is not logged:\n%s", logs)
	}
}

// TestStartRestrictsDataDir: a data directory that exists before the
// start with group or other permissions (0755: made by hand or restored
// from a backup) is restricted to its owner (0700) at the start, which
// logs it; a start that finds it 0700 changes and logs nothing.
func TestStartRestrictsDataDir(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(data, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	start := func() string {
		t.Helper()
		logs := &syncBuffer{}
		srv, err := New(ctx, testServeConfig(data), Options{}, slog.New(slog.NewTextHandler(logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		stopped, cancel := context.WithCancel(ctx)
		cancel()
		if err := srv.Serve(stopped); err != nil {
			t.Fatal(err)
		}
		return logs.String()
	}
	logs := start()
	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory after the start: %v %v, want mode 0700", fi.Mode(), err)
	}
	if !strings.Contains(logs, "restricted the data directory to its owner") || !strings.Contains(logs, "path="+data) ||
		!strings.Contains(logs, "old_mode=drwxr-xr-x") || !strings.Contains(logs, "new_mode=drwx------") {
		t.Errorf("the mode change is not logged:\n%s", logs)
	}
	if logs := start(); strings.Contains(logs, "restricted the data directory") {
		t.Errorf("second start logged a change:\n%s", logs)
	}
}

// TestTidyKeepsAnotherUsersModes: a data directory and a SQLite database
// with group permissions that are owned by another user than the server's
// (a volume shared with the server's group: a Kubernetes fsGroup volume
// is root's, the server runs as another user) keep their modes, with a
// warning naming each, and the start goes on. The server tried to chmod
// them, which only their owner may: the start failed with "operation not
// permitted" where earlier releases started.
func TestTidyKeepsAnotherUsersModes(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	dsn := DSN(data, "")
	if err := os.WriteFile(dsn, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{data, dsn} {
		if err := os.Chmod(p, 0o770); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	other := int(fi.Sys().(*syscall.Stat_t).Uid) + 1 // the server runs as another user
	logs := &syncBuffer{}
	if err := tidyDataDir(data, CADir(data), dsn, other, slog.New(slog.NewTextHandler(logs, nil))); err != nil {
		t.Fatalf("tidyDataDir: %v", err)
	}
	for _, p := range []string{data, dsn} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o770 {
			t.Errorf("%s: %v %v, want its mode kept (0770)", p, fi.Mode(), err)
		}
	}
	for _, want := range []string{"the data directory has group or other permissions but is owned by another user", "path=" + data,
		"a database file has group or other permissions but is owned by another user", "path=" + dsn, "server_uid=" + strconv.Itoa(other)} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no %q logged:\n%s", want, logs)
		}
	}
	if strings.Contains(logs.String(), "restricted") {
		t.Errorf("a change was logged:\n%s", logs)
	}
}
