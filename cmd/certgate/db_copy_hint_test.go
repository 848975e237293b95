package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/testenv"
)

// hintCA and hintServe match the commands of db copy's "next:" line: the
// copy of the CA into the target's data directory, and the start.
var (
	hintCA    = regexp.MustCompile(`^next: certgate ca export --data (\S+) --with-retired \| certgate ca import --data (\S+), then `)
	hintServe = regexp.MustCompile(`^(?:next: )?certgate serve --data (\S+)(?: --db (\S+))?[,;]`)
)

// runCopyHint runs what the "next:" line hint of `certgate db copy`
// says, as printed (DATA, where the source's data directory is not
// known, replaced by data): the CA's copy with `certgate ca export |
// certgate ca import`, if any, then `certgate serve`, as a test server
// whose root must be root's and which must issue a certificate.
func runCopyHint(t *testing.T, hint, data string, root []byte) {
	t.Helper()
	if !strings.HasSuffix(hint, "\n") || strings.Count(hint, "\n") != 1 {
		t.Fatalf("hint %q: want one line", hint)
	}
	rest := hint
	if m := hintCA.FindStringSubmatch(hint); m != nil {
		from := m[1]
		if from == "DATA" {
			from = data
		}
		bundle, stderr, err := runCLI(t, nil, "ca", "export", "--data", from, "--with-retired")
		if err != nil {
			t.Fatalf("%s: ca export: %v\n%s", hint, err, stderr)
		}
		if _, stderr, err := runCLI(t, []byte(bundle), "ca", "import", "--data", m[2]); err != nil {
			t.Fatalf("%s: ca import: %v\n%s", hint, err, stderr)
		}
		rest = hint[len(m[0]):]
	}
	m := hintServe.FindStringSubmatch(rest)
	if m == nil {
		t.Fatalf("hint %q names no certgate serve --data DIR [--db DB]", hint)
	}
	dir, db := m[1], m[2]
	if dir == "DATA" {
		dir = data
	}
	if db == "TO" {
		t.Fatalf("hint %q: --db TO, a placeholder, not the copy", hint)
	}
	if strings.HasPrefix(db, "'") {
		db = strings.Trim(db, "'")
	}
	env := testenv.NewWithOptions(t, testenv.Options{Data: dir, DB: db})
	if got := env.Server.CA().Root().Raw; string(got) != string(root) {
		t.Fatalf("%s: the server on the copy has another root", hint)
	}
	env.IssueHTTP01(t, "after-copy.example.test")
}

// TestDBCopyNextHintSQLite: the "next:" line of `certgate db copy` into
// SQLite said `certgate serve --data DATA --db TO, with TO the database
// given as --to`, but `serve --db DIR` fails (`unable to open database
// file`) for --to a data directory, and the copy's data directory had no
// CA. Now the line says to copy the CA into the target's data directory
// and serve that; into a SQLite file named otherwise it serves the file
// with the source's data directory; the commands work as printed.
func TestDBCopyNextHintSQLite(t *testing.T) {
	data := t.TempDir()
	var root []byte
	t.Run("source", func(t *testing.T) {
		env := testenv.NewWithOptions(t, testenv.Options{Data: data})
		root = env.Server.CA().Root().Raw
		env.IssueHTTP01(t, "before-copy.example.test")
	})
	for _, to := range []string{t.TempDir(), filepath.Join(t.TempDir(), "copy.db")} {
		_, stderr, err := runCLI(t, nil, "db", "copy", "--from", data, "--to", to)
		if err != nil {
			t.Fatalf("db copy --to %s: %v\n%s", to, err, stderr)
		}
		if strings.Contains(stderr, "--db TO") || !strings.Contains(stderr, "--data "+data) {
			t.Errorf("db copy --to %s: hint %q, want the source's data directory and no placeholder", to, stderr)
		}
		t.Run(filepath.Base(to), func(t *testing.T) { runCopyHint(t, stderr, data, root) })
	}
}

// TestCopyNextHintKinds: the "next:" line for each kind of source and
// target: the target itself after --db (a URL in single quotes, and TO
// instead when it holds a password), DATA said where the source's data
// directory is not known, the CA copied into a SQLite target's data
// directory unless it holds one.
func TestCopyNextHintKinds(t *testing.T) {
	withCA := t.TempDir()
	initDataDir(t, withCA)
	if _, _, err := runCLI(t, nil, "init", "--data", withCA); err != nil {
		t.Fatal(err)
	}
	const pg = "postgres://certgate@db:5432/certgate?sslmode=verify-full"
	for _, c := range []struct{ src, srcDir, dst, want string }{
		{"/d/certgate.db", "/d", pg,
			"next: certgate serve --data /d --db '" + pg + "'; keep /d/certgate.db until the copy has served"},
		{"/d/certgate.db", "/d", "postgres://certgate:s3cret@db/certgate",
			"next: certgate serve --data /d --db TO, with TO the URL given as --to; keep /d/certgate.db until the copy has served"},
		{"postgres://a@h/x", "", pg,
			"next: certgate serve --data DATA --db '" + pg + "', with DATA the data directory of a node that served postgres://a@h/x (its ca/ is the copy's CA); keep postgres://a@h/x until the copy has served"},
		{"postgres://a@h/x", "", "/new data/certgate.db",
			"next: certgate ca export --data DATA --with-retired | certgate ca import --data '/new data', then certgate serve --data '/new data', with DATA the data directory of a node that served postgres://a@h/x (its ca/ is the copy's CA); keep postgres://a@h/x until the copy has served"},
		{"/d/certgate.db", "/d", filepath.Join(withCA, "certgate.db"),
			"next: certgate serve --data " + withCA + "; keep /d/certgate.db until the copy has served"},
		{"/x/loose.db", "", "/y/copy.db",
			"next: certgate serve --data DATA --db /y/copy.db, with DATA the data directory that served /x/loose.db (its ca/ is the copy's CA); keep /x/loose.db until the copy has served"},
	} {
		if got := copyNextHint(c.src, c.srcDir, c.dst); got != c.want {
			t.Errorf("copy %s to %s:\n got %s\nwant %s", c.src, c.dst, got, c.want)
		}
	}
}
