package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
)

// Main runs the tests of a package whose TestMain calls it, with stores
// cloned from a template: Engine.Open (and so EachStore) then copies a
// database that store.Open migrated once in this test process, instead
// of migrating a new one for every test. The clone is the same empty,
// fully migrated database a fresh store.Open gives (the migrations write
// no per-database values), at a fraction of the cost: on PostgreSQL,
// CREATE DATABASE ... TEMPLATE instead of the 40-odd migrations; on
// SQLite, a file copy. The migrations themselves stay tested wherever a
// test opens a new database (NewDSN, PostgresDSN, SQLiteDSN), and by the
// template's own migration. Main drops the template database and removes
// the template file when the tests end, and returns m.Run's exit code:
//
//	func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }
//
// Packages without it migrate a new database for every Engine.Open.
func Main(m *testing.M) int {
	dir, err := os.MkdirTemp("", "certgate-storetest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
		return 1
	}
	templates = &templateSet{dir: dir}
	code := m.Run()
	if err := templates.close(); err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
		if code == 0 {
			code = 1
		}
	}
	templates = nil
	return code
}

// templates is set by Main for the duration of m.Run; nil otherwise.
var templates *templateSet

// templateSet holds the template database of each engine, each made on
// first use.
type templateSet struct {
	dir string // the SQLite template's directory, removed by close

	sqliteOnce sync.Once
	sqlitePath string // the migrated SQLite file, closed
	sqliteErr  error

	pgOnce sync.Once
	pgName string // the migrated PostgreSQL database, with no session open
	pgErr  error
}

// clone returns the DSN of a new database for t cloned from the template
// of engine, removed when t ends; ok is false when Main is not in use.
func clone(t testing.TB, engine string) (dsn string, ok bool) {
	t.Helper()
	ts := templates
	if ts == nil {
		return "", false
	}
	if engine == store.EngineSQLite {
		return ts.cloneSQLite(t), true
	}
	return ts.clonePostgres(t), true
}

func (ts *templateSet) cloneSQLite(t testing.TB) string {
	t.Helper()
	dst := SQLiteDSN(t)
	ts.copySQLite(t, dst)
	return dst
}

// copySQLite copies the SQLite template, migrating it on first use, to
// the file dst.
func (ts *templateSet) copySQLite(t testing.TB, dst string) {
	t.Helper()
	ts.sqliteOnce.Do(func() {
		path := filepath.Join(ts.dir, "template.db")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := store.Open(ctx, path)
		if err != nil {
			ts.sqliteErr = fmt.Errorf("migrate the SQLite template: %w", err)
			return
		}
		// Close checkpoints the WAL into the file and removes it: the
		// file alone is the database.
		if err := s.Close(); err != nil {
			ts.sqliteErr = fmt.Errorf("close the SQLite template: %w", err)
			return
		}
		ts.sqlitePath = path
	})
	if ts.sqliteErr != nil {
		t.Fatal(ts.sqliteErr)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(ts.sqlitePath + suffix); err == nil {
			t.Fatalf("SQLite template %s has a %s file after Close", ts.sqlitePath, suffix)
		}
	}
	if err := copyFile(dst, ts.sqlitePath); err != nil {
		t.Fatalf("copy the SQLite template: %v", err)
	}
}

// CopySQLiteTemplate writes the SQLite template database (empty, fully
// migrated) to the file path, which must not exist, and reports true;
// it reports false and writes nothing when the package's TestMain does
// not run Main. A server started on a data directory holding the copy
// as certgate.db then opens it without migrating (internal/testenv).
func CopySQLiteTemplate(t testing.TB, path string) bool {
	t.Helper()
	ts := templates
	if ts == nil {
		return false
	}
	ts.copySQLite(t, path)
	return true
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, store.SQLiteFileMode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func (ts *templateSet) clonePostgres(t testing.TB) string {
	t.Helper()
	RequirePostgres(t)
	server := PostgresServer()
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("%s=%q: %v", EnvPostgres, server, err)
	}
	ts.pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		name := "certgate_test_template_" + randomHex()
		conn, err := connect(ctx, server)
		if err != nil {
			ts.pgErr = err
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			ts.pgErr = fmt.Errorf("create the template database on %s: %w", redact(u), err)
			return
		}
		ts.pgName = name // dropped by close from here on
		db := *u
		db.Path = "/" + name
		s, err := store.Open(ctx, db.String())
		if err != nil {
			ts.pgErr = fmt.Errorf("migrate the template database %s: %w", name, err)
			return
		}
		// No session may stay open on a template while it is copied.
		if err := s.Close(); err != nil {
			ts.pgErr = fmt.Errorf("close the template database %s: %w", name, err)
		}
	})
	if ts.pgErr != nil {
		t.Fatal(ts.pgErr)
	}
	return createDatabase(t, server, u, ts.pgName)
}

// close drops the PostgreSQL template and removes the SQLite one.
func (ts *templateSet) close() error {
	var errs []error
	if ts.pgName != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := connect(ctx, PostgresServer())
		if err == nil {
			_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ts.pgName+" WITH (FORCE)")
			conn.Close(ctx)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("drop the template database %s: %w", ts.pgName, err))
		}
	}
	if err := os.RemoveAll(ts.dir); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%v", errs)
	}
	return nil
}

// randomHex is 16 random hexadecimal digits for a database name.
func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
