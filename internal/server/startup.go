package server

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/store"
)

// createdPaths records the files and directories a start is about to
// create that do not exist yet, so that a failed start can remove exactly
// those: a data directory, database or CA that was there before the start
// is never touched. The zero value is ready to use.
type createdPaths struct {
	files []string // in the order noted
	dirs  []string // parents before children
}

// exists reports whether path exists; an error other than "does not exist"
// counts as existing, so that it is never removed.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// file notes the files among paths that do not exist now.
func (c *createdPaths) file(paths ...string) {
	for _, p := range paths {
		if !exists(p) {
			c.files = append(c.files, p)
		}
	}
}

// dir notes dir and those of its parents that do not exist now.
func (c *createdPaths) dir(dir string) {
	var missing []string
	for d := filepath.Clean(dir); !exists(d); d = filepath.Dir(d) {
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		c.dirs = append(c.dirs, missing[i])
	}
}

// removeFiles removes the noted files that exist now.
func (c *createdPaths) removeFiles() {
	for i := len(c.files) - 1; i >= 0; i-- {
		os.Remove(c.files[i])
	}
}

// removeDirs removes the noted directories that are empty now, children
// first; one that is not empty stays.
func (c *createdPaths) removeDirs() {
	for i := len(c.dirs) - 1; i >= 0; i-- {
		os.Remove(c.dirs[i])
	}
}

// keep forgets the noted paths that are dir or below it, so that they
// stay.
func (c *createdPaths) keep(dir string) {
	below := func(p string) bool {
		rel, err := filepath.Rel(dir, p)
		return err == nil && filepath.IsLocal(rel)
	}
	c.files = slices.DeleteFunc(c.files, below)
	c.dirs = slices.DeleteFunc(c.dirs, below)
}

// noteStore notes what opening dsn creates: for a SQLite database that
// does not exist yet the database file, its WAL, shared-memory and journal
// files, and its directory; nothing for PostgreSQL. The WAL and
// shared-memory files of a database that exists are never noted, even when
// they are missing now: administrative commands open the database beside
// a server without the data directory's lock, so another process may have
// them open (its committed transactions in the WAL) by the time the start
// fails, and SQLite removes them itself when the last connection closes.
func (c *createdPaths) noteStore(dsn string) {
	if store.IsPostgresDSN(dsn) || exists(dsn) {
		return
	}
	c.dir(filepath.Dir(dsn))
	c.file(dsn, dsn+"-wal", dsn+"-shm", dsn+"-journal")
}

// keepStore forgets the SQLite database files at dsn that noteStore
// noted, so that they stay: a failed start keeps a database that records
// the new CA (with the CA: New), and with it every serial the start
// reserved and every record it made.
func (c *createdPaths) keepStore(dsn string) {
	c.keepFile(dsn, dsn+"-wal", dsn+"-shm", dsn+"-journal")
}

// keepFile forgets the noted files among paths, so that they stay.
func (c *createdPaths) keepFile(paths ...string) {
	c.files = slices.DeleteFunc(c.files, func(f string) bool { return slices.Contains(paths, f) })
}

// noteCA notes the built-in CA's directory and files.
func (c *createdPaths) noteCA(dir string) {
	c.dir(dir)
	for _, f := range []string{local.RootCertFile, local.RootKeyFile, local.IntermediateCertFile, local.IntermediateKeyFile, local.ChainFile, local.RootCRLFile} {
		c.file(filepath.Join(dir, f))
	}
}

// listenError describes a failure to listen on addr, the value of setting
// (listen, metrics-listen), in one line naming the usual causes; it wraps
// err.
func listenError(setting, addr string, err error) error {
	var why string
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		why = "the address is already in use (another server is listening on it)"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		why = "no network interface of this host has that address"
	case errors.Is(err, syscall.EACCES):
		why = "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
	case errors.As(err, &dnsErr):
		why = "cannot resolve " + dnsErr.Name + ": " + dnsErr.Err
	default:
		why = err.Error()
		var sysErr *os.SyscallError
		if errors.As(err, &sysErr) {
			why = sysErr.Err.Error() // the system call's error, without the operation and addresses
		}
	}
	return &startError{msg: fmt.Sprintf("%s: %s: %s", setting, addr, why), err: err}
}

// startError is an error of a failed start whose text is one line written
// for the operator, while Unwrap gives the underlying error.
type startError struct {
	msg string
	err error
}

func (e *startError) Error() string { return e.msg }
func (e *startError) Unwrap() error { return e.err }
