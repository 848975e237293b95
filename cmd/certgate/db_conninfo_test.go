package main

import (
	"os"
	"strings"
	"testing"
)

// TestDBConninfoRefused: a PostgreSQL key=value connection string given to
// --db is refused in one line that says to write it as a URL, without
// repeating the string (it holds a password), and leaves no file behind,
// for an administrative command and for serve.
func TestDBConninfoRefused(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	conninfo := "host=127.0.0.1 user=postgres password=s3cret dbname=certgate"
	for _, args := range [][]string{
		{"cert", "list", "--db", conninfo},
		{"serve", "--data", dir + "/data", "--db", conninfo, "--listen", "127.0.0.1:0"},
	} {
		_, _, err := runCLI(t, nil, args...)
		if err == nil {
			t.Fatalf("%v: no error", args[:2])
		}
		msg := err.Error()
		if !strings.Contains(msg, "key=value connection string") || !strings.Contains(msg, "postgres://") {
			t.Errorf("%v: %q does not say to write a postgres:// URL", args[:2], msg)
		}
		if strings.Contains(msg, "s3cret") || strings.Contains(msg, "\n") {
			t.Errorf("%v: %q repeats the password or is not one line", args[:2], msg)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), "host=") {
			t.Errorf("file named after the connection string created: %q", e.Name())
		}
	}
}
