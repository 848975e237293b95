package cmpupstream

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRemoveStaleTempDirs: the working directories of a certgate process
// that ended without removing them (its lock released) are removed; one
// in use (locked) is kept whatever PID its process has, and so are a
// directory without a lock file and names of another form. A certgate
// killed mid-enrollment left its directory, with the certificate openssl
// received, in /tmp for good.
func TestRemoveStaleTempDirs(t *testing.T) {
	dir := t.TempDir()
	live, err := makeTempDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer live.remove()
	dead, err := makeTempDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dead.path, "cert.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	dead.lock.Close() // what the kernel does when its process is killed
	noLock := filepath.Join(dir, tempPrefix+"nolock")
	other := filepath.Join(dir, "other")
	for _, d := range []string{noLock, other} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// A symlink named like one: not followed, not removed.
	target := t.TempDir()
	link := filepath.Join(dir, tempPrefix+"link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	n, err := removeStaleTempDirs(dir)
	if err != nil || n != 1 {
		t.Fatalf("removeStaleTempDirs = %d, %v; want 1", n, err)
	}
	for d, want := range map[string]bool{dead.path: false, live.path: true, noLock: true, other: true, link: true, target: true} {
		if _, err := os.Lstat(d); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", d, err == nil, want)
		}
	}
}

// TestOpenSSLDiesWithCertgate: an openssl process started by run is
// killed when the certgate process that started it dies (kill -9), where
// it went on and finished the enrollment. The test runs itself as the
// "certgate" process (CMP_DEATHSIG_CHILD), with a shell script as openssl
// that writes its PID and sleeps.
func TestOpenSSLDiesWithCertgate(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux's")
	}
	if pidFile := os.Getenv("CMP_DEATHSIG_CHILD"); pidFile != "" {
		script := filepath.Join(filepath.Dir(pidFile), "openssl")
		is := &Issuer{cfg: Config{Server: "http://127.0.0.1:1/pkix/"}, timeout: time.Minute, openssl: script, log: slog.New(slog.DiscardHandler)}
		is.run(context.Background(), "p10cr")
		os.Exit(0)
	}
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	script := "#!/bin/sh\necho $$ > " + pidFile + ".tmp && mv " + pidFile + ".tmp " + pidFile + "\nexec sleep 60\n"
	if err := os.WriteFile(filepath.Join(dir, "openssl"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^TestOpenSSLDiesWithCertgate$")
	child.Env = append(os.Environ(), "CMP_DEATHSIG_CHILD="+pidFile)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	for deadline := time.Now().Add(20 * time.Second); pid == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			child.Process.Kill()
			t.Fatal("the stand-in openssl did not start")
		}
		if b, err := os.ReadFile(pidFile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	for deadline := time.Now().Add(10 * time.Second); alive(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("openssl (pid %d) still runs 10 s after certgate was killed", pid)
		}
	}
}

// alive reports whether pid runs: it exists and is not a zombie waiting
// for a parent to reap it.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}
