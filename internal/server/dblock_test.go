package server

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/issuer/local"
)

// TestSecondServerOnSQLiteDatabaseRefused: a server on another data
// directory given a running server's SQLite database with --db (the same
// CA imported there) was not refused: the data directory lock guards the
// directory only, and the second server's start swept the first one's
// processing orders as its own (SQLite is served Exclusive), so that the
// first lost the certificates it was signing. It is refused now, in one
// line naming the database and the first server's data directory, also
// through a symbolic link to the database, and leaves nothing behind; once
// the first server stopped, it starts on that database.
func TestSecondServerOnSQLiteDatabaseRefused(t *testing.T) {
	tmp := t.TempDir()
	dataA, dataB := filepath.Join(tmp, "a"), filepath.Join(tmp, "b")
	clock := &listenerClock{t: time.Now()}
	_, stopA := startListenerServer(t, dataA, "", clock)
	bundle, _, _, err := local.Export(CADir(dataA))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := local.Import(CADir(dataB), bundle); err != nil {
		t.Fatal(err)
	}
	dbA := DSN(dataA, "")
	link := filepath.Join(tmp, "link.db")
	if err := os.Symlink(dbA, link); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadDir(dataB)
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{dbA, link} {
		cfg := testServeConfig(dataB)
		cfg.DB = db
		s, err := New(context.Background(), cfg, Options{Now: clock.now}, slog.New(slog.DiscardHandler))
		if err == nil {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			s.Serve(ctx)
			t.Fatalf("a second server on %s started beside the first", db)
		}
		if !errors.Is(err, ErrDatabaseInUse) || !strings.Contains(err.Error(), "db "+db+" is in use") ||
			!strings.Contains(err.Error(), "data directory "+dataA+";") || strings.Contains(err.Error(), "\n") {
			t.Errorf("second server on %s: %v; want one line naming the database and %s", db, err, dataA)
		}
		after, err := os.ReadDir(dataB)
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(before) {
			t.Errorf("the refused start changed %s: %v, was %v", dataB, after, before)
		}
	}
	if _, err := os.Stat(dbA); err != nil {
		t.Errorf("the refused start removed the first server's database: %v", err)
	}
	stopA()
	_, stopB := startListenerServer(t, dataB, dbA, clock)
	stopB()
}

// TestFailedStartRemovesDatabaseLock: a first start that fails removes the
// database lock file it created, with the database and the data directory.
func TestFailedStartRemovesDatabaseLock(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cfg := testServeConfig(data)
	cfg.CertValidity = 500 * 24 * time.Hour // fails the preflight lint, after the database is open
	if _, err := New(context.Background(), cfg, Options{}, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a start with cert-validity 500d succeeded")
	}
	if _, err := os.Lstat(data); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the failed first start left %s (%v)", data, err)
	}
}
