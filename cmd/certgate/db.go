package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/certgate/certgate/internal/issuer/local"
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
    seen by its database's lock (FILE-certgate.lock beside it) and its data
    directory's; a PostgreSQL one by its node lease.

Then serve the copy as the "next:" line printed last says. Into PostgreSQL or
a SQLite file named otherwise than certgate.db: 'certgate serve' with the
source's --data (its ca/ directory belongs to the database) and --db naming
the copy. Into a data directory DIR (DIR/certgate.db): copy the CA there first
('certgate ca export --data DATA --with-retired | certgate ca import --data
DIR'), then 'certgate serve --data DIR'. The source is left as it was: keep
it until the new database has served.`,
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
			// A server on another data directory given --from with --db.
			unlockSrc, err := lockDatabase(src, srcDir, "copying its database")
			if err != nil {
				return err
			}
			defer unlockSrc(false)
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
			fmt.Fprintln(cmd.ErrOrStderr(), copyNextHint(src, srcDir, dst))
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "database to copy: a data directory, a SQLite file, or a postgres:// URL")
	cmd.Flags().StringVar(&to, "to", "", "new, empty database to copy into: a postgres:// URL, a data directory, or a SQLite file")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// copyNextHint is the "next:" line of `db copy` from the database src to
// dst (as copyDatabaseArg resolved them; srcDir is the source's data
// directory, "" if unknown): the commands that serve the copy, to run as
// printed. The copy needs the CA of the source's data directory (the
// database names its root): a PostgreSQL target, or a SQLite file named
// otherwise than certgate.db, is served with that data directory and --db;
// a SQLite target DIR/certgate.db is served as the data directory DIR,
// into which that CA is copied first (certgate ca export --with-retired
// | certgate ca import, as a new node gets it) unless DIR holds a CA
// already (serve refuses one the database does not name). Where the source's data
// directory is not known (a PostgreSQL source, a SQLite file outside a
// data directory), it is DATA, said so. A URL holding a password is not
// repeated: TO stands for it.
func copyNextHint(src, srcDir, dst string) string {
	data, notes := "DATA", []string{}
	switch {
	case srcDir != "":
		data = shellArg(srcDir)
	case store.IsPostgresDSN(src):
		notes = append(notes, "DATA the data directory of a node that served "+store.DescribeDSN(src)+" (its ca/ is the copy's CA)")
	default:
		notes = append(notes, "DATA the data directory that served "+src+" (its ca/ is the copy's CA)")
	}
	var line string
	switch {
	case store.IsPostgresDSN(dst):
		db := shellArg(dst)
		if urlHasPassword(dst) {
			db = "TO"
			notes = append(notes, "TO the URL given as --to")
		}
		line = "next: certgate serve --data " + data + " --db " + db
	case filepath.Base(dst) == "certgate.db":
		dir := shellArg(filepath.Dir(dst))
		if ok, _ := local.Exists(server.CADir(filepath.Dir(dst))); ok {
			// serve checks that it is the CA the database names.
			line = "next: certgate serve --data " + dir
			notes = nil
			break
		}
		line = "next: certgate ca export --data " + data + " --with-retired | certgate ca import --data " + dir +
			", then certgate serve --data " + dir
	default:
		line = "next: certgate serve --data " + data + " --db " + shellArg(dst)
	}
	if len(notes) > 0 {
		line += ", with " + strings.Join(notes, " and ")
	}
	return line + "; keep " + store.DescribeDSN(src) + " until the copy has served"
}

// urlHasPassword reports whether the postgres:// URL dsn holds a password
// (in its user information or as the password parameter).
func urlHasPassword(dsn string) bool {
	u, err := url.Parse(dsn)
	if err != nil {
		return true // not repeated
	}
	if _, ok := u.User.Password(); ok {
		return true
	}
	return u.Query().Has("password")
}

// shellArg is s as one argument of a POSIX shell command line: as it is
// when it holds only characters no shell treats specially, else in single
// quotes.
func shellArg(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
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
