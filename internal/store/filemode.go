package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// SQLiteFileMode is the mode of a SQLite database file that OpenSQLite
// creates: owner only, as the file holds EAB HMAC keys, token hashes and
// every record. SQLite gives the -wal and -shm files it creates the mode of
// the database file.
const SQLiteFileMode fs.FileMode = 0o600

// sqliteFiles are the files of the SQLite database at path: the database,
// its write-ahead log, its shared-memory index and a rollback journal.
func sqliteFiles(path string) []string {
	return []string{path, path + "-wal", path + "-shm", path + "-journal"}
}

// createSQLiteFile creates the database file at path with SQLiteFileMode
// unless it exists, so that SQLite, which would create it with mode 0644
// (less the umask), opens a file only its owner can read, and derives the
// same mode for its -wal and -shm files.
func createSQLiteFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, SQLiteFileMode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	return f.Close()
}

// ModeChange is a file whose mode RestrictSQLiteFiles changed, or, Kept,
// would have changed but left alone because another user owns it.
type ModeChange struct {
	Path string
	Old  fs.FileMode // permission bits before
	New  fs.FileMode // permission bits after (Old when Kept)
	// Kept: the file has group or other permissions but is owned by
	// Owner, not by the user the restriction runs as, so its mode is
	// left as it is (only its owner, or root, may change it; a data
	// directory shared with a group, e.g. a Kubernetes volume with an
	// fsGroup, is owned by root and the server runs as another user).
	Kept  bool
	Owner int // the file's owner (uid), when Kept
}

// RestrictMode removes the group and other permissions of the file at
// path (following a symbolic link) when it has any and is owned by uid,
// and returns the change (nil when there is nothing to change). A file
// owned by another user keeps its mode: the change returned is Kept. The
// server restricts its data directory with it.
func RestrictMode(path string, uid int) (*ModeChange, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	return restrictMode(path, fi, uid)
}

// restrictMode is RestrictMode for the file at path described by fi.
func restrictMode(path string, fi fs.FileInfo, uid int) (*ModeChange, error) {
	old := fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	if old&0o077 == 0 {
		return nil, nil
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != uid {
		return &ModeChange{Path: path, Old: old, New: old, Kept: true, Owner: int(st.Uid)}, nil
	}
	if err := os.Chmod(path, old&^0o077); err != nil {
		return nil, fmt.Errorf("restrict %s to its owner: %w", path, err)
	}
	return &ModeChange{Path: path, Old: old, New: old &^ 0o077}, nil
}

// RestrictSQLiteFiles removes the group and other permissions of the
// SQLite database at path and of its -wal, -shm and -journal files, where
// they exist and have any, and returns what it changed: a database created
// by an earlier release (mode 0644), or restored from a backup, becomes
// readable by its owner only. Only files owned by uid (the server's
// effective user) are changed; one owned by another user is left as it is
// and returned Kept. The server calls it at start, with the data
// directory's lock held, and logs the changes. A file that does not exist
// is skipped; failing to change one is an error.
func RestrictSQLiteFiles(path string, uid int) ([]ModeChange, error) {
	var changed []ModeChange
	for _, p := range sqliteFiles(path) {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return changed, fmt.Errorf("database file mode: %w", err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		c, err := restrictMode(p, fi, uid)
		if err != nil {
			return changed, fmt.Errorf("database file mode: %w", err)
		}
		if c != nil {
			changed = append(changed, *c)
		}
	}
	return changed, nil
}
