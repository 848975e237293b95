package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
)

// TestSQLitePathWithURICharacters: a database whose path holds '#', '?'
// or '%' is the file at that path. The path was put into a "file:" URI
// as it was, so SQLite opened the path up to the '#' or '?' instead
// (/srv/certgate#2/certgate.db: the file /srv/certgate, created with the
// umask, 0644), and two data directories differing after it shared one
// database; a backup read that other file too.
func TestSQLitePathWithURICharacters(t *testing.T) {
	ctx := context.Background()
	for _, dir := range []string{"a#b", "c?d", "e%41f", "g%3Fh"} {
		root := t.TempDir()
		path := filepath.Join(root, dir, "certgate.db")
		s, err := store.OpenSQLite(ctx, path)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		if err := s.CreateAccount(ctx, &store.Account{ID: "a", KeyThumbprint: "tp", JWK: []byte("{}"), Status: "valid", CreatedAt: now}); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != dir {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("%s: the directory holding it has %v, want %s alone", dir, names, dir)
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
			t.Errorf("%s: the database file is empty or missing (%v)", dir, err)
		}
		out := filepath.Join(root, dir, "copy.db")
		if _, err := store.BackupSQLite(ctx, path, out); err != nil {
			t.Errorf("%s: backup: %v", dir, err)
		}
		if _, err := store.CheckSQLiteCopy(ctx, out); err != nil {
			t.Errorf("%s: check the copy: %v", dir, err)
		}
	}
}
