package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/spf13/cobra"
)

// Names of what a backup directory holds.
const (
	backupDBFile = "certgate.db" // the SQLite database's copy
	backupCADir  = "ca"          // the CA directory's copy
)

// postgresBackupLine is the one line of `certgate backup` given a
// PostgreSQL database, postgresRestoreLine that of `certgate restore`.
const (
	postgresBackupLine = "certgate backup copies a SQLite database; back up PostgreSQL with pg_dump " +
		"(docs/operations.md), and keep each node's DATA/ca as well (certgate ca export): the dump holds no CA key"
	postgresRestoreLine = "certgate restore restores a SQLite backup of 'certgate backup'; restore PostgreSQL from its pg_dump " +
		"with pg_restore into an empty database (psql for a plain-format dump; docs/operations.md), " +
		"and each node's DATA/ca with certgate ca import: the dump holds no CA key"
)

// newBackup is `certgate backup`: a consistent copy of a SQLite data
// directory (database and CA), taken while `certgate serve` runs.
func newBackup() *cobra.Command {
	var so storeOpts
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Copy the SQLite database and the CA of a data directory, while the server runs",
		Long: `Write a backup of the data directory to the new directory --out:

    OUT/certgate.db   a consistent copy of the SQLite database (SQLite's VACUUM
                      INTO: one snapshot, taken while 'certgate serve' reads and
                      writes it; checked with PRAGMA integrity_check)
    OUT/ca/           the CA files, private keys included

OUT and everything in it are readable by their owner only (0700, 0600): the
backup holds the CA's private keys, the EAB HMAC keys and the API token hashes.
It is written into a temporary directory next to OUT and renamed to OUT when
complete, so OUT holds a whole backup or nothing; what a backup killed before
it finished left there (.OUT.backup-*) the next backup to OUT removes, and
says so. An existing OUT is never replaced unless --force is given, and
--force replaces only an earlier backup (or a symbolic link); OUT may not be
or hold the data directory, the database or the CA directory. Restore it
with 'certgate restore'.

With PostgreSQL (--db postgres://...) back up the database with pg_dump and
keep DATA/ca with 'certgate ca export' (docs/operations.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dsn := server.DSN(so.data, so.db)
			if store.IsPostgresDSN(dsn) || store.IsConninfo(dsn) {
				return errors.New(postgresBackupLine)
			}
			if _, err := os.Stat(dsn); errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("no certgate database at %s: pass the server's --data/--db", dsn)
			}
			if out == "" {
				return errors.New("--out is empty: give the new directory to write the backup to")
			}
			out = filepath.Clean(out)
			_, err := os.Lstat(out)
			exists := err == nil
			if exists && !force {
				return fmt.Errorf("%s exists; refusing to replace it (choose a new path, or give --force)", out)
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if err := checkBackupOut(out, so.data, dsn, exists); err != nil {
				return err
			}
			if fi, err := os.Stat(filepath.Dir(out)); err != nil || !fi.IsDir() {
				return fmt.Errorf("%s, the directory to hold --out, does not exist; create it first", filepath.Dir(out))
			}
			// What a backup to out killed before its rename left (kill
			// -9, OOM): temporary directories holding a copy of the
			// database and the CA's keys.
			reportLeftovers := func(removed []string) {
				for _, p := range removed {
					fmt.Fprintf(cmd.ErrOrStderr(), "removed %s, the leftover of an interrupted backup\n", p)
				}
			}
			removed, err := removeBackupLeftovers(out)
			reportLeftovers(removed)
			if err != nil {
				return err
			}
			tmp, unlockTmp, err := lockedBackupTemp(out)
			if err != nil {
				return err
			}
			defer func() {
				os.RemoveAll(tmp) // gone after the rename
				unlockTmp()
			}()
			b, err := store.BackupSQLite(cmd.Context(), dsn, filepath.Join(tmp, backupDBFile))
			if err != nil {
				return err
			}
			root, err := local.CopyForBackup(server.CADir(so.data), filepath.Join(tmp, backupCADir))
			if err != nil {
				return err
			}
			syncPath(tmp)
			if err := putBackupInPlace(tmp, out, exists, os.Rename); err != nil {
				return err
			}
			// A backup moved aside that an earlier run, killed
			// between its two renames, kept while out was missing.
			removed, err = removeBackupLeftovers(out)
			reportLeftovers(removed)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backed up %s (%d certificates, schema version %d, %d bytes) and %s (root SHA-256 %s) to %s\n",
				dsn, b.Certificates, b.SchemaVersion, b.Size, server.CADir(so.data), local.Fingerprint(root), out)
			fmt.Fprintf(cmd.ErrOrStderr(), "certgate: warning: %s holds the CA's private keys; keep it as secret as the keys\n", out)
			return nil
		},
	}
	storeFlags(cmd, &so)
	cmd.Flags().StringVar(&out, "out", "", "new directory to write the backup to (mode 0700)")
	cmd.Flags().BoolVar(&force, "force", false, "replace --out if it exists")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// newRestore is `certgate restore`: a backup of `certgate backup` into a
// data directory that has no database and no CA.
func newRestore() *cobra.Command {
	var so storeOpts
	var from string
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Restore a backup of 'certgate backup' into a new data directory",
		Long: `Copy a backup written by 'certgate backup' (--from DIR) into the data
directory: the database to DATA/certgate.db (or --db, a SQLite path) with mode
0600, the CA to DATA/ca (directory 0700, keys 0600). The backup is checked
first (PRAGMA integrity_check, the CA loads; a --from without ca/ is not a
whole backup), and a refused restore leaves no new data directory behind. It
refuses while a server runs on the data directory, and when the data directory
already holds a database (or its -wal/-shm files) or a CA: move them aside
first, so nothing is lost. A restore killed before it finished leaves
DATA/restore-incomplete, and 'certgate serve' refuses to start until the same
restore is run again, which finishes it (or undoes what the killed one wrote,
and restores anew). Then start 'certgate serve' on it; it applies the
migrations a backup of an older release needs. A PostgreSQL database is
restored from its pg_dump with pg_restore instead (docs/operations.md).

What a restore loses: certificates issued and revocations made after the
backup (docs/operations.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			dsn := server.DSN(so.data, so.db)
			if store.IsPostgresDSN(dsn) || store.IsConninfo(dsn) {
				return errors.New(postgresRestoreLine)
			}
			if _, err := os.Lstat(filepath.Join(from, server.LockFile)); err == nil {
				return fmt.Errorf("%s is a data directory, not a backup of 'certgate backup': take one with 'certgate backup --data %s --out NEWDIR' and restore that", from, from)
			}
			b, err := store.CheckSQLiteCopy(cmd.Context(), filepath.Join(from, backupDBFile))
			if err != nil {
				return fmt.Errorf("%s is not a backup of 'certgate backup': %w", from, err)
			}
			// The backup's CA too, before anything is written.
			caFrom := filepath.Join(from, backupCADir)
			backupRoot, err := local.CheckBackup(caFrom)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%s is not a whole backup of 'certgate backup': it holds %s but no CA (%s); restore a backup that holds both", from, backupDBFile, caFrom)
			} else if err != nil {
				return fmt.Errorf("%s is not a backup of 'certgate backup': %w", from, err)
			}
			restored := func(root *x509.Certificate) {
				fmt.Fprintf(cmd.OutOrStdout(), "restored %d certificates (schema version %d) to %s and the CA with root SHA-256 %s to %s\n",
					b.Certificates, b.SchemaVersion, dsn, local.Fingerprint(root), server.CADir(so.data))
			}
			_, statErr := os.Lstat(so.data)
			created := errors.Is(statErr, fs.ErrNotExist)
			unlock, err := lockData(so.data, "restoring")
			if err != nil {
				return err
			}
			defer unlock()
			defer func() {
				if err != nil && created {
					// Leave no data directory behind a refused restore
					// (lockData created it and its lock file): removed
					// while the lock is held; Remove keeps the directory
					// if anything else is in it.
					_ = os.Remove(filepath.Join(so.data, server.LockFile))
					_ = os.Remove(so.data)
				}
			}()
			// A server on another data directory given this database
			// with --db; the lock file goes with a refused restore that
			// made it (before the data directory above).
			dbLockMade := false
			if p, _ := server.DatabaseLockFile(dsn); p != "" && !fileExists(p) {
				dbLockMade = true
			}
			unlockDB, err := lockDatabase(dsn, so.data, "restoring")
			if err != nil {
				return err
			}
			defer func() { unlockDB(err != nil && dbLockMade) }()
			caDir := server.CADir(so.data)
			// What an import or restore killed before its rename left
			// next to DATA/ca: temporary directories holding private keys.
			removed, err := local.RemoveLeftovers(caDir)
			for _, p := range removed {
				fmt.Fprintf(cmd.ErrOrStderr(), "removed %s, the leftover of an interrupted CA import or restore\n", p)
			}
			if err != nil {
				return err
			}
			marker := filepath.Join(so.data, server.RestoreMarkerFile)
			if done, err := finishInterruptedRestore(cmd.ErrOrStderr(), marker, dsn, caDir, from); err != nil {
				return err
			} else if done {
				restored(backupRoot)
				return nil
			}
			if ok, err := local.Exists(caDir); err != nil {
				return err
			} else if ok {
				return fmt.Errorf("%s already holds a CA; restore into a new data directory, or move it aside first", caDir)
			}
			// Checked before the marker is written, so that the next
			// restore never takes a database that was there for one it
			// put there.
			dbExists := func(p string) error {
				return fmt.Errorf("%s exists; restore into a new data directory, or move the database and its -wal and -shm files aside first", p)
			}
			for _, p := range []string{dsn, dsn + "-wal", dsn + "-shm", dsn + "-journal"} {
				if _, err := os.Lstat(p); err == nil {
					return dbExists(p)
				}
			}
			// The marker is there until both the database and the CA are:
			// a restore killed in between is finished by the next one
			// (finishInterruptedRestore), and serve refuses to start.
			if err := writeRestoreMarker(marker, from, dsn); err != nil {
				return err
			}
			if err := store.CopySQLiteFile(filepath.Join(from, backupDBFile), dsn); err != nil {
				removeRestoreMarker(marker)
				if errors.Is(err, fs.ErrExist) {
					return fmt.Errorf("%s; restore into a new data directory, or move the database and its -wal and -shm files aside first", err)
				}
				return err
			}
			afterRestoreStep("database")
			root, err := local.Restore(caDir, filepath.Join(from, backupCADir))
			if err != nil {
				os.Remove(dsn) // this command created it: no database without its CA
				removeRestoreMarker(marker)
				return err
			}
			afterRestoreStep("ca")
			removeRestoreMarker(marker)
			restored(root)
			return nil
		},
	}
	storeFlags(cmd, &so)
	cmd.Flags().StringVar(&from, "from", "", "directory written by 'certgate backup'")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}

// afterRestoreStep is called by `certgate restore` once a step is done
// ("database": in place; "ca": in place too, before the marker is
// removed); tests stop the restore there, as a kill would.
var afterRestoreStep = func(step string) {}

// writeRestoreMarker writes marker (server.RestoreMarkerFile) holding the
// absolute paths of the backup from and of the database dsn it restores,
// one a line, synced with its directory, before `certgate restore` writes
// anything else.
func writeRestoreMarker(marker, from, dsn string) error {
	absFrom, err := filepath.Abs(from)
	if err != nil {
		return err
	}
	absDSN, err := filepath.Abs(dsn)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(marker, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := writeSyncClose(f, []byte(absFrom+"\n"+absDSN+"\n")); err != nil {
		os.Remove(marker)
		return fmt.Errorf("restore: %w", err)
	}
	syncPath(filepath.Dir(marker))
	return nil
}

// removeRestoreMarker removes marker once the restore is whole (or undone),
// synced.
func removeRestoreMarker(marker string) {
	if os.Remove(marker) == nil {
		syncPath(filepath.Dir(marker))
	}
}

// finishInterruptedRestore deals with what a `certgate restore` killed
// before it was whole left (its marker, server.RestoreMarkerFile, still
// there), with the data directory's lock held and the CA's leftovers
// removed. The database is put in place before the CA, each with one
// rename, so either both are there — only the marker was not removed: it
// is removed, and done is true when this restore, of from into dsn, is
// the one that was interrupted — or the CA is not: the database that
// restore put in place (the marker names it: dsn unless --db changed;
// with its -wal, -shm and -journal files, and the temporary copy a kill
// during the copy left) is removed, then the marker, and the restore goes
// on as into a new data directory. A CA without its database is not what
// a restore leaves: refused. Each step is said on w.
func finishInterruptedRestore(w io.Writer, marker, dsn, caDir, from string) (done bool, err error) {
	b, err := os.ReadFile(marker)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("restore: %w", err)
	}
	prev, restoredDSN, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	thisDSN := dsn
	if restoredDSN = strings.TrimSpace(restoredDSN); restoredDSN != "" {
		dsn = restoredDSN
	}
	hasCA, err := local.Exists(caDir)
	if err != nil {
		return false, err
	}
	_, dbErr := os.Lstat(dsn)
	switch {
	case hasCA && dbErr == nil:
		removeRestoreMarker(marker)
		fmt.Fprintf(w, "the interrupted restore from %s had put %s and %s in place; completed it\n", prev, dsn, caDir)
		return sameFile(prev, from) && sameFile(dsn, thisDSN), nil
	case hasCA:
		return false, fmt.Errorf("%s holds a CA but %s is missing, after a restore from %s was interrupted: "+
			"move %s aside and restore again", caDir, dsn, prev, caDir)
	}
	var undone []string
	for _, p := range []string{dsn, dsn + "-wal", dsn + "-shm", dsn + "-journal"} {
		if err := os.Remove(p); err == nil {
			undone = append(undone, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("restore: undo the interrupted restore: %w", err)
		}
	}
	// store.CopySQLiteFile's temporary copy, next to the database.
	entries, err := os.ReadDir(filepath.Dir(dsn))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("restore: undo the interrupted restore: %w", err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "."+filepath.Base(dsn)+".restore-") {
			continue
		}
		p := filepath.Join(filepath.Dir(dsn), e.Name())
		if err := os.Remove(p); err != nil {
			return false, fmt.Errorf("restore: undo the interrupted restore: %w", err)
		}
		undone = append(undone, p)
	}
	for _, p := range undone {
		fmt.Fprintf(w, "removed %s, put there by the interrupted restore from %s\n", p, prev)
	}
	removeRestoreMarker(marker)
	fmt.Fprintf(w, "undid the interrupted restore from %s; restoring from %s\n", prev, from)
	return false, nil
}

// backupTempPrefix starts the name of the temporary directory, next to
// the backup directory OUT, in which `certgate backup` writes the backup
// (".OUT.backup-" and os.MkdirTemp's digits), and of the earlier backup
// that --force moves aside (the same name and ".old").
func backupTempPrefix(out string) string { return "." + filepath.Base(out) + ".backup-" }

// lockedBackupTemp creates the temporary directory next to out that
// `certgate backup` writes into (mode 0700) and takes an exclusive flock
// on it, held until unlock is called or the process ends, so that
// removeBackupLeftovers in another backup to out leaves it alone. A
// directory that such a backup removed after it was created, before it
// was locked, is replaced by a new one.
func lockedBackupTemp(out string) (tmp string, unlock func(), err error) {
	for range 10 {
		tmp, err := os.MkdirTemp(filepath.Dir(out), backupTempPrefix(out)+"*")
		if err != nil {
			return "", nil, fmt.Errorf("backup: %w", err)
		}
		f, err := os.Open(tmp)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			os.Remove(tmp)
			return "", nil, fmt.Errorf("backup: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			os.Remove(tmp)
			return "", nil, fmt.Errorf("backup: lock %s: %w", tmp, err)
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(tmp)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return tmp, func() { f.Close() }, nil
		}
		f.Close() // removed (or replaced) since it was created: make another
	}
	return "", nil, fmt.Errorf("backup: the temporary directories next to %s keep being removed", out)
}

// removeBackupLeftovers removes what a `certgate backup` to out killed
// before it finished (kill -9, OOM, a timeout's SIGKILL) left next to
// out: its temporary directory (mode 0700, holding a copy of the database
// with the EAB HMAC keys and API token hashes, and of the CA's keys) and
// the earlier backup --force moved aside. It returns the paths it removed.
// A temporary directory whose backup still runs (it holds the directory's
// flock: lockedBackupTemp) is left alone, as is the earlier backup moved
// aside by such a backup; while out does not exist, an earlier backup
// moved aside is kept too (the run that moved it was killed before its
// new backup took out's place). Other names, even with the same start,
// are never touched.
func removeBackupLeftovers(out string) ([]string, error) {
	parent, prefix := filepath.Dir(out), backupTempPrefix(out)
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	_, err = os.Lstat(out)
	outExists := err == nil
	var removed []string
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		digits, old := strings.CutSuffix(rest, ".old")
		if digits == "" || strings.Trim(digits, "0123456789") != "" {
			continue
		}
		tmp := filepath.Join(parent, prefix+digits)
		if old && !outExists {
			continue
		}
		// The backup that made tmp (and moved out aside to tmp.old)
		// runs while it holds tmp's lock.
		f, err := os.Open(tmp)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("backup: %w", err)
		}
		if err == nil {
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
			if err != nil {
				f.Close()
				if errors.Is(err, syscall.EWOULDBLOCK) {
					continue // a backup running
				}
				return removed, fmt.Errorf("backup: lock %s: %w", tmp, err)
			}
		}
		path := filepath.Join(parent, e.Name())
		err = os.RemoveAll(path)
		if f != nil {
			f.Close()
		}
		if err != nil {
			return removed, fmt.Errorf("backup: remove the leftover of an interrupted backup: %w", err)
		}
		removed = append(removed, path)
	}
	return removed, nil
}

// putBackupInPlace moves the finished backup directory tmp to out with
// rename (os.Rename; a parameter so that tests can make it fail). When out
// exists (--force), the earlier backup is first moved aside to tmp+".old"
// and removed only once the new one is in place; if the new one cannot
// take out's place, the earlier one is moved back, so that a failed
// backup --force never leaves out without a backup. Errors: the rename's,
// wrapped, naming where the earlier backup is when it could not be moved
// back.
func putBackupInPlace(tmp, out string, exists bool, rename func(oldpath, newpath string) error) error {
	if !exists {
		if err := rename(tmp, out); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		syncPath(filepath.Dir(out))
		return nil
	}
	old := tmp + ".old"
	if err := rename(out, old); err != nil {
		return fmt.Errorf("backup: move the earlier backup aside: %w", err)
	}
	if err := rename(tmp, out); err != nil {
		if err2 := rename(old, out); err2 != nil {
			return fmt.Errorf("backup: %w; the earlier backup is kept at %s (moving it back to %s failed: %v)", err, old, out, err2)
		}
		return fmt.Errorf("backup: %w; the earlier backup at %s is unchanged", err, out)
	}
	syncPath(filepath.Dir(out))
	os.RemoveAll(old)
	return nil
}

// syncPath syncs the directory at path (errors ignored: some file systems
// refuse a directory's fsync).
func syncPath(path string) {
	if d, err := os.Open(path); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// writeSyncClose writes data to f, syncs it to disk and closes it,
// returning the first error; f is closed whatever fails.
func writeSyncClose(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkBackupOut refuses an --out that --force would make `certgate backup`
// remove or that would put the backup among what it copies: the data
// directory itself or a directory holding it, the database, the CA
// directory or a path in it; and, when out exists (exists; --force given),
// anything but an earlier backup (a directory holding certgate.db and at
// most the ca directory and SQLite's files of certgate.db beside it) or a symbolic link (replaced, its
// target left alone). Paths are compared with symbolic links resolved.
func checkBackupOut(out, data, dsn string, exists bool) error {
	target, err := resolvePath(out)
	if err != nil {
		return err
	}
	for _, p := range []struct{ path, what string }{
		{data, "the data directory"},
		{server.CADir(data), "the CA directory"},
		{dsn, "the database"},
	} {
		r, err := resolvePath(p.path)
		if err != nil {
			return err
		}
		if target == r || within(r, target) {
			return fmt.Errorf("--out %s is or holds %s %s: write the backup outside it", out, p.what, p.path)
		}
		if p.what == "the CA directory" && within(target, r) {
			return fmt.Errorf("--out %s is inside the CA directory %s: write the backup outside it", out, p.path)
		}
	}
	if !exists {
		return nil
	}
	fi, err := os.Lstat(out)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil
	}
	notBackup := fmt.Errorf("%s is not a backup of 'certgate backup'; refusing to replace it, even with --force (choose a new path)", out)
	if !fi.IsDir() {
		return notBackup
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return err
	}
	db := false
	for _, e := range entries {
		switch e.Name() {
		case backupDBFile, backupCADir, backupDBFile + "-journal", backupDBFile + "-wal", backupDBFile + "-shm":
		default:
			return notBackup
		}
		db = db || e.Name() == backupDBFile
	}
	if !db {
		return notBackup
	}
	return nil
}

// resolvePath is path made absolute with the symbolic links of its
// existing part resolved (the rest, not yet created, appended as is).
func resolvePath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	rest := ""
	for dir := abs; ; dir = filepath.Dir(dir) {
		r, err := filepath.EvalSymlinks(dir)
		if err == nil {
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) || filepath.Dir(dir) == dir {
			return "", err
		}
		rest = filepath.Join(filepath.Base(dir), rest)
	}
}

// within reports whether path lies below dir (both clean and absolute).
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
