package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/certgate/certgate/internal/testenv"
)

// TestBackupRemovesLeftovers: `certgate backup` killed with SIGKILL (OOM,
// a cron timeout) before its rename left OUT's temporary directory
// .OUT.backup-NNN (mode 0700: a copy of the database, EAB HMAC keys and
// API token hashes included, and of the CA's keys), and killed between
// its two renames the earlier backup moved aside (.OUT.backup-NNN.old);
// no later backup removed them, so each killed run added a copy. The
// next backup to the same --out removes them and says so on stderr; it
// leaves alone the directories of a backup still running (it holds the
// temporary directory's flock), and names that only start alike.
func TestBackupRemovesLeftovers(t *testing.T) {
	env := testenv.New(t)
	data := env.Config.Data
	dir := t.TempDir()
	out := filepath.Join(dir, "b1")
	if _, stderr, err := runCLI(t, nil, "backup", "--data", data, "--out", out); err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr)
	}
	mkdir := func(name string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "certgate.db"), []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leftovers := []string{mkdir(".b1.backup-123"), mkdir(".b1.backup-456.old")}
	running := mkdir(".b1.backup-789") // locked below: its backup runs
	kept := []string{running, mkdir(".b1.backup-789.old"), mkdir(".b1.backup-x1"), mkdir(".b1.backup-12.tmp"), mkdir(".b2.backup-5")}
	f, err := os.Open(running)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}

	_, stderr, err := runCLI(t, nil, "backup", "--data", data, "--out", out, "--force")
	if err != nil {
		t.Fatalf("backup --force: %v\n%s", err, stderr)
	}
	for _, p := range leftovers {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there (%v)", p, err)
		}
		if !strings.Contains(stderr, "removed "+p+", the leftover of an interrupted backup\n") {
			t.Errorf("removal of %s not reported: %q", p, stderr)
		}
	}
	for _, p := range kept {
		if _, err := os.Stat(filepath.Join(p, "certgate.db")); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "certgate.db")); err != nil {
		t.Errorf("the backup: %v", err)
	}

	// Killed between its renames: OUT missing, the earlier backup moved
	// aside. It is kept until the new backup is in place, then removed.
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	moved := mkdir(".b1.backup-321.old")
	f.Close() // that backup died too
	if removed, err := removeBackupLeftovers(out); err != nil || len(removed) != 1 || removed[0] != running {
		t.Errorf("with OUT missing: removed %q (%v), want %s only", removed, err, running)
	}
	for _, p := range []string{moved, kept[1]} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("with OUT missing, the earlier backup moved aside was removed: %v", err)
		}
	}
	_, stderr, err = runCLI(t, nil, "backup", "--data", data, "--out", out)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr)
	}
	for _, p := range []string{moved, running, kept[1]} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there (%v)", p, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != ".b1.backup-12.tmp .b1.backup-x1 .b2.backup-5 b1" {
		t.Errorf("left in %s: %s", dir, got)
	}
}
