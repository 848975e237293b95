package store_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestPingSQLiteFileDamaged: Ping reads the database file itself, not a
// page a pooled connection has cached nor a constant, so it fails once the
// SQLite file under a running store is truncated, overwritten, made
// unreadable or deleted, and answers again when the bytes are put back in
// the same file; a deleted file put back is another file, which the
// store's connections do not use, and Ping keeps failing.
func TestPingSQLiteFileDamaged(t *testing.T) {
	for name, c := range map[string]struct {
		damage   func(path string) error
		recovers bool // Ping answers once the saved bytes are written back
	}{
		"truncated": {func(path string) error { return os.Truncate(path, 0) }, true},
		"half": {func(path string) error {
			fi, err := os.Stat(path)
			if err != nil {
				return err
			}
			return os.Truncate(path, fi.Size()/2)
		}, true},
		"overwritten": {func(path string) error {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt(make([]byte, 4096), 0)
			return err
		}, true},
		"unreadable": {func(path string) error { return os.Chmod(path, 0) }, true},
		"deleted":    {os.Remove, false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if name == "unreadable" && os.Geteuid() == 0 {
				t.Skip("root reads a file whatever its mode")
			}
			ctx := context.Background()
			path := storetest.SQLiteDSN(t)
			s := storetest.OpenDSN(t, path)
			must(t, s.InsertCertificates(ctx, []*store.Certificate{invCert("a", 0)}))
			// The pages in the file, not only in the WAL, as after any
			// background checkpoint.
			must(t, store.Checkpoint(ctx, s))
			must(t, s.Ping(ctx))
			must(t, s.Ping(ctx))
			saved, err := os.ReadFile(path)
			must(t, err)
			must(t, c.damage(path))
			err = s.Ping(ctx)
			if err == nil {
				t.Fatalf("Ping succeeded with the database file %s", name)
			}
			if !strings.HasPrefix(err.Error(), "ping: ") {
				t.Errorf("Ping error %q, want it to start with ping:", err)
			}
			if _, err := os.Stat(path); err == nil {
				must(t, os.Chmod(path, 0o600))
			}
			must(t, os.WriteFile(path, saved, 0o600))
			err = s.Ping(ctx)
			if c.recovers && err != nil {
				t.Errorf("Ping with the file's bytes put back: %v", err)
			}
			if !c.recovers && (err == nil || !strings.Contains(err.Error(), "replaced")) {
				t.Errorf("Ping with a new file at the path = %v, want an error saying the file was replaced", err)
			}
		})
	}
}
