package main

import (
	"context"
	"io"
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

// TestAdminCommandWarnsAboutNewDatabase checks that an administrative command
// pointed at a data directory without a database says, in one line on
// stderr, that it created a new one, and says nothing when the database
// already exists.
func TestAdminCommandWarnsAboutNewDatabase(t *testing.T) {
	data := filepath.Join(t.TempDir(), "typo")
	_, stderr, err := runCLI(t, nil, "cert", "list", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	want := "there was no database at " + filepath.Join(data, "certgate.db")
	if !strings.Contains(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr = %q, want one line containing %q", stderr, want)
	}
	_, stderr, err = runCLI(t, nil, "cert", "list", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr, "warning") {
		t.Errorf("second run warned again: %q", stderr)
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
