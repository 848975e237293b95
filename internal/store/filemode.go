package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
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

// ModeChange is a file whose mode RestrictSQLiteFiles changed.
type ModeChange struct {
	Path string
	Old  fs.FileMode // permission bits before
	New  fs.FileMode // permission bits after
}

// RestrictSQLiteFiles removes the group and other permissions of the
// SQLite database at path and of its -wal, -shm and -journal files, where
// they exist and have any, and returns what it changed: a database created
// by an earlier release (mode 0644), or restored from a backup, becomes
// readable by its owner only. The server calls it at start, with the data
// directory's lock held, and logs the changes. A file that does not exist
// is skipped; failing to change one is an error.
func RestrictSQLiteFiles(path string) ([]ModeChange, error) {
	var changed []ModeChange
	for _, p := range sqliteFiles(path) {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return changed, fmt.Errorf("database file mode: %w", err)
		}
		old := fi.Mode().Perm()
		if !fi.Mode().IsRegular() || old&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, old&^0o077); err != nil {
			return changed, fmt.Errorf("database file mode: restrict %s to its owner: %w", p, err)
		}
		changed = append(changed, ModeChange{Path: p, Old: old, New: old &^ 0o077})
	}
	return changed, nil
}
