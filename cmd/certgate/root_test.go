package main

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/jackc/pgx/v5"
)

// TestRootCommandsAreUnique checks that every subcommand is registered once:
// a command added twice is listed twice by `certgate --help`, and cobra runs
// only the first of the two.
func TestRootCommandsAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range newRoot(io.Discard, io.Discard).Commands() {
		if seen[c.Name()] {
			t.Errorf("command %q is registered more than once", c.Name())
		}
		seen[c.Name()] = true
	}
	for _, want := range []string{"serve", "cert", "account", "report", "profile", "eab", "approval", "token", "audit", "ratelimit"} {
		if !seen[want] {
			t.Errorf("command %q is not registered", want)
		}
	}
}

// TestAdminCommandRefusesMissingDatabase checks that an administrative
// command pointed at a data directory without a database fails with one line
// naming the path and what to do, creates nothing, and works once the
// database exists.
func TestAdminCommandRefusesMissingDatabase(t *testing.T) {
	data := filepath.Join(t.TempDir(), "typo")
	for _, args := range [][]string{
		{"cert", "list"},
		{"account", "list"},
		{"profile", "create", "web", "--validity", "30d"},
		{"ratelimit", "list"},
	} {
		_, stderr, err := runCLI(t, nil, append(args, "--data", data)...)
		want := "no certgate database at " + filepath.Join(data, "certgate.db") + ": start `certgate serve --data DIR` once, or pass the server's --data/--db"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: err = %v, want it to contain %q", args, err, want)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error is not one line: %q (stderr %q)", args, err, stderr)
		}
	}
	if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("refused commands created %s (stat: %v)", data, err)
	}
	initDataDir(t, data)
	if _, stderr, err := runCLI(t, nil, "cert", "list", "--data", data); err != nil || stderr != "" {
		t.Errorf("cert list on an existing database: err %v, stderr %q", err, stderr)
	}
}

// TestAdminCommandRefusesDataFile: --data naming a file (the database file
// itself, or a path below one) is refused with the "no certgate database"
// line docs/inventory.md shows, saying that --data is a file; it failed as
// "open database: create database directory: mkdir ...: not a directory".
// The file is left as it was.
func TestAdminCommandRefusesDataFile(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	file := filepath.Join(data, "certgate.db")
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"cert", "list"},
		{"account", "list"},
		{"audit", "list"},
		{"ratelimit", "list"},
	} {
		_, _, err := runCLI(t, nil, append(args, "--data", file)...)
		want := "no certgate database at " + filepath.Join(file, "certgate.db") + ": --data " + file +
			" is a file, not a directory: pass the server's data directory (the one that holds certgate.db) as --data, or --db"
		if err == nil || err.Error() != want {
			t.Errorf("%v --data FILE: %v, want %q", args, err, want)
		}
		below := filepath.Join(file, "sub")
		_, _, err = runCLI(t, nil, append(args, "--data", below)...)
		want = "no certgate database at " + filepath.Join(below, "certgate.db") + ": start `certgate serve --data DIR` once, or pass the server's --data/--db"
		if err == nil || err.Error() != want {
			t.Errorf("%v --data FILE/sub: %v, want %q", args, err, want)
		}
	}
	if after, err := os.ReadFile(file); err != nil || string(after) != string(before) {
		t.Errorf("the refused commands changed %s: %v", file, err)
	}
}

// initDataDir creates the SQLite database of data directory data, as the
// server's first run does, so that administrative commands find it.
func initDataDir(t *testing.T, data string) {
	t.Helper()
	st, err := store.Open(context.Background(), server.DSN(data, ""))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}

// TestAdminCommandRefusesPostgresWithoutSchema: pointed with --db at a
// PostgreSQL database without certgate's schema, administrative commands
// fail with one line and create no table (they created the whole schema
// before), as SQLite refuses a missing file; once the server has created
// the schema they work.
func TestAdminCommandRefusesPostgresWithoutSchema(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	data := t.TempDir()
	for _, args := range [][]string{
		{"cert", "list"},
		{"account", "list"},
		{"profile", "create", "web", "--validity", "30d"},
		{"ratelimit", "list"},
		{"cert", "import", filepath.Join(data, "none.pem")},
	} {
		_, stderr, err := runCLI(t, nil, append(args, "--data", data, "--db", dsn)...)
		want := "no certgate schema in the database: start `certgate serve --db URL` on it once, or pass the server's --db"
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "PostgreSQL postgres://") {
			t.Errorf("%v: err = %v, want it to name the database and contain %q", args, err, want)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error is not one line: %q (stderr %q)", args, err, stderr)
		}
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n)
	conn.Close(ctx)
	if err != nil || n != 0 {
		t.Fatalf("refused commands left %d tables (%v)", n, err)
	}
	st, err := store.Open(ctx, dsn) // as serve's first run
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, stderr, err := runCLI(t, nil, "cert", "list", "--data", data, "--db", dsn); err != nil || stderr != "" {
		t.Errorf("cert list on a database with the schema: err %v, stderr %q", err, stderr)
	}
}

// TestAdminCommandRefusesSQLiteWithoutSchema: an existing SQLite file
// without certgate's schema given as --db (another application's
// database, an empty file) is refused in one line and left unchanged, as
// a PostgreSQL database without the schema is; every command, read-only
// ones included, added certgate's 33 tables to it (an empty file grew to
// 434 KB).
func TestAdminCommandRefusesSQLiteWithoutSchema(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "app.db")
	db, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE users (id INTEGER)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{other, empty} {
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"account", "list"},
			{"token", "create", "--role", "admin", "--name", "ops"},
			{"cert", "list"},
		} {
			_, _, err := runCLI(t, nil, append(args, "--db", path)...)
			want := path + ": no certgate schema in the database (another application's database, or an empty file): pass the server's --data/--db"
			if err == nil || err.Error() != want {
				t.Errorf("%v --db %s: err = %v, want %q", args, filepath.Base(path), err, want)
			}
		}
		after, err := os.ReadFile(path)
		if err != nil || string(after) != string(before) {
			t.Errorf("%s changed by refused commands (%d → %d bytes, %v)", filepath.Base(path), len(before), len(after), err)
		}
	}
}
