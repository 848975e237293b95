package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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

// postgresBackupLine is the one line of `certgate backup` and `certgate
// restore` given a PostgreSQL database.
const postgresBackupLine = "certgate backup copies a SQLite database; back up PostgreSQL with pg_dump " +
	"(docs/operations.md), and keep each node's DATA/ca as well (certgate ca export): the dump holds no CA key"

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
complete, so OUT holds a whole backup or nothing. An existing OUT is never
replaced unless --force is given. Restore it with 'certgate restore'.

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
			out = filepath.Clean(out)
			_, err := os.Lstat(out)
			exists := err == nil
			if exists && !force {
				return fmt.Errorf("%s exists; refusing to replace it (choose a new path, or give --force)", out)
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if fi, err := os.Stat(filepath.Dir(out)); err != nil || !fi.IsDir() {
				return fmt.Errorf("%s, the directory to hold --out, does not exist; create it first", filepath.Dir(out))
			}
			tmp, err := os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+".backup-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp) // gone after the rename
			b, err := store.BackupSQLite(cmd.Context(), dsn, filepath.Join(tmp, backupDBFile))
			if err != nil {
				return err
			}
			root, err := local.CopyForBackup(server.CADir(so.data), filepath.Join(tmp, backupCADir))
			if err != nil {
				return err
			}
			syncPath(tmp)
			if exists {
				// --force: the old backup is moved aside, then removed
				// once the new one is in place.
				old := tmp + ".old"
				if err := os.Rename(out, old); err != nil {
					return err
				}
				defer os.RemoveAll(old)
			}
			if err := os.Rename(tmp, out); err != nil {
				return err
			}
			syncPath(filepath.Dir(out))
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
first (PRAGMA integrity_check, the CA loads). It refuses while a server runs on
the data directory, and when the data directory already holds a database (or
its -wal/-shm files) or a CA: move them aside first, so nothing is lost. Then
start 'certgate serve' on it; it applies the migrations a backup of an older
release needs.

What a restore loses: certificates issued and revocations made after the
backup (docs/operations.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dsn := server.DSN(so.data, so.db)
			if store.IsPostgresDSN(dsn) || store.IsConninfo(dsn) {
				return errors.New(postgresBackupLine)
			}
			b, err := store.CheckSQLiteCopy(cmd.Context(), filepath.Join(from, backupDBFile))
			if err != nil {
				return fmt.Errorf("%s is not a backup of 'certgate backup': %w", from, err)
			}
			unlock, err := lockData(so.data, "restoring")
			if err != nil {
				return err
			}
			defer unlock()
			caDir := server.CADir(so.data)
			if ok, err := local.Exists(caDir); err != nil {
				return err
			} else if ok {
				return fmt.Errorf("%s already holds a CA; restore into a new data directory, or move it aside first", caDir)
			}
			if err := store.CopySQLiteFile(filepath.Join(from, backupDBFile), dsn); errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s; restore into a new data directory, or move the database and its -wal and -shm files aside first", err)
			} else if err != nil {
				return err
			}
			root, err := local.Restore(caDir, filepath.Join(from, backupCADir))
			if err != nil {
				os.Remove(dsn) // this command created it: no database without its CA
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %d certificates (schema version %d) to %s and the CA with root SHA-256 %s to %s\n",
				b.Certificates, b.SchemaVersion, dsn, local.Fingerprint(root), caDir)
			return nil
		},
	}
	storeFlags(cmd, &so)
	cmd.Flags().StringVar(&from, "from", "", "directory written by 'certgate backup'")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}

// syncPath syncs the directory at path (errors ignored: some file systems
// refuse a directory's fsync).
func syncPath(path string) {
	if d, err := os.Open(path); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
