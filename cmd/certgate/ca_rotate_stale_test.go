package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// copyTree copies the directory src to dst (which must not exist), with
// the files' modes, as `cp -a` does.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(to, fi.Mode().Perm())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// treeOf returns the files under dir and their contents.
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameTree fails the test when dir's files are not those of before.
func sameTree(t *testing.T, what, dir string, before map[string]string) {
	t.Helper()
	after := treeOf(t, dir)
	if len(after) != len(before) {
		t.Errorf("%s changed %s: %d files, %d before", what, dir, len(after), len(before))
		return
	}
	for p, b := range before {
		if after[p] != b {
			t.Errorf("%s changed %s", what, p)
		}
	}
}

// auditCount is the number of audit events of action in the database dsn.
func auditCount(t *testing.T, dsn, action string) int {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenExisting(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := audit.New(st, nil).List(ctx, store.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// wantRefused fails the test unless err is one line holding each of want.
func wantRefused(t *testing.T, what string, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: accepted, want refused", what)
		return
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("%s: %q, want one line", what, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: %q, want it to say %q", what, err, w)
		}
	}
}

// TestCARotateRefusesStaleCA: two copies of a stopped node's DATA/ca on
// one database. `ca rotate` on the first moves the database's intermediate
// on; on the second (stale) copy, `ca rotate` and `ca revoke-intermediate`
// are refused in one line, before touching DATA/ca, with no audit event:
// the former code rotated (exit 0, "signs from the next start on"),
// recorded a second intermediate.rotate event and left a node that serve
// refuses, and re-signed the stale copy's root CRL. A database that
// recorded a rotation of DATA/ca it did not see is refused too, pointing
// to serve, which records it; a database with no CA yet still works.
func TestCARotateRefusesStaleCA(t *testing.T) {
	testCARotateRefusesStaleCA(t, func(t *testing.T, d string) string {
		dsn := filepath.Join(t.TempDir(), "shared.db")
		b, err := os.ReadFile(filepath.Join(d, "certgate.db"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dsn, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return dsn
	})
}

// TestCARotateRefusesStaleCAPostgres is TestCARotateRefusesStaleCA on a
// PostgreSQL database.
func TestCARotateRefusesStaleCAPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	testCARotateRefusesStaleCA(t, func(*testing.T, string) string { return dsn })
}

// testCARotateRefusesStaleCA runs TestCARotateRefusesStaleCA with the
// database that shared returns (a copy of d's, or the one d served on).
func testCARotateRefusesStaleCA(t *testing.T, shared func(t *testing.T, d string) string) {
	base := t.TempDir()
	d := filepath.Join(base, "D")
	var dsn, old string
	t.Run("serve", func(t *testing.T) {
		var db string
		if strings.HasSuffix(t.Name(), "Postgres/serve") {
			db = shared(t, "")
		}
		srv, err := startNode(t, d, db)
		if err != nil {
			t.Fatal(err)
		}
		old = local.IntermediateID(srv.CA().Intermediate())
	})
	if t.Failed() {
		t.FailNow()
	}
	dsn = shared(t, d)
	a, b := filepath.Join(base, "A"), filepath.Join(base, "B")
	copyTree(t, server.CADir(d), server.CADir(a))
	copyTree(t, server.CADir(d), server.CADir(b))
	// The database of D's CA before any rotation, for the last case.
	dBefore := filepath.Join(base, "before.db")
	if !strings.HasPrefix(dsn, "postgres") {
		copyTree(t, filepath.Join(d, "certgate.db"), dBefore)
	}

	if _, _, err := runCLI(t, nil, "ca", "rotate", "--data", a, "--db", dsn); err != nil {
		t.Fatal(err)
	}
	cur, err := local.ReadIntermediate(server.CADir(a))
	if err != nil {
		t.Fatal(err)
	}
	a1 := local.IntermediateID(cur)

	before := treeOf(t, server.CADir(b))
	out, _, err := runCLI(t, nil, "ca", "rotate", "--data", b, "--db", dsn)
	wantRefused(t, "rotate on the stale copy", err, "nothing rotated", "sign with the intermediate "+a1, server.CADir(b)+" signs with "+old, "stale", "certgate ca export")
	if out != "" {
		t.Errorf("rotate on the stale copy printed %q", out)
	}
	sameTree(t, "rotate on the stale copy", server.CADir(b), before)
	if n := auditCount(t, dsn, audit.ActionIntermediateRotate); n != 1 {
		t.Errorf("%d intermediate.rotate events, want the first rotation's only", n)
	}

	// C: a copy of A's CA after its first rotation (old retired); A
	// rotates again, C is stale and cannot revoke old either.
	c := filepath.Join(base, "C")
	copyTree(t, server.CADir(a), server.CADir(c))
	if _, _, err := runCLI(t, nil, "ca", "rotate", "--data", a, "--db", dsn); err != nil {
		t.Fatal(err)
	}
	before = treeOf(t, server.CADir(c))
	_, _, err = runCLI(t, nil, "ca", "revoke-intermediate", old, "--data", c, "--db", dsn)
	wantRefused(t, "revoke-intermediate on the stale copy", err, "nothing revoked", server.CADir(c)+" signs with "+a1, "stale")
	sameTree(t, "revoke-intermediate on the stale copy", server.CADir(c), before)
	if n := auditCount(t, dsn, audit.ActionIntermediateRevoke); n != 0 {
		t.Errorf("%d intermediate.revoke events, want none", n)
	}
	// On A, whose CA is the database's: revoked.
	if _, _, err := runCLI(t, nil, "ca", "revoke-intermediate", old, "--data", a, "--db", dsn); err != nil {
		t.Errorf("revoke-intermediate on the node whose CA is the database's: %v", err)
	}

	if strings.HasPrefix(dsn, "postgres") {
		return
	}
	// The database of before the rotations: it names old, which A retired.
	before = treeOf(t, server.CADir(a))
	_, _, err = runCLI(t, nil, "ca", "rotate", "--data", a, "--db", dBefore)
	wantRefused(t, "rotate with a database behind DATA/ca", err, "nothing rotated", old, "retired", "certgate serve")
	sameTree(t, "rotate with a database behind DATA/ca", server.CADir(a), before)

	// A database no server has used with a CA: works as before.
	fresh := filepath.Join(base, "fresh.db")
	st, err := store.Open(context.Background(), fresh)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, _, err := runCLI(t, nil, "ca", "rotate", "--data", a, "--db", fresh); err != nil {
		t.Errorf("rotate with a database without a CA: %v", err)
	}
}

// TestCARotateRefusesAnotherCAsDatabase: `ca rotate` and `ca
// revoke-intermediate` on one node's data directory with another
// server's database (another root) are refused in one line, changing
// neither DATA/ca nor that database's audit log. The former code rotated
// d2's CA, or re-signed its root CRL, and logged it in d1's audit log.
func TestCARotateRefusesAnotherCAsDatabase(t *testing.T) {
	base := t.TempDir()
	d1, d2 := filepath.Join(base, "d1"), filepath.Join(base, "d2")
	for _, d := range []string{d1, d2} {
		t.Run("serve", func(t *testing.T) {
			if _, err := startNode(t, d, ""); err != nil {
				t.Fatal(err)
			}
		})
	}
	if t.Failed() {
		t.FailNow()
	}
	inter, err := local.ReadIntermediate(server.CADir(d2))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, nil, "ca", "rotate", "--data", d2); err != nil {
		t.Fatal(err)
	}
	d1db := filepath.Join(d1, "certgate.db")
	before := treeOf(t, server.CADir(d2))
	for _, args := range [][]string{
		{"rotate", "--data", d2, "--db", d1db},
		{"revoke-intermediate", local.IntermediateID(inter), "--data", d2, "--db", d1db},
	} {
		_, _, err := runCLI(t, nil, append([]string{"ca"}, args...)...)
		wantRefused(t, args[0]+" with another CA's database", err, "nothing", "the database belongs to the CA with root SHA-256", "holds another CA", "--db")
	}
	sameTree(t, "the commands with another CA's database", server.CADir(d2), before)
	for _, action := range []string{audit.ActionIntermediateRotate, audit.ActionIntermediateRevoke} {
		if n := auditCount(t, d1db, action); n != 0 {
			t.Errorf("%d %s events in d1's database, want none", n, action)
		}
	}
}

// TestLostRotation: a rotation whose compare-and-set of the database's
// intermediate moved nothing is an error naming the intermediate the
// database names instead, unless the database names none (no server has
// used it with the CA yet: the next start records it).
func TestLostRotation(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(data, "certgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := lostRotation(ctx, st, data, "new"); err != nil {
		t.Errorf("no intermediate recorded: %v, want nil", err)
	}
	if _, err := st.InitSetting(ctx, server.IntermediateSetting, "other"); err != nil {
		t.Fatal(err)
	}
	err = lostRotation(ctx, st, data, "new")
	wantRefused(t, "another intermediate recorded meanwhile", err, "rotated the intermediate to new", "names other", "not recorded", "do not rotate again")
}
