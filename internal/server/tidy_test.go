package server

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/testenv/testlog"
)

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
	logs := &testlog.Buffer{}
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
		logs := &testlog.Buffer{}
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
	logs := &testlog.Buffer{}
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

// TestTidyRestrictsCADir: a start restricts the CA directory (0755, as a
// copy or a restore from a backup leaves it) to its owner (0700) and its
// private key files (0644) to theirs (0600), logging each change, as it
// does the data directory and the database; the certificates keep their
// mode 0644. Before, they were left as they were: a CA directory restored
// with 0755 and keys 0644 let any local user read the CA's private keys
// (the data directory being restricted hid them only while it was). A key owned by another user keeps its mode
// with a warning; a key file that is a symbolic link is not followed (what
// it points to keeps its mode) and is warned about.
func TestTidyRestrictsCADir(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	ca := CADir(data)
	if _, err := local.LoadOrCreate(ca, local.Options{}); err != nil {
		t.Fatal(err)
	}
	loosen := func() {
		t.Helper()
		for p, mode := range map[string]os.FileMode{ca: 0o755, filepath.Join(ca, local.RootKeyFile): 0o644,
			filepath.Join(ca, local.IntermediateKeyFile): 0o640} {
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	loosen()
	logs := &testlog.Buffer{}
	if err := tidyDataDir(data, ca, DSN(data, ""), os.Geteuid(), slog.New(slog.NewTextHandler(logs, nil))); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{"": 0o700, local.RootKeyFile: 0o600, local.IntermediateKeyFile: 0o600,
		local.RootCertFile: 0o644, local.IntermediateCertFile: 0o644} {
		if fi, err := os.Stat(filepath.Join(ca, name)); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("ca/%s: %v %v, want %v", name, fi.Mode(), err, mode)
		}
	}
	for _, want := range []string{`msg="restricted the CA directory to its owner" path=` + ca + " old_mode=drwxr-xr-x new_mode=drwx------",
		`msg="restricted a CA private key file to its owner" path=` + filepath.Join(ca, local.RootKeyFile) + " old_mode=-rw-r--r-- new_mode=-rw-------",
		`msg="restricted a CA private key file to its owner" path=` + filepath.Join(ca, local.IntermediateKeyFile) + " old_mode=-rw-r----- new_mode=-rw-------"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("not logged: %s\n%s", want, logs)
		}
	}

	// Owned by another user: kept, with warnings.
	loosen()
	logs = &testlog.Buffer{}
	other := os.Geteuid() + 1
	if err := tidyDataDir(data, ca, DSN(data, ""), other, slog.New(slog.NewTextHandler(logs, nil))); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(ca, local.RootKeyFile)); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("another user's key: %v %v, want its mode kept", fi.Mode(), err)
	}
	for _, want := range []string{"the CA directory has group or other permissions but is owned by another user",
		"a CA private key file has group or other permissions but is owned by another user", "server_uid=" + strconv.Itoa(other)} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("not logged: %s\n%s", want, logs)
		}
	}

	// A key file that is a link: not followed.
	elsewhere := filepath.Join(t.TempDir(), "root.key")
	key := filepath.Join(ca, local.RootKeyFile)
	if err := os.Rename(key, elsewhere); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, key); err != nil {
		t.Fatal(err)
	}
	logs = &testlog.Buffer{}
	if err := tidyDataDir(data, ca, DSN(data, ""), os.Geteuid(), slog.New(slog.NewTextHandler(logs, nil))); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(elsewhere); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("the link's target: %v %v, want its mode kept", fi.Mode(), err)
	}
	if want := `msg="a CA private key file is a symbolic link: not followed`; !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), "path="+key) {
		t.Errorf("not logged: %s\n%s", want, logs)
	}
}

// TestTidyFollowsDatabaseLink: a SQLite database path that is a symbolic
// link is restricted where it leads (SQLite's files are there), and the
// log names the file changed and the link.
func TestTidyFollowsDatabaseLink(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "db.sqlite")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(target, 0o644); err != nil {
		t.Fatal(err)
	}
	dsn := DSN(data, "")
	if err := os.Symlink(target, dsn); err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	if err := tidyDataDir(data, CADir(data), dsn, os.Geteuid(), slog.New(slog.NewTextHandler(logs, nil))); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the database the link leads to: %v %v, want 0600", fi.Mode(), err)
	}
	if want := `msg="restricted a database file to its owner" path=` + target + " old_mode=-rw-r--r-- new_mode=-rw------- link=" + dsn; !strings.Contains(logs.String(), want) {
		t.Errorf("not logged: %s\n%s", want, logs)
	}
}

// TestTidyCADirIsAFile: a file where the CA directory belongs is refused
// naming it, and its mode is left as it is; the start restricted it (a
// file, 0644 -> 0600) and then failed with "lstat DATA/ca/root.key: not a
// directory".
func TestTidyCADirIsAFile(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	ca := CADir(data)
	if err := os.WriteFile(ca, []byte("not a CA\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ca, 0o644); err != nil {
		t.Fatal(err)
	}
	err := tidyDataDir(data, ca, DSN(data, ""), os.Geteuid(), slog.New(slog.NewTextHandler(&testlog.Buffer{}, nil)))
	if want := "built-in CA: " + ca + " is not a directory"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("tidyDataDir = %v, want an error starting %q", err, want)
	}
	if fi, err := os.Stat(ca); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("%s: %v %v, want its mode 0644 kept", ca, fi.Mode(), err)
	}
}
