package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenRefusesConninfo: a PostgreSQL key=value connection string given
// as the database name is refused with ErrConninfo, which does not repeat
// the string, and no SQLite file named after it (password included) is
// created; SQLite paths holding "=" still open.
func TestOpenRefusesConninfo(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, dsn := range []string{
		"host=db.example user=app password=s3cret dbname=certgate",
		"  dbname=certgate sslmode=disable",
		"USER=app host=127.0.0.1",
	} {
		st, err := Open(context.Background(), dsn)
		if err == nil {
			st.Close()
			t.Fatalf("Open(%q): no error", dsn)
		}
		if !errors.Is(err, ErrConninfo) {
			t.Errorf("Open(%q) = %v, want ErrConninfo", dsn, err)
		}
		if got := err.Error(); strings.Contains(got, "s3cret") {
			t.Errorf("error repeats the password: %s", got)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("files created in the working directory: %v", ents)
	}
	for _, p := range []string{filepath.Join(dir, "host=1.db"), filepath.Join(dir, "sub", "user=x.db")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		st, err := Open(context.Background(), p)
		if err != nil {
			t.Fatalf("Open(%q): %v", p, err)
		}
		st.Close()
	}
}
