package main

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/certgate/certgate/internal/testenv"
)

// sqliteSerials returns the serials of the certificates table (table
// "certificates") or of the reserved serials (table "serials") of the
// SQLite database at path, read beside a server that may be writing it.
func sqliteSerials(t *testing.T, path, table string) map[string]bool {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT serial FROM ` + table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got[s] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// checkMode fails t unless path has the permission bits want.
func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
	}
}

// TestBackupWhileServing: `certgate backup` copies the SQLite database and
// the CA of a data directory while `certgate serve` issues certificates on
// it (there was no such command: docs/operations.md told how to run
// sqlite3's .backup by hand, and to copy the CA apart). The backup is
// readable by its owner only, never replaces an existing one without
// --force; `certgate restore` puts it into a new data directory, which a
// server serves with the same CA and every certificate recorded before
// the backup began; the certificates it then issues reuse no serial the
// first server reserved, before or after the backup.
func TestBackupWhileServing(t *testing.T) {
	env := testenv.New(t)
	data := env.Config.Data
	db := filepath.Join(data, "certgate.db")
	for i := range 2 {
		env.IssueHTTP01(t, fmt.Sprintf("before%d.example.test", i))
	}

	// Issue certificates without pause while the backup runs.
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	received := map[string]bool{}
	first := make(chan struct{})
	done := make(chan struct{})
	// On a failure, the loop ends before the server stops (t.Cleanup).
	defer func() { cancel(); <-done }()
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			_, _, chain := env.IssueHTTP01(t, fmt.Sprintf("during%d.example.test", i))
			c, err := x509.ParseCertificate(chain[0])
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			received[c.SerialNumber.Text(16)] = true
			mu.Unlock()
			if i == 0 {
				close(first)
			}
		}
	}()
	select {
	case <-first:
	case <-done:
		t.Fatal("the issuing loop ended before its first certificate")
	}
	before := sqliteSerials(t, db, "certificates")
	out := filepath.Join(t.TempDir(), "backup")
	stdout, stderr, err := runCLI(t, nil, "backup", "--data", data, "--out", out)
	if err != nil {
		t.Fatalf("backup while serving: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "backed up") || !strings.Contains(stderr, "private keys") {
		t.Errorf("backup printed %q, %q", stdout, stderr)
	}
	// One more certificate after the backup, then stop issuing.
	_, _, chain := env.IssueHTTP01(t, "after.example.test")
	if c, err := x509.ParseCertificate(chain[0]); err == nil {
		mu.Lock()
		received[c.SerialNumber.Text(16)] = true
		mu.Unlock()
	}
	cancel()
	<-done
	t.Logf("%d certificates recorded before the backup began, %d received by the loop issuing beside it", len(before), len(received))

	checkMode(t, out, 0o700)
	checkMode(t, filepath.Join(out, "certgate.db"), 0o600)
	checkMode(t, filepath.Join(out, "ca"), 0o700)
	keys, _ := filepath.Glob(filepath.Join(out, "ca", "*"))
	if len(keys) < 4 {
		t.Fatalf("the backup's ca directory holds %v", keys)
	}
	for _, k := range keys {
		checkMode(t, k, 0o600)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".backup.backup-*")); len(left) > 0 {
		t.Errorf("the backup left %v", left)
	}

	// An existing backup is not replaced without --force.
	_, _, err = runCLI(t, nil, "backup", "--data", data, "--out", out)
	if err == nil || !strings.Contains(err.Error(), "exists") || strings.Contains(err.Error(), "\n") {
		t.Errorf("backup onto an existing --out: %v, want one line refusing", err)
	}
	if _, _, err := runCLI(t, nil, "backup", "--data", data, "--out", filepath.Join(t.TempDir(), "b2"), "--force"); err != nil {
		t.Errorf("backup --force to a new path: %v", err)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if _, stderr, err := runCLI(t, nil, "restore", "--from", out, "--data", restored); err != nil {
		t.Fatalf("restore: %v\n%s", err, stderr)
	}
	checkMode(t, filepath.Join(restored, "certgate.db"), 0o600)
	checkMode(t, filepath.Join(restored, "ca", "intermediate.key"), 0o600)
	// A second restore onto it is refused, naming what is there.
	if _, _, err := runCLI(t, nil, "restore", "--from", out, "--data", restored); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("restore onto a restored data directory: %v, want a refusal", err)
	}

	issuedByFirst := sqliteSerials(t, db, "serials")
	for s := range received {
		issuedByFirst[s] = true
	}
	env2 := testenv.NewWithOptions(t, testenv.Options{Data: restored})
	if !env2.Server.CA().Root().Equal(env.Server.CA().Root()) {
		t.Fatal("the restored server has another root")
	}
	have := sqliteSerials(t, filepath.Join(restored, "certgate.db"), "certificates")
	for s := range before {
		if !have[s] {
			t.Errorf("certificate %s, recorded before the backup, is not in the restored database", s)
		}
	}
	if out, _, err := runCLI(t, nil, "cert", "list", "--data", restored, "--limit", "1000"); err != nil || strings.Count(out, "example.test") < len(before)-1 { // before holds the listener certificate (localhost) too
		t.Errorf("cert list on the restored data directory: %v\n%s", err, out)
	}
	for i := range 3 {
		_, _, chain := env2.IssueHTTP01(t, fmt.Sprintf("restored%d.example.test", i))
		c, err := x509.ParseCertificate(chain[0])
		if err != nil {
			t.Fatal(err)
		}
		if s := c.SerialNumber.Text(16); issuedByFirst[s] {
			t.Errorf("the restored server reused serial %s", s)
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: env.Roots, Intermediates: intermediates(chain[1:])}); err != nil {
			t.Errorf("a certificate of the restored server does not verify to the first server's root: %v", err)
		}
	}
}

// intermediates is a pool of the DER certificates ders.
func intermediates(ders [][]byte) *x509.CertPool {
	p := x509.NewCertPool()
	for _, d := range ders {
		if c, err := x509.ParseCertificate(d); err == nil {
			p.AddCert(c)
		}
	}
	return p
}

// TestBackupPostgresOneLine: `certgate backup` and `certgate restore` given
// a PostgreSQL database say in one line that pg_dump is the tool and that
// DATA/ca must be kept beside the dump. restore said what backup says
// ("certgate backup copies a SQLite database; back up PostgreSQL with
// pg_dump"): it names itself and pg_restore now.
func TestBackupPostgresOneLine(t *testing.T) {
	for _, c := range []struct {
		cmd       []string
		want, not string
	}{
		{[]string{"backup", "--out", filepath.Join(t.TempDir(), "b")}, "certgate backup copies a SQLite database; back up PostgreSQL with pg_dump", "restore"},
		{[]string{"restore", "--from", t.TempDir()}, "certgate restore restores a SQLite backup of 'certgate backup'; restore PostgreSQL from its pg_dump with pg_restore", "back up PostgreSQL"},
	} {
		_, _, err := runCLI(t, nil, append(c.cmd, "--data", t.TempDir(), "--db", "postgres://u@127.0.0.1:1/x")...)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), c.not) ||
			!strings.Contains(err.Error(), "DATA/ca") {
			t.Errorf("%s with PostgreSQL: %v, want one line saying %q and naming DATA/ca", c.cmd[0], err, c.want)
		}
	}
}

// TestRestoreRefusesBackupWithoutCA: a --from holding certgate.db but no
// ca/ (not a whole backup) was refused as `local CA: directory is
// partially initialised: DIR/ca has  but lacks root.crt, ...; restore the
// missing files or empty the directory` (an empty list, of a directory
// that does not exist, and advice that does not apply), and the refused
// restore left the new --data directory behind with a certgate.lock in
// it. It says the backup holds no CA now, and a refused restore (this one,
// or one failing later, writing the database) leaves no new data
// directory.
func TestRestoreRefusesBackupWithoutCA(t *testing.T) {
	env := testenv.New(t)
	out := filepath.Join(t.TempDir(), "backup")
	if _, stderr, err := runCLI(t, nil, "backup", "--data", env.Config.Data, "--out", out); err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr)
	}
	onlyDB := t.TempDir()
	db, err := os.ReadFile(filepath.Join(out, "certgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(onlyDB, "certgate.db"), db, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, emptyCA := range []bool{false, true} {
		if emptyCA {
			if err := os.Mkdir(filepath.Join(onlyDB, "ca"), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		to := filepath.Join(t.TempDir(), "restored")
		_, _, err := runCLI(t, nil, "restore", "--from", onlyDB, "--data", to)
		want := onlyDB + " is not a whole backup of 'certgate backup': it holds certgate.db but no CA (" + filepath.Join(onlyDB, "ca") + ")"
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "partially") || strings.Contains(err.Error(), "\n") {
			t.Errorf("restore of a backup without a CA (ca/ there, empty: %v): %v, want one line starting %q", emptyCA, err, want)
		}
		if _, err := os.Lstat(to); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the refused restore left %s (%v)", to, err)
		}
	}

	// Refused once the data directory is locked: the database cannot be
	// written where --db names it.
	to := filepath.Join(t.TempDir(), "restored")
	missing := filepath.Join(t.TempDir(), "none")
	if _, _, err := runCLI(t, nil, "restore", "--from", out, "--data", to, "--db", filepath.Join(missing, "x.db")); err == nil {
		t.Error("restore to a database in a missing directory succeeded")
	} else if !strings.Contains(err.Error(), "the directory of "+filepath.Join(missing, "x.db")) || strings.Contains(err.Error(), ".restore-") {
		// It named the temporary file made there: open .../.x.db.restore-NNN.
		t.Errorf("restore to a database in a missing directory: %v, want the directory named", err)
	}
	if _, err := os.Lstat(to); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused restore left %s (%v)", to, err)
	}
}

// TestBackupOutRefusals: `certgate backup --force` replaces an earlier
// backup only. Given the data directory (or a directory holding it) as
// --out, it moved the live data directory aside and removed it, database,
// CA keys and lock included, and put the backup in its place; given any
// other directory, it removed it and all it held. An --out inside the CA
// directory is refused too.
func TestBackupOutRefusals(t *testing.T) {
	env := testenv.New(t)
	data := env.Config.Data
	db := filepath.Join(data, "certgate.db")
	other := t.TempDir()
	keep := filepath.Join(other, "notes.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "data-link")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ out, want string }{
		{data, "data directory"},
		{filepath.Dir(data), "data directory"},
		{link, "data directory"},
		{filepath.Join(data, "ca"), "CA directory"},
		{filepath.Join(data, "ca", "bk"), "CA directory"},
		{db, "database"},
		{other, "not a backup"},
	} {
		_, _, err := runCLI(t, nil, "backup", "--data", data, "--out", c.out, "--force")
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("backup --out %s --force: %v, want one line naming the %s", c.out, err, c.want)
		}
	}
	for _, p := range []string{db, filepath.Join(data, "ca", "intermediate.key"), keep} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("after the refused backups: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "ca", "bk")); err == nil {
		t.Error("a backup was written into the CA directory")
	}
	env.IssueHTTP01(t, "still.example.test")

	// An earlier backup is replaced.
	out := filepath.Join(t.TempDir(), "backup")
	for range 2 {
		if _, stderr, err := runCLI(t, nil, "backup", "--data", data, "--out", out, "--force"); err != nil {
			t.Fatalf("backup --force over an earlier backup: %v\n%s", err, stderr)
		}
	}
	if n := sqliteSerials(t, filepath.Join(out, "certgate.db"), "certificates"); len(n) == 0 {
		t.Error("the replacing backup holds no certificate")
	}
}

// TestRestoreRefusesDataDirectory: `certgate restore --from` a data
// directory (not a backup) copied certgate.db without its -wal file: with
// a server running on it, the file held none of the committed
// transactions, yet the check read them through the WAL and the restore
// reported the schema and certificates it did not write. Refused now,
// as is a database with a -wal beside it (a server killed).
func TestRestoreRefusesDataDirectory(t *testing.T) {
	env := testenv.New(t)
	data := env.Config.Data
	env.IssueHTTP01(t, "live.example.test")
	to := filepath.Join(t.TempDir(), "restored")
	_, _, err := runCLI(t, nil, "restore", "--from", data, "--data", to)
	if err == nil || !strings.Contains(err.Error(), "is a data directory") || strings.Contains(err.Error(), "\n") {
		t.Errorf("restore --from a running server's data directory: %v, want one line refusing", err)
	}
	if _, err := os.Stat(filepath.Join(to, "certgate.db")); err == nil {
		t.Error("the refused restore wrote a database")
	}

	// A backup directory with a WAL beside its database.
	out := filepath.Join(t.TempDir(), "backup")
	if _, stderr, err := runCLI(t, nil, "backup", "--data", data, "--out", out); err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr)
	}
	if err := os.WriteFile(filepath.Join(out, "certgate.db-wal"), []byte("wal"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, nil, "restore", "--from", out, "--data", filepath.Join(t.TempDir(), "restored2"))
	if err == nil || !strings.Contains(err.Error(), "-wal file") {
		t.Errorf("restore of a database with a -wal beside it: %v, want a refusal naming the -wal file", err)
	}
}
