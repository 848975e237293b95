package store_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestSQLiteFilesOwnerOnly: a new SQLite database, its -wal and its -shm
// file are created readable by their owner only (they were 0644 under
// the usual umask 022: EAB HMAC keys, token hashes and every record
// readable by any local user); RestrictSQLiteFiles tightens those of an
// existing install and reports what it changed.
func TestSQLiteFilesOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "certgate.db")
	st := storetest.OpenDSN(t, path)
	if _, err := st.InitSetting(t.Context(), "probe", "x"); err != nil { // a write: the WAL has frames
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != store.SQLiteFileMode {
			t.Errorf("%s: mode %v, want %v", filepath.Base(p), fi.Mode().Perm(), store.SQLiteFileMode)
		}
	}
	st.Close()

	// An install made before: files 0644 (0640 for one).
	for _, p := range []string{path, path + "-wal"} {
		if err := os.Chmod(p, 0o644); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path+"-shm", nil, 0o640); err != nil {
		t.Fatal(err)
	}
	changed, err := store.RestrictSQLiteFiles(path, os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changed {
		got = append(got, filepath.Base(c.Path)+" "+c.Old.String()+" "+c.New.String())
	}
	want := []string{"certgate.db -rw-r--r-- -rw-------", "certgate.db-shm -rw-r----- -rw-------"}
	if _, err := os.Stat(path + "-wal"); err == nil {
		want = slices.Insert(want, 1, "certgate.db-wal -rw-r--r-- -rw-------")
	}
	if !slices.Equal(got, want) {
		t.Errorf("changed %q, want %q", got, want)
	}
	for _, p := range []string{path, path + "-shm"} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s after RestrictSQLiteFiles: %v %v", filepath.Base(p), fi.Mode(), err)
		}
	}
	if changed, err := store.RestrictSQLiteFiles(path, os.Geteuid()); err != nil || len(changed) != 0 {
		t.Errorf("second RestrictSQLiteFiles: %v %v, want nothing to change", changed, err)
	}
}

// TestRestrictSQLiteFilesThroughLink: a database path that is a symbolic
// link (to a database on another volume) is restricted where it leads:
// SQLite opens the target and keeps its -wal and -shm files next to it,
// and those were left 0644 (the link was skipped as no regular file). A
// -wal, -shm or -journal file that is itself a link is not followed: the
// file it points to keeps its mode and the link is reported NotFollowed.
// A link to a database that does not exist yet gets it created 0600.
func TestRestrictSQLiteFilesThroughLink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "volume", "db.sqlite")
	link := filepath.Join(dir, "data", "certgate.db")
	for _, d := range []string{filepath.Dir(target), filepath.Dir(link)} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	// A first open through a link to no file creates the target 0600.
	st := storetest.OpenDSN(t, link)
	if _, err := st.InitSetting(t.Context(), "probe", "x"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != store.SQLiteFileMode {
		t.Fatalf("database created through a link: %v %v, want mode 0600", fi.Mode(), err)
	}

	// An older install: the target and its -wal 0644; a -shm that is a
	// link to an unrelated file.
	unrelated := filepath.Join(dir, "unrelated")
	if err := os.WriteFile(unrelated, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{target, target + "-wal"} {
		if err := os.WriteFile(p, nil, 0o644); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.Remove(target + "-shm")
	if err := os.Symlink(unrelated, target+"-shm"); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(unrelated, 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := store.RestrictSQLiteFiles(link, os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changed {
		got = append(got, fmt.Sprintf("%s link=%q old=%v new=%v notFollowed=%v", c.Path, c.Link, c.Old, c.New, c.NotFollowed))
	}
	want := []string{
		fmt.Sprintf("%s link=%q old=-rw-r--r-- new=-rw------- notFollowed=false", target, link),
		fmt.Sprintf("%s-wal link=\"\" old=-rw-r--r-- new=-rw------- notFollowed=false", target),
		fmt.Sprintf("%s-shm link=\"\" old=---------- new=---------- notFollowed=true", target),
	}
	if !slices.Equal(got, want) {
		t.Errorf("changed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for p, mode := range map[string]os.FileMode{target: 0o600, target + "-wal": 0o600, unrelated: 0o644} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want %v", p, fi.Mode(), err, mode)
		}
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link: %v %v", fi.Mode(), err)
	}
}

// TestRestrictSQLiteFilesRefusesOtherFile: a db setting that names a file
// that is not a SQLite database (a typo, a configuration file) is refused
// before its mode is changed: the start used to make it 0600 and then fail
// on "file is not a database", leaving e.g. a world-readable /etc/hosts
// readable by root only. An empty file (a database SQLite has not written
// yet) is still restricted.
func TestRestrictSQLiteFilesRefusesOtherFile(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "hosts")
	if err := os.WriteFile(other, []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(other, 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := store.RestrictSQLiteFiles(other, os.Geteuid())
	if !errors.Is(err, store.ErrNotSQLite) || !strings.Contains(err.Error(), other) {
		t.Errorf("RestrictSQLiteFiles(%s) = %v, want an error naming the file, wrapping ErrNotSQLite", other, err)
	}
	if len(changed) != 0 {
		t.Errorf("changed %v, want nothing", changed)
	}
	if fi, err := os.Stat(other); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("%s after RestrictSQLiteFiles: %v %v, want its mode 0644 kept", other, fi.Mode(), err)
	}

	empty := filepath.Join(dir, "new.db")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(empty, 0o644); err != nil {
		t.Fatal(err)
	}
	if changed, err := store.RestrictSQLiteFiles(empty, os.Geteuid()); err != nil || len(changed) != 1 {
		t.Errorf("RestrictSQLiteFiles(empty file) = %v, %v; want it restricted", changed, err)
	}
}
