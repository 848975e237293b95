package cmpupstream

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// tempPrefix starts the name of the directory each openssl process works
// in (its CSR, the certificate it receives), followed by the PID of the
// certgate process that made it.
const tempPrefix = "certgate-cmp-"

// makeTempDir makes the working directory of one openssl process under
// dir ("" is os.TempDir), named tempPrefix + this process's PID + "-"
// + random, mode 0700.
func makeTempDir(dir string) (string, error) {
	return os.MkdirTemp(dir, fmt.Sprintf("%s%d-", tempPrefix, os.Getpid()))
}

// removeStaleTempDirs removes, under dir ("" is os.TempDir), the working
// directories makeTempDir made for a certgate process that no longer runs
// (killed before its deferred removal): they hold the certificate of an
// enrollment nobody stored. Directories of running processes, and names
// of another form, are left alone. It returns how many it removed.
func removeStaleTempDirs(dir string) (int, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("cmpupstream: %w", err)
	}
	n := 0
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), tempPrefix)
		pidText, _, found := strings.Cut(rest, "-")
		pid, perr := strconv.Atoi(pidText)
		if !ok || !found || perr != nil || pid <= 0 || !e.IsDir() || processRuns(pid) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return n, fmt.Errorf("cmpupstream: %w", err)
		}
		n++
	}
	return n, nil
}

// processRuns reports whether a process with pid exists (signal 0); a
// process of another user (EPERM) runs too.
func processRuns(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
