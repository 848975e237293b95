package local

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestCreateKilled kills a process (this test binary, run again) while it
// creates a CA, after each file it has written, and checks that the next
// LoadOrCreate on the same directory creates a whole CA, as a first start
// killed at that moment must be able to start again: before, the files
// were written straight into the directory, and a kill after the first one
// left a partial CA that every later start refused (ErrPartialCA).
func TestCreateKilled(t *testing.T) {
	if dir := os.Getenv("CERTGATE_TEST_CA_KILL_DIR"); dir != "" {
		at := os.Getenv("CERTGATE_TEST_CA_KILL_AT")
		_, err := LoadOrCreate(dir, Options{afterWrite: func(name string) {
			if name == at {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal is on its way
			}
		}})
		t.Fatalf("LoadOrCreate returned (err %v) instead of being killed after writing %s", err, at)
	}
	for _, at := range []string{RootKeyFile, IntermediateKeyFile, RootCertFile, IntermediateCertFile} {
		t.Run(at, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "ca")
			cmd := exec.Command(os.Args[0], "-test.run=^TestCreateKilled$", "-test.count=1")
			cmd.Env = append(os.Environ(), "CERTGATE_TEST_CA_KILL_DIR="+dir, "CERTGATE_TEST_CA_KILL_AT="+at)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the creating process was not killed (err %v):\n%s", err, out)
			}
			if ok, err := Exists(dir); err != nil || ok {
				t.Errorf("after a kill while creating: Exists = %v, %v; want no CA file in %s", ok, err, dir)
			}
			ca, err := LoadOrCreate(dir, Options{})
			if err != nil {
				t.Fatalf("start after a kill while creating (after %s): %v", at, err)
			}
			left, _ := filepath.Glob(filepath.Join(parent, createPrefix(dir)+"*"))
			if len(left) > 0 {
				t.Errorf("leftovers of the killed creation stay: %v", left)
			}
			again, err := LoadOrCreate(dir, Options{})
			if err != nil || !again.Root().Equal(ca.Root()) {
				t.Fatalf("second load: %v (same root: %v)", err, err == nil && again.Root().Equal(ca.Root()))
			}
			fi, err := os.Stat(dir)
			if err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("CA directory: %v, %v; want mode 0700", fi.Mode(), err)
			}
		})
	}
}

// TestCreateInExistingDirectory: a CA directory that exists, empty or
// holding files other than the CA's, gets the new CA (mode 0700) and keeps
// the other files.
func TestCreateInExistingDirectory(t *testing.T) {
	for _, other := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "ca")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if other {
			if err := os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ca, err := LoadOrCreate(dir, Options{})
		if err != nil {
			t.Fatalf("other files %v: %v", other, err)
		}
		again, err := LoadOrCreate(dir, Options{})
		if err != nil || !again.Root().Equal(ca.Root()) {
			t.Fatalf("other files %v: reload: %v", other, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "README")); other && err != nil {
			t.Errorf("the other file is gone: %v", err)
		}
		for _, f := range []string{RootKeyFile, IntermediateKeyFile} {
			if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("other files %v: %s: %v, %v; want 0600", other, f, fi.Mode(), err)
			}
		}
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("other files %v: directory mode %v, %v; want 0700", other, fi.Mode(), err)
		}
		left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), createPrefix(dir)+"*"))
		if len(left) > 0 {
			t.Errorf("temporary directory left: %v", left)
		}
	}
}
