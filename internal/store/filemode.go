package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
// same mode for its -wal and -shm files. A path that is a symbolic link to
// a file that does not exist yet gets that file created (SQLite would
// create it through the link).
func createSQLiteFile(path string) error {
	flag := os.O_RDWR | os.O_CREATE | os.O_EXCL
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		flag &^= os.O_EXCL // O_EXCL fails on any link; without it the link is followed
	}
	f, err := os.OpenFile(path, flag, SQLiteFileMode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	return f.Close()
}

// ModeChange is a file whose mode RestrictSQLiteFiles changed, or, Kept,
// would have changed but left alone because another user owns it, or,
// NotFollowed, a symbolic link where a file was expected, left alone.
type ModeChange struct {
	Path string // the file or directory
	// Link is the symbolic link given, which resolves to Path (the file
	// changed); "" when the path given was no link.
	Link string
	Old  fs.FileMode // permission bits before
	New  fs.FileMode // permission bits after (Old when Kept)
	// Kept: the file has group or other permissions but is owned by
	// Owner, not by the user the restriction runs as, so its mode is
	// left as it is (only its owner, or root, may change it; a data
	// directory shared with a group, e.g. a Kubernetes volume with an
	// fsGroup, is owned by root and the server runs as another user).
	Kept  bool
	Owner int // the file's owner (uid), when Kept
	// NotFollowed: Path is a symbolic link where certgate (or SQLite)
	// creates a regular file (a CA key, a -wal file): someone else made
	// it, so neither it nor what it points to is changed.
	NotFollowed bool
}

// RestrictMode removes the group and other permissions of the file or
// directory at path when it has any and is owned by uid, and returns the
// change (nil when there is nothing to change). A path that is a symbolic
// link is followed, as the server uses what it resolves to (a data
// directory on another volume): the change names the resolved path, and
// the link in Link. A file owned by another user keeps its mode: the
// change returned is Kept. A path that does not exist is an error
// wrapping fs.ErrNotExist. The server restricts its data directory and
// its CA directory with it.
func RestrictMode(path string, uid int) (*ModeChange, error) {
	resolved, link, err := resolveLink(path)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(resolved)
	if err != nil {
		return nil, err
	}
	c, err := restrictMode(resolved, fi, uid)
	if c != nil && link {
		c.Link = path
	}
	return c, err
}

// resolveLink returns path, or, when path is a symbolic link, what it
// resolves to (filepath.EvalSymlinks) and true.
func resolveLink(path string) (resolved string, link bool, err error) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return path, false, err
	}
	resolved, err = filepath.EvalSymlinks(path)
	return resolved, true, err
}

// RestrictFile is RestrictMode for a file that certgate creates inside a
// directory it restricts (a CA private key), without following a
// symbolic link: a link at path is returned NotFollowed and left as it
// is, as is anything but a regular file. A path that does not exist is
// nothing to change (nil, nil).
func RestrictFile(path string, uid int) (*ModeChange, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, err
	case fi.Mode()&fs.ModeSymlink != 0:
		return &ModeChange{Path: path, NotFollowed: true}, nil
	case !fi.Mode().IsRegular():
		return nil, nil
	}
	return restrictMode(path, fi, uid)
}

// restrictMode is RestrictMode for the file at path described by fi (from
// Lstat: path is no link).
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

// sqliteHeader is the first 16 bytes of every SQLite database file (the
// SQLite file format, "The Database Header").
const sqliteHeader = "SQLite format 3\x00"

// ErrNotSQLite is returned by RestrictSQLiteFiles for a database path
// that holds a file that is not a SQLite database.
var ErrNotSQLite = errors.New("is not a SQLite database")

// checkSQLiteHeader returns an error wrapping ErrNotSQLite when the
// regular file at path is neither empty (a database SQLite has not written
// yet) nor begins with sqliteHeader, so that a db setting naming another
// file (a typo, a configuration file, /etc/hosts) is refused before its
// mode is changed. Anything but a regular file is left to SQLite.
func checkSQLiteHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("database file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("database file: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() == 0 {
		return nil
	}
	b := make([]byte, len(sqliteHeader))
	if _, err := io.ReadFull(f, b); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("database file %s: %w", path, err)
	}
	if string(b) != sqliteHeader {
		return fmt.Errorf("%s %w (it does not begin with the SQLite header)", path, ErrNotSQLite)
	}
	return nil
}

// RestrictSQLiteFiles removes the group and other permissions of the
// SQLite database at path and of its -wal, -shm and -journal files, where
// they exist and have any, and returns what it changed: a database created
// by an earlier release (mode 0644), or restored from a backup, becomes
// readable by its owner only. Only files owned by uid (the server's
// effective user) are changed; one owned by another user is left as it is
// and returned Kept. The server calls it at start, with the data
// directory's lock held, and logs the changes. A file that does not exist
// is skipped; failing to change one is an error. A database file that is
// not empty and does not begin with SQLite's header is refused, with an
// error wrapping ErrNotSQLite, before any file is changed.
//
// A database path that is a symbolic link is followed: SQLite opens the
// file it resolves to and keeps the -wal, -shm and -journal files next to
// that file, not next to the link, so those are the files restricted (the
// database's change names the link in Link). A -wal, -shm or -journal file
// that is itself a link (SQLite creates none) is not followed: it is
// returned NotFollowed, and what it points to keeps its mode.
func RestrictSQLiteFiles(path string, uid int) ([]ModeChange, error) {
	resolved, link, err := resolveLink(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no database yet, or a link to none: createSQLiteFile makes it 0600
	}
	if err != nil {
		return nil, fmt.Errorf("database file mode: %w", err)
	}
	if err := checkSQLiteHeader(resolved); err != nil {
		return nil, err
	}
	var changed []ModeChange
	for i, p := range sqliteFiles(resolved) {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return changed, fmt.Errorf("database file mode: %w", err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			changed = append(changed, ModeChange{Path: p, NotFollowed: true})
			continue
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		c, err := restrictMode(p, fi, uid)
		if err != nil {
			return changed, fmt.Errorf("database file mode: %w", err)
		}
		if c != nil {
			if i == 0 && link {
				c.Link = path
			}
			changed = append(changed, *c)
		}
	}
	return changed, nil
}
