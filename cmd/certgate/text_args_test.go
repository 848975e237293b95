package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// badTextCommands are administrative commands given an argument or flag
// value with invalid UTF-8 or a NUL character.
var badTextCommands = [][]string{
	{"account", "show", "a\xff"},
	{"account", "deactivate", "a\x00b"},
	{"eab", "revoke", "k\x00"},
	{"eab", "create", "--owner", "team\xff"},
	{"eab", "create", "--allow", "ok.example", "--allow", "x\x00.example"},
	{"token", "revoke", "\xff"},
	{"token", "create", "--role", "admin", "--name", "n\xfe"},
	{"profile", "show", "\xff"},
	{"profile", "delete", "p\x00"},
	{"approval", "reject", "x", "--comment", "no\xff"},
	{"cert", "list", "--name", "a\xff.example"},
}

// TestCLIRefusesBadText: on either engine, an administrative command
// whose argument or flag value is not UTF-8 or holds a NUL character
// fails with one line naming it (as the admin API's 422/404), not with
// PostgreSQL's "invalid byte sequence" error after a query; and it does
// so before any database call: with an unreachable database the same line
// comes, not a connection error.
func TestCLIRefusesBadText(t *testing.T) {
	t.Setenv("CERTGATE_DB", "")
	check := func(t *testing.T, args []string, dbArgs ...string) {
		t.Helper()
		_, _, err := runCLI(t, nil, append(args, dbArgs...)...)
		if err == nil || !strings.Contains(err.Error(), "text must be UTF-8 without NUL characters") ||
			strings.Contains(err.Error(), "\n") || strings.ContainsRune(err.Error(), 0) {
			t.Errorf("%q: %q, want one line refusing the text", args, err)
		}
	}
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) {
			data := t.TempDir()
			var dbArgs []string
			if eng.Name == store.EnginePostgres {
				dsn := eng.NewDSN(t)
				st, err := store.Open(context.Background(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				st.Close()
				dbArgs = []string{"--data", data, "--db", dsn}
			} else {
				initDataDir(t, data)
				dbArgs = []string{"--data", data}
			}
			for _, args := range badTextCommands {
				check(t, args, dbArgs...)
			}
			// File names need not be UTF-8: cert import reads the file.
			_, stderr, err := runCLI(t, nil, append([]string{"cert", "import", filepath.Join(data, "missing\xff.pem")}, dbArgs...)...)
			if err == nil || strings.Contains(err.Error(), "text must be UTF-8") {
				t.Errorf("cert import of a non-UTF-8 file name: %q (%s), want the file's own error", err, stderr)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		for _, args := range badTextCommands {
			check(t, args, "--data", t.TempDir(), "--db", "postgres://certgate@127.0.0.1:1/certgate?sslmode=disable&connect_timeout=5")
		}
	})
}

// TestCLIRefusesBadTextFromEnv: a flag value that comes from its CERTGATE_*
// variable (config.Resolve) is checked as one given on the command line:
// it was not (only flags set on the command line were visited), so
// CERTGATE_OWNER=$'team\xff' reached the database, PostgreSQL's
// "invalid byte sequence" after a connection, and SQLite stored it.
func TestCLIRefusesBadTextFromEnv(t *testing.T) {
	t.Setenv("CERTGATE_DB", "")
	for name, args := range map[string][]string{
		"CERTGATE_OWNER": {"eab", "create"},
		"CERTGATE_NAME":  {"cert", "list"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, "bad\xff")
			_, _, err := runCLI(t, nil, append(args, "--data", t.TempDir(), "--db", "postgres://certgate@127.0.0.1:1/certgate?sslmode=disable&connect_timeout=5")...)
			if err == nil || !strings.Contains(err.Error(), "text must be UTF-8 without NUL characters") || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s=bad\\xff %q: %q, want one line refusing the text", name, args, err)
			}
		})
	}
}
