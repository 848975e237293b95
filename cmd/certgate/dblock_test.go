package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/server"
)

// TestDBCopyRefusesDatabaseInUse: `certgate db copy --from FILE` of a
// SQLite database that a server uses through --db (its data directory
// elsewhere, so no data directory lock beside the file) copied it while
// the server wrote to it. It is refused now, naming the server's data
// directory, by the lock the server holds beside the database, as is
// `certgate bench seed` into it.
func TestDBCopyRefusesDatabaseInUse(t *testing.T) {
	dbDir := t.TempDir()
	db := filepath.Join(dbDir, "shared.db")
	data := filepath.Join(t.TempDir(), "node")
	if _, err := startNode(t, data, db); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "copy.db")
	_, _, err := runCLI(t, nil, "db", "copy", "--from", db, "--to", to)
	if !errors.Is(err, server.ErrDatabaseInUse) || !strings.Contains(err.Error(), "data directory "+data+";") ||
		!strings.HasSuffix(err.Error(), "stop it before copying its database") {
		t.Errorf("db copy of a database a server uses: %v; want it refused naming %s", err, data)
	}
	if _, err := os.Stat(to); err == nil {
		t.Error("the refused copy wrote --to")
	}
	other := filepath.Join(t.TempDir(), "seed")
	_, _, err = runCLI(t, nil, "bench", "seed", "--data", other, "--db", db, "--certificates", "1")
	if !errors.Is(err, server.ErrDatabaseInUse) {
		t.Errorf("bench seed into a database a server uses: %v; want it refused", err)
	}
}
