package cmpupstream

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// tempPrefix starts the name of the directory each openssl process works
// in (its CSR, the certificate it receives).
const tempPrefix = "certgate-cmp-"

// tempLockFile is the file in a working directory that the certgate
// process using the directory holds an exclusive flock on: the kernel
// releases it when that process ends, however it ends.
const tempLockFile = ".lock"

// tempDir is the working directory of one openssl process, locked while
// in use (tempLockFile).
type tempDir struct {
	path string
	lock *os.File
}

// makeTempDir makes and locks the working directory of one openssl
// process under dir ("" is os.TempDir), named tempPrefix + random, mode
// 0700.
func makeTempDir(dir string) (*tempDir, error) {
	p, err := os.MkdirTemp(dir, tempPrefix)
	if err != nil {
		return nil, fmt.Errorf("cmpupstream: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(p, tempLockFile), os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW, 0o600)
	if err == nil {
		if err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
		}
	}
	if err != nil {
		os.RemoveAll(p)
		return nil, fmt.Errorf("cmpupstream: lock %s: %w", p, err)
	}
	return &tempDir{path: p, lock: f}, nil
}

// remove removes the directory, then releases its lock.
func (d *tempDir) remove() {
	os.RemoveAll(d.path)
	d.lock.Close()
}

// removeStaleTempDirs removes, under dir ("" is os.TempDir), the working
// directories makeTempDir made for a certgate process that ended without
// removing them (killed): they hold the certificate of an enrollment
// nobody stored. Only directories of this process's user whose lock
// nobody holds are removed; one in use (locked, whatever PID namespace
// its process runs in), another user's, one without a lock file and any
// other name are left alone. It returns how many it removed, and goes on
// past a directory it cannot remove (the error names each).
func removeStaleTempDirs(dir string) (int, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("cmpupstream: %w", err)
	}
	n := 0
	var errs []error
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix) || !e.IsDir() { // IsDir: lstat, a symlink is not followed
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // gone meanwhile
		}
		if st, ok := info.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Getuid() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		stale, err := unlocked(filepath.Join(p, tempLockFile))
		if err != nil || !stale {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, fmt.Errorf("cmpupstream: %w", err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// unlocked reports whether nobody holds the flock of the lock file at
// path (its process ended); false when there is no such file.
func unlocked(path string) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return false, err
	}
	defer f.Close()
	switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); {
	case err == nil:
		return true, nil // released when f closes, after the removal
	case errors.Is(err, syscall.EWOULDBLOCK):
		return false, nil
	default:
		return false, err
	}
}
