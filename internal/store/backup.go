package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SQLiteBackup describes a copy BackupSQLite wrote.
type SQLiteBackup struct {
	Size          int64 // bytes of the copy
	SchemaVersion int64 // the last migration applied to the database copied
	Certificates  int64 // rows of the certificates table
}

// BackupSQLite writes a consistent copy of the SQLite database at path to
// the new file out with SQLite's VACUUM INTO, while other connections (a
// running server) go on reading and writing it: the copy is one read
// transaction's snapshot, holding every transaction committed before it
// began and none after. out is created first with SQLiteFileMode, so the
// copy is never readable by others; it must not exist. The copy is
// checked with PRAGMA integrity_check and synced. A database that does
// not exist is an error wrapping fs.ErrNotExist (it is not created).
func BackupSQLite(ctx context.Context, path, out string) (SQLiteBackup, error) {
	var b SQLiteBackup
	if _, err := os.Stat(path); err != nil {
		return b, fmt.Errorf("backup: %w", err)
	}
	// mode=rw: never create the database; no query_only, which VACUUM
	// INTO refuses.
	db, err := sql.Open("sqlite", sqliteURI(path, "mode=rw&_pragma=busy_timeout(10000)"))
	if err != nil {
		return b, fmt.Errorf("backup: open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, SQLiteFileMode)
	if err != nil {
		return b, fmt.Errorf("backup: %w", err)
	}
	f.Close()
	done := false
	defer func() {
		if !done {
			os.Remove(out)
		}
	}()
	// VACUUM INTO accepts an existing empty file as its target.
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, out); err != nil {
		return b, fmt.Errorf("backup: copy %s: %w", path, err)
	}
	if err := checkCopy(ctx, out, &b); err != nil {
		return b, err
	}
	f, err = os.OpenFile(out, os.O_RDWR, 0)
	if err != nil {
		return b, fmt.Errorf("backup: %w", err)
	}
	fi, err := f.Stat()
	if err == nil {
		b.Size = fi.Size()
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return b, fmt.Errorf("backup: sync %s: %w", out, err)
	}
	syncParent(out)
	done = true
	return b, nil
}

// CheckSQLiteCopy checks the SQLite database file at path (a copy
// BackupSQLite wrote) without changing it: PRAGMA integrity_check, and
// that it holds certgate's schema. It returns what BackupSQLite would.
func CheckSQLiteCopy(ctx context.Context, path string) (SQLiteBackup, error) {
	var b SQLiteBackup
	fi, err := os.Stat(path)
	if err != nil {
		return b, fmt.Errorf("backup: %w", err)
	}
	// A database with a WAL beside it (a server's, running or killed) has
	// transactions that are not in the file: a copy of the file alone
	// loses them, however whole the database read through the WAL looks.
	if wal, err := os.Stat(path + "-wal"); err == nil && wal.Size() > 0 {
		return b, fmt.Errorf("backup: %s is a database in use (or not closed cleanly): its -wal file holds transactions the file does not", path)
	}
	b.Size = fi.Size()
	return b, checkCopy(ctx, path, &b)
}

// checkCopy runs PRAGMA integrity_check on the database at path, opened
// read-only (mode=ro: a copy in rollback-journal mode is not changed), and
// fills b's schema version and certificate count.
func checkCopy(ctx context.Context, path string, b *SQLiteBackup) error {
	db, err := sql.Open("sqlite", sqliteURI(path, "mode=ro"))
	if err != nil {
		return fmt.Errorf("backup: open %s: %w", path, err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return fmt.Errorf("backup: check %s: %w", path, err)
	}
	if res != "ok" {
		return fmt.Errorf("backup: %s fails SQLite's integrity check: %s", path, res)
	}
	err = db.QueryRowContext(ctx, `SELECT MAX(version_id) FROM goose_db_version`).Scan(&b.SchemaVersion)
	if err == nil {
		err = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM certificates`).Scan(&b.Certificates)
	}
	if err != nil {
		return fmt.Errorf("backup: %s holds no certgate database (%w)", path, ErrNoSchema)
	}
	return nil
}

// syncParent syncs the directory holding path, so that a new file's entry
// is on disk; errors are ignored (some file systems refuse a directory's
// fsync).
func syncParent(path string) {
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// CopySQLiteFile copies the SQLite database file from (a copy BackupSQLite
// wrote, which no process has open) to the new file to, created with
// SQLiteFileMode through a temporary file next to it that is synced and
// renamed, so that to holds the whole database or does not exist. It
// refuses when to, or a -wal, -shm or -journal file of it, exists: a WAL
// left beside a restored database belongs to another one.
func CopySQLiteFile(from, to string) error {
	for _, p := range sqliteFiles(to) {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists%w", p, errExistQuiet{})
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("restore: %w", err)
		}
	}
	data, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer data.Close()
	if fi, err := os.Stat(filepath.Dir(to)); err != nil || !fi.IsDir() {
		// Named, not the temporary file made in it.
		return fmt.Errorf("restore: the directory of %s: %w", to, notDir(filepath.Dir(to), err))
	}
	tmp, err := os.CreateTemp(filepath.Dir(to), "."+filepath.Base(to)+".restore-*")
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename it no longer exists
	err = tmp.Chmod(SQLiteFileMode)
	if err == nil {
		_, err = tmp.ReadFrom(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("restore: write %s: %w", to, err)
	}
	// A link, not a rename: it fails if to appeared meanwhile.
	if err := os.Link(tmp.Name(), to); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	syncParent(to)
	return nil
}

// errExistQuiet wraps fs.ErrExist without adding to the message.
type errExistQuiet struct{}

func (errExistQuiet) Error() string { return "" }
func (errExistQuiet) Unwrap() error { return fs.ErrExist }

// notDir is err, the error of a Stat of dir, or when there was none
// (dir is a file) an error saying dir is not a directory.
func notDir(dir string, err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%s is not a directory", dir)
}
