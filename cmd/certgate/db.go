package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/spf13/cobra"
)

// newDB is `certgate db`: work on the database as a whole.
func newDB() *cobra.Command {
	db := &cobra.Command{Use: "db", Short: "Copy the database into a new one (SQLite to PostgreSQL, or back)"}
	db.AddCommand(newDBCopy())
	return db
}

// newDBCopy is `certgate db copy`: the move of a stopped deployment from
// its SQLite database to PostgreSQL (store.CopyDatabase).
func newDBCopy() *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "copy",
		Short: "Copy a stopped server's database into a new, empty database (SQLite to PostgreSQL, or back)",
		Long: `Copy every row of the certgate database --from into the empty database --to:
accounts, orders, authorizations, certificates, revocations, CRL numbers,
profiles, EAB keys, API tokens, rate-limit overrides, the audit log,
notifications, scans and settings, each value as stored (IDs, serial numbers,
timestamps, DER). Each of --from and --to is a data directory (its
certgate.db), a SQLite database file, or a postgres:// URL, as --data and --db
name them for 'certgate serve'; a --to that does not exist yet is a SQLite file
named with a "." (certgate.db), never a data directory: create that first.

--to is given this certgate's schema (as a first 'certgate serve' on it would)
and filled in one transaction, read from one snapshot of --from; each table's
row count is checked against the source's before the commit, and one line per
table is printed. A copy that fails or is interrupted commits nothing: run it
again. It refuses:
  - a --to that holds any row (copy into a new, empty database);
  - a --from at another schema version than this certgate's (start this
    version's 'certgate serve' on it once, which migrates it, then stop it);
  - a --from that a server is using: stop the server first. A SQLite server is
    seen by its data directory's lock (give the data directory, or the
    certgate.db inside it, as --from); a PostgreSQL one by its node lease.

Then start 'certgate serve' with the same --data (its ca/ directory belongs
to the database) and --db naming the copy. The data directory's SQLite file
is left as it was: keep it until the new database has served.`,
		Example: `  certgate db copy --from ./certgate-data --to 'postgres://certgate@db.internal:5432/certgate?sslmode=verify-full'
  certgate serve --data ./certgate-data --db 'postgres://certgate@db.internal:5432/certgate?sslmode=verify-full'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, srcDir, err := copyDatabaseArg("--from", from, true)
			if err != nil {
				return err
			}
			dst, dstDir, err := copyDatabaseArg("--to", to, false)
			if err != nil {
				return err
			}
			if sameDatabase(src, dst) {
				return fmt.Errorf("--from and --to name the same database %s", store.DescribeDSN(src))
			}
			if dstDir != "" && srcDir != "" && sameFile(srcDir, dstDir) {
				dstDir = "" // one lock: a second one on the same directory would be refused
			}
			for _, dir := range []string{srcDir, dstDir} {
				if dir == "" {
					continue
				}
				unlock, err := lockData(dir, "copying its database")
				if err != nil {
					return err
				}
				defer unlock()
			}
			res, err := store.CopyDatabase(cmd.Context(), src, dst, store.CopyOptions{})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			nameW, rowsW := 0, 0
			for _, t := range res.Tables {
				nameW, rowsW = max(nameW, len(t.Name)), max(rowsW, len(strconv.FormatInt(t.Rows, 10)))
			}
			for _, t := range res.Tables {
				fmt.Fprintf(out, "%-*s  %*d rows\n", nameW, t.Name, rowsW, t.Rows)
			}
			fmt.Fprintf(out, "copied %d rows of %d tables (schema version %d) from %s to %s; each table's row count equals the source's\n",
				res.Rows, len(res.Tables), res.SchemaVersion, store.DescribeDSN(src), store.DescribeDSN(dst))
			data := "DATA"
			if srcDir != "" {
				data = srcDir
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "next: certgate serve --data %s --db TO, with TO the database given as --to (%s belongs to the copy); keep %s until the copy has served\n",
				data, server.CADir(data), store.DescribeDSN(src))
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "database to copy: a data directory, a SQLite file, or a postgres:// URL")
	cmd.Flags().StringVar(&to, "to", "", "new, empty database to copy into: a postgres:// URL, a data directory, or a SQLite file")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// copyDatabaseArg resolves --from or --to (flag) of `db copy`: a
// postgres:// URL as it is; an existing directory is a data directory,
// whose certgate.db is the database and whose lock (lockDir) the copy
// holds; anything else is a SQLite file, whose directory's lock is held
// when that directory is a data directory (it holds certgate.lock). A
// source (source) SQLite file must exist; a target that does not exist
// must have a "." in its name (certgate.db), else it is refused as a data
// directory not yet created.
func copyDatabaseArg(flag, arg string, source bool) (dsn, lockDir string, err error) {
	if strings.TrimSpace(arg) == "" {
		return "", "", fmt.Errorf("%s is empty: give a data directory, a SQLite file or a postgres:// URL", flag)
	}
	if store.IsConninfo(arg) {
		return "", "", fmt.Errorf("%s: %w", flag, store.ErrConninfo) // not echoed: it may hold a password
	}
	if store.IsPostgresDSN(arg) {
		return arg, "", nil
	}
	if fi, err := os.Stat(arg); err == nil && fi.IsDir() {
		dsn = server.DSN(arg, "")
		if _, err := os.Stat(dsn); source && errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("%s %s: no certgate database at %s: give the server's data directory or database", flag, arg, dsn)
		}
		return dsn, arg, nil
	}
	if _, err := os.Stat(arg); errors.Is(err, fs.ErrNotExist) {
		if source {
			return "", "", fmt.Errorf("%s: no certgate database at %s: give the server's data directory or database", flag, arg)
		}
		if !strings.Contains(filepath.Base(arg), ".") {
			// Likely meant as a data directory: a SQLite file named so
			// would be refused by `serve --data` later.
			return "", "", fmt.Errorf("%s %s does not exist: create the data directory first (mkdir -m 700 %s), or name the SQLite file (%s)",
				flag, arg, arg, filepath.Join(arg, "certgate.db"))
		}
	}
	if dir := filepath.Dir(arg); fileExists(filepath.Join(dir, server.LockFile)) {
		return arg, dir, nil
	}
	return arg, "", nil
}

// fileExists reports whether path names an existing file of any kind.
func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// sameDatabase reports whether the databases a and b (as copyDatabaseArg
// resolved them) are one: the same URL, or SQLite paths of one file.
func sameDatabase(a, b string) bool {
	if a == b {
		return true
	}
	if store.IsPostgresDSN(a) || store.IsPostgresDSN(b) {
		return false
	}
	return sameFile(a, b)
}

// sameFile reports whether the paths a and b both exist and name one file
// or directory (symbolic links followed).
func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}
