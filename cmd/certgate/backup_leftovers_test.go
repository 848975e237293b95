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

// TestBackupForceRenameFails: when backup --force has moved the earlier
// backup aside and the new one then cannot take OUT's place (the rename
// fails: a full or read-only file system, another process creating OUT),
// the earlier backup is moved back to OUT and the error says it is
// unchanged. It used to be removed with the new one, leaving no backup.
func TestBackupForceRenameFails(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "b")
	tmp := filepath.Join(dir, ".b.backup-1")
	for _, d := range []string{out, tmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(out, "certgate.db"), []byte("earlier"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "certgate.db"), []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	injected := errors.New("injected rename failure")
	rename := func(oldpath, newpath string) error {
		if oldpath == tmp {
			return injected
		}
		return os.Rename(oldpath, newpath)
	}
	err := putBackupInPlace(tmp, out, true, rename)
	if !errors.Is(err, injected) || !strings.Contains(err.Error(), "earlier backup at "+out+" is unchanged") {
		t.Fatalf("putBackupInPlace: %v, want the injected error and that the earlier backup is unchanged", err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "certgate.db")); err != nil || string(b) != "earlier" {
		t.Fatalf("OUT after the failed rename: %q, %v; want the earlier backup back", b, err)
	}
	if _, err := os.Lstat(tmp + ".old"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s.old still there after it was moved back: %v", tmp, err)
	}

	// Moving the earlier backup back fails too: the error says where it is.
	rename = func(oldpath, newpath string) error {
		if oldpath == tmp || newpath == out {
			return injected
		}
		return os.Rename(oldpath, newpath)
	}
	err = putBackupInPlace(tmp, out, true, rename)
	if err == nil || !strings.Contains(err.Error(), "kept at "+tmp+".old") {
		t.Fatalf("putBackupInPlace: %v, want the earlier backup's place named", err)
	}
	if b, err := os.ReadFile(filepath.Join(tmp+".old", "certgate.db")); err != nil || string(b) != "earlier" {
		t.Fatalf("earlier backup at %s.old: %q, %v", tmp, b, err)
	}

	// And the rename that works: the new backup in place, the earlier one gone.
	if err := os.Rename(tmp+".old", out); err != nil {
		t.Fatal(err)
	}
	if err := putBackupInPlace(tmp, out, true, os.Rename); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "certgate.db")); err != nil || string(b) != "new" {
		t.Fatalf("OUT: %q, %v; want the new backup", b, err)
	}
	if _, err := os.Lstat(tmp + ".old"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("earlier backup not removed: %v", err)
	}
}
