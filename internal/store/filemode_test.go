package store_test

import (
	"os"
	"path/filepath"
	"slices"
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
