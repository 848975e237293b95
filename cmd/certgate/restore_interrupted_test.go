package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/testenv"
)

// restoreKilled is the panic with which a test stops `certgate restore`
// at a step, as a kill would: nothing after it runs (the deferred lock
// releases do, as the kernel's would).
type restoreKilled struct{}

// restoreKilledAt runs `certgate restore args` stopped after step
// (afterRestoreStep) and fails t unless it stopped there.
func restoreKilledAt(t *testing.T, step string, args ...string) {
	t.Helper()
	afterRestoreStep = func(s string) {
		if s == step {
			panic(restoreKilled{})
		}
	}
	defer func() {
		afterRestoreStep = func(string) {}
		r := recover()
		if _, ok := r.(restoreKilled); !ok {
			if r != nil {
				panic(r)
			}
			t.Fatalf("restore %v was not stopped after the step %q", args, step)
		}
	}()
	_, stderr, err := runCLI(t, nil, append([]string{"restore"}, args...)...)
	t.Fatalf("restore %v ended: %v\n%s", args, err, stderr)
}

// TestRestoreInterrupted: a `certgate restore` killed after it put the
// database in place, before the CA, left DATA/certgate.db without DATA/ca
// (and the CA's temporary directory, holding its keys): the restore run
// again refused ("certgate.db exists"), and serve took the database for
// one whose CA was lost. Now serve refuses with the command that finishes
// the restore (having removed the keys' leftover), and that restore undoes
// what the killed one wrote and restores anew, after which the server
// serves the backup. A restore killed after the CA too is only marked
// complete by the next.
func TestRestoreInterrupted(t *testing.T) {
	env := testenv.New(t)
	env.IssueHTTP01(t, "backed-up.example.test")
	out := filepath.Join(t.TempDir(), "backup")
	if _, stderr, err := runCLI(t, nil, "backup", "--data", env.Config.Data, "--out", out); err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr)
	}
	wantRoot := local.Fingerprint(env.Server.CA().Root())
	leftover := func(data string) string {
		t.Helper()
		dir := filepath.Join(data, ".ca.import-123")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "intermediate.key"), []byte("key"), 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	gone := func(what string, paths ...string) {
		t.Helper()
		for _, p := range paths {
			if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: %s is there (%v)", what, p, err)
			}
		}
	}
	serves := func(data string) {
		t.Helper()
		srv, err := startNode(t, data, "")
		if err != nil {
			t.Fatalf("serve on the restored %s: %v", data, err)
		}
		if got := local.Fingerprint(srv.CA().Root()); got != wantRoot {
			t.Errorf("serves root %s, want the backup's %s", got, wantRoot)
		}
		if n := sqliteSerials(t, server.DSN(data, ""), "certificates"); len(n) == 0 {
			t.Error("the restored database holds no certificate")
		}
	}

	t.Run("database", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "restored")
		db, marker := server.DSN(data, ""), filepath.Join(data, server.RestoreMarkerFile)
		restoreKilledAt(t, "database", "--from", out, "--data", data)
		if _, err := os.Stat(db); err != nil {
			t.Fatalf("the database is not in place after the step: %v", err)
		}
		gone("killed before the CA", server.CADir(data))
		tmp := leftover(data)
		_, err := startNode(t, data, "")
		want := "a certgate restore into " + data + " was interrupted"
		cmd := "certgate restore --data " + data + " --from " + out
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasSuffix(err.Error(), cmd) {
			t.Errorf("serve after the interrupted restore: %v; want %q and the command %q", err, want, cmd)
		}
		gone("serve refused", tmp)
		if _, err := os.Stat(marker); err != nil {
			t.Errorf("serve removed the mark of the interrupted restore: %v", err)
		}

		tmp = leftover(data)
		stdout, stderr, err := runCLI(t, nil, "restore", "--from", out, "--data", data)
		if err != nil {
			t.Fatalf("restore again: %v\n%s", err, stderr)
		}
		for _, want := range []string{"removed " + tmp, "removed " + db + ", put there by the interrupted restore from " + out,
			"undid the interrupted restore"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("restore again said on stderr:\n%s\nwant %q", stderr, want)
			}
		}
		if !strings.Contains(stdout, "restored ") || !strings.Contains(stdout, wantRoot) {
			t.Errorf("restore again: %q", stdout)
		}
		gone("restored", marker, tmp)
		serves(data)
	})

	t.Run("db", func(t *testing.T) { // --db outside the data directory
		data := filepath.Join(t.TempDir(), "restored")
		db := filepath.Join(t.TempDir(), "elsewhere.db")
		restoreKilledAt(t, "database", "--from", out, "--data", data, "--db", db)
		_, err := startNode(t, data, db)
		cmd := "certgate restore --data " + data + " --db " + db + " --from " + out
		if err == nil || !strings.HasSuffix(err.Error(), cmd) {
			t.Errorf("serve after the interrupted restore: %v; want the command %q", err, cmd)
		}
		if _, stderr, err := runCLI(t, nil, "restore", "--from", out, "--data", data, "--db", db); err != nil ||
			!strings.Contains(stderr, "removed "+db+", put there by the interrupted restore") {
			t.Fatalf("restore again: %v\n%s", err, stderr)
		}
		if _, err := startNode(t, data, db); err != nil {
			t.Errorf("serve on the restored %s: %v", data, err)
		}
	})

	t.Run("ca", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "restored")
		marker := filepath.Join(data, server.RestoreMarkerFile)
		restoreKilledAt(t, "ca", "--from", out, "--data", data)
		if _, err := startNode(t, data, ""); err == nil || !strings.Contains(err.Error(), "was interrupted") {
			t.Errorf("serve after the interrupted restore: %v; want it refused", err)
		}
		stdout, stderr, err := runCLI(t, nil, "restore", "--from", out, "--data", data)
		if err != nil || !strings.Contains(stderr, "completed it") || !strings.Contains(stdout, wantRoot) {
			t.Fatalf("restore again: %v\n%s%s", err, stdout, stderr)
		}
		gone("restored", marker)
		serves(data)
	})
}
