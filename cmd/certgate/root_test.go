package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
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
