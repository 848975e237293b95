package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pressly/goose/v3"
)

// Errors of CopyDatabase, wrapped with the details.
var (
	// ErrCopyTargetNotEmpty: the target database holds rows (a server
	// used it, or an earlier copy completed).
	ErrCopyTargetNotEmpty = errors.New("the target database is not empty")
	// ErrCopySourceVersion: the source's schema version is not the one of
	// this certgate's migrations.
	ErrCopySourceVersion = errors.New("the source database's schema version is not this certgate's")
	// ErrCopySourceInUse: a certgate server holds a live node lease on
	// the source database.
	ErrCopySourceInUse = errors.New("a certgate server is running on the source database")
	// ErrCopySameDatabase: the source and the target are one database,
	// named by the same DSN or, for PostgreSQL, reached through two
	// URLs (another host name or address of the server, other
	// parameters).
	ErrCopySameDatabase = errors.New("the source and the target are the same database")
)

// copySeeded lists the tables the migrations themselves fill with rows
// (audit_head: the audit chain's head at sequence 0). They are not counted
// when the target is checked for emptiness, and the copy replaces their
// rows with the source's. TestCopySeededTables fails when a migration
// seeds another table without it being listed here.
var copySeeded = []string{"audit_head"}

// copyBatchParams bounds the parameters of one multi-row INSERT (SQLite
// allows 32766, PostgreSQL 65535).
const copyBatchParams = 30000

// copyBatchRows bounds the rows of one multi-row INSERT.
const copyBatchRows = 500

// CopiedTable is one table CopyDatabase copied.
type CopiedTable struct {
	Name string // table name
	Rows int64  // rows copied, equal to the source's and the target's count
}

// CopyResult is what CopyDatabase copied.
type CopyResult struct {
	SchemaVersion int64         // goose version of both databases
	Tables        []CopiedTable // in the order copied (referenced tables first)
	Rows          int64         // rows of all tables
}

// CopyOptions tunes CopyDatabase.
type CopyOptions struct {
	// Now is the time a node lease of the source is compared with (zero:
	// time.Now()).
	Now time.Time
	// Progress, when set, is called after each batch of rows is written
	// to the target (in its transaction, not yet committed) with the
	// table and the rows of it written so far.
	Progress func(table string, rows int64)
}

// copyColumn is a column of a table as the target declares it.
type copyColumn struct {
	name string
	typ  string // declared type, lower case ("boolean", "bytea", "integer"...)
}

// copyTable is a table to copy with the target's columns.
type copyTable struct {
	name     string
	cols     []copyColumn
	identity bool // PostgreSQL: has a GENERATED ALWAYS identity column
}

// CopyDatabase copies every row of the certgate database from into the
// empty database to, preserving every value (primary keys, serial numbers,
// timestamps, blobs) as stored: from a SQLite file to PostgreSQL (the move
// a deployment makes when it outgrows SQLite), or back, or between two
// databases of one engine. Each of from and to is a SQLite path or a
// postgres:// URL, as Open takes them; a SQLite from must exist.
//
// It refuses, before writing anything, a from whose schema version (goose)
// is not the latest of this certgate's migrations (ErrCopySourceVersion),
// a from on which a server holds a live node lease (ErrCopySourceInUse; a
// SQLite server holds none: the caller takes its data directory's lock),
// a to that is from itself (ErrCopySameDatabase: the same DSN, or two
// postgres:// URLs that reach one database, as another host name of the
// server does), and a to that holds any row (ErrCopyTargetNotEmpty; the rows the
// migrations seed do not count), or that holds tables but no certgate
// schema (ErrCopyTargetNotEmpty too). It then migrates to as Open does (a new
// database gets the schema) and copies the tables in one transaction of
// to, read from one snapshot of from: referenced tables first (the
// schema's foreign keys), in multi-row INSERT batches, setting
// PostgreSQL's identity sequences past the copied keys. The tables are
// those of from's schema, not a list of certgate's. Before committing,
// each table's row count in to is checked against from's. A copy that
// fails or whose ctx ends (or whose process dies) leaves to without rows,
// so it can be run again.
func CopyDatabase(ctx context.Context, from, to string, o CopyOptions) (CopyResult, error) {
	var res CopyResult
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	if from == to {
		return res, fmt.Errorf("%w: %s", ErrCopySameDatabase, DescribeDSN(from))
	}
	src, srcEngine, err := openCopyDB(ctx, from, true)
	if err != nil {
		return res, fmt.Errorf("source: %w", err)
	}
	defer src.Close()
	if srcEngine == EnginePostgres && IsPostgresDSN(to) {
		same, err := samePostgresDatabase(ctx, src, to)
		if err != nil {
			return res, err
		}
		if same {
			return res, fmt.Errorf("%w: %s and %s reach one PostgreSQL database; copy into a new, empty database",
				ErrCopySameDatabase, DescribeDSN(from), DescribeDSN(to))
		}
	}
	want, err := latestVersion(src, srcEngine)
	if err != nil {
		return res, err
	}
	var have sql.NullInt64
	if err := src.QueryRowContext(ctx, `SELECT MAX(version_id) FROM goose_db_version`).Scan(&have); err != nil {
		return res, fmt.Errorf("source %s holds no certgate database (%w)", DescribeDSN(from), ErrNoSchema)
	}
	if have.Int64 != want {
		hint := "start `certgate serve` of this version on it once (it applies the migrations), then copy"
		if have.Int64 > want {
			hint = "copy it with the certgate that migrated it (or a newer one)"
		}
		return res, fmt.Errorf("%w: source %s is at schema version %d, this certgate's is %d; %s",
			ErrCopySourceVersion, DescribeDSN(from), have.Int64, want, hint)
	}
	res.SchemaVersion = want
	var leases int64
	if err := src.QueryRowContext(ctx, rebind(srcEngine, `SELECT COUNT(*) FROM node_leases WHERE lease_until >= ?`), ts(now)).Scan(&leases); err != nil {
		return res, fmt.Errorf("source: read node leases: %w", err)
	}
	if leases > 0 {
		return res, fmt.Errorf("%w (%d node lease(s) held until a moment after now): stop every certgate serve on it, wait 5 seconds, and copy again",
			ErrCopySourceInUse, leases)
	}

	// The target: refuse one with rows before creating the schema, then
	// migrate it as a server's start does.
	if err := checkTargetEmpty(ctx, to); err != nil {
		return res, err
	}
	mctx, cancel := context.WithCancel(ctx)
	st, err := Open(mctx, to)
	cancel()
	if err != nil {
		return res, fmt.Errorf("target: %w", err)
	}
	if err := st.Close(); err != nil {
		return res, fmt.Errorf("target: %w", err)
	}
	dst, dstEngine, err := openCopyDB(ctx, to, false)
	if err != nil {
		return res, fmt.Errorf("target: %w", err)
	}
	defer dst.Close()

	tables, err := copyPlan(ctx, src, srcEngine, dst, dstEngine)
	if err != nil {
		return res, err
	}
	srcTx, err := beginSnapshot(ctx, src, srcEngine)
	if err != nil {
		return res, fmt.Errorf("source: %w", err)
	}
	defer srcTx.Rollback() //nolint:errcheck // read-only
	dstTx, err := dst.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("target: begin: %w", err)
	}
	defer dstTx.Rollback() //nolint:errcheck // a no-op after Commit
	// In the transaction: a server that started on the target since the
	// first check is seen (or its rows conflict with the copy's).
	if err := targetRows(ctx, dstTx, dstEngine, DescribeDSN(to)); err != nil {
		return res, err
	}
	for _, t := range tables {
		if slices.Contains(copySeeded, t.name) {
			if _, err := dstTx.ExecContext(ctx, `DELETE FROM `+quoteIdent(t.name)); err != nil {
				return res, fmt.Errorf("target: empty %s: %w", t.name, err)
			}
		}
		n, err := copyOneTable(ctx, srcTx, dstTx, dstEngine, t, o.Progress)
		if err != nil {
			return res, err
		}
		var srcCount, dstCount int64
		if err := srcTx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t.name)).Scan(&srcCount); err != nil {
			return res, fmt.Errorf("source: count %s: %w", t.name, err)
		}
		if err := dstTx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t.name)).Scan(&dstCount); err != nil {
			return res, fmt.Errorf("target: count %s: %w", t.name, err)
		}
		if srcCount != n || dstCount != n {
			return res, fmt.Errorf("copy database: table %s: the source holds %d rows, %d were read and the target holds %d; nothing was committed",
				t.name, srcCount, n, dstCount)
		}
		res.Tables = append(res.Tables, CopiedTable{Name: t.name, Rows: n})
		res.Rows += n
	}
	if dstEngine == EnginePostgres {
		if err := resetSequences(ctx, dstTx); err != nil {
			return res, err
		}
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("copy database: %w; nothing was committed", err)
	}
	if err := dstTx.Commit(); err != nil {
		return res, fmt.Errorf("target: commit: %w", err)
	}
	return res, nil
}

// openCopyDB opens the database dsn with plain connections: no migration,
// no writer. A SQLite source (source) must exist and is opened with
// query_only; a SQLite target checks foreign keys and takes the write lock
// at BEGIN, as the store's writer does.
func openCopyDB(ctx context.Context, dsn string, source bool) (*sql.DB, string, error) {
	if IsConninfo(dsn) {
		return nil, "", ErrConninfo
	}
	if IsPostgresDSN(dsn) {
		db, _, _, err := connectPostgres(ctx, dsn)
		if err != nil {
			return nil, "", err
		}
		return db, EnginePostgres, nil
	}
	if strings.TrimSpace(dsn) == "" {
		return nil, "", errors.New("empty database name")
	}
	if source {
		if _, err := os.Stat(dsn); err != nil {
			return nil, "", fmt.Errorf("no certgate database at %s: %w", dsn, err)
		}
	}
	q := "mode=rw&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
	if source {
		q = "mode=rw&_pragma=busy_timeout(10000)&_pragma=query_only(1)"
	}
	db, err := sql.Open("sqlite", sqliteURI(dsn, q))
	if err != nil {
		return nil, "", fmt.Errorf("open sqlite %s: %w", dsn, err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, "", fmt.Errorf("open sqlite %s: %w", dsn, err)
	}
	return db, EngineSQLite, nil
}

// latestVersion is the highest version among this binary's migrations of
// engine (goose; db is not read).
func latestVersion(db *sql.DB, engine string) (int64, error) {
	sub, err := fs.Sub(migrations, "migrations/"+engine)
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	dialect := goose.DialectSQLite3
	if engine == EnginePostgres {
		dialect = goose.DialectPostgres
	}
	prov, err := goose.NewProvider(dialect, db, sub, goose.WithGoMigrations(goMigrations(engine)...))
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	var v int64
	for _, m := range prov.ListSources() {
		v = max(v, m.Version)
	}
	return v, nil
}

// rebind turns q's ? placeholders into PostgreSQL's $1, $2... for engine
// postgres (the store's pools do that for their own statements).
func rebind(engine, q string) string {
	if engine != EnginePostgres {
		return q
	}
	return rebindDollar(q)
}

// quoteIdent quotes a table or column name for both engines.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// queryer is what listing a schema needs: a pool or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// strings1 runs q and returns its first column's values.
func strings1(ctx context.Context, db queryer, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// listTables returns the base tables of db's schema (the current schema
// on PostgreSQL), without goose's version table and SQLite's own tables,
// sorted by name.
func listTables(ctx context.Context, db queryer, engine string) ([]string, error) {
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> 'goose_db_version' ORDER BY name`
	if engine == EnginePostgres {
		q = `SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
			AND table_name <> 'goose_db_version' ORDER BY table_name`
	}
	t, err := strings1(ctx, db, q)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	return t, nil
}

// listColumns returns table's columns with their declared types, in order.
func listColumns(ctx context.Context, db queryer, engine, table string) ([]copyColumn, error) {
	q := `SELECT name, lower(type) FROM pragma_table_info(?) ORDER BY cid`
	if engine == EnginePostgres {
		q = `SELECT column_name::text, lower(data_type::text) FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`
	}
	rows, err := db.QueryContext(ctx, q, table)
	if err != nil {
		return nil, fmt.Errorf("list columns of %s: %w", table, err)
	}
	defer rows.Close()
	var cols []copyColumn
	for rows.Next() {
		var c copyColumn
		if err := rows.Scan(&c.name, &c.typ); err != nil {
			return nil, fmt.Errorf("list columns of %s: %w", table, err)
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// foreignKeys returns, for each table of tables, the other tables its
// foreign keys reference.
func foreignKeys(ctx context.Context, db queryer, engine string, tables []string) (map[string][]string, error) {
	refs := map[string][]string{}
	if engine == EnginePostgres {
		rows, err := db.QueryContext(ctx, `SELECT cl.relname::text, rf.relname::text FROM pg_constraint c
			JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class rf ON rf.oid = c.confrelid
			JOIN pg_namespace n ON n.oid = cl.relnamespace
			WHERE c.contype = 'f' AND n.nspname = current_schema()`)
		if err != nil {
			return nil, fmt.Errorf("list foreign keys: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var t, r string
			if err := rows.Scan(&t, &r); err != nil {
				return nil, fmt.Errorf("list foreign keys: %w", err)
			}
			refs[t] = append(refs[t], r)
		}
		return refs, rows.Err()
	}
	for _, t := range tables {
		r, err := strings1(ctx, db, `SELECT "table" FROM pragma_foreign_key_list(?)`, t)
		if err != nil {
			return nil, fmt.Errorf("list foreign keys of %s: %w", t, err)
		}
		refs[t] = r
	}
	return refs, nil
}

// dependencyOrder sorts tables so that each comes after the tables its
// foreign keys reference (refs), otherwise by name. A reference to itself
// or to a table not among tables is ignored; a cycle is an error.
func dependencyOrder(tables []string, refs map[string][]string) ([]string, error) {
	done := map[string]bool{}
	var out []string
	for len(out) < len(tables) {
		progress := false
		for _, t := range tables {
			if done[t] {
				continue
			}
			ready := true
			for _, r := range refs[t] {
				if r != t && slices.Contains(tables, r) && !done[r] {
					ready = false
					break
				}
			}
			if ready {
				done[t] = true
				out = append(out, t)
				progress = true
			}
		}
		if !progress {
			var left []string
			for _, t := range tables {
				if !done[t] {
					left = append(left, t)
				}
			}
			return nil, fmt.Errorf("copy database: the foreign keys of tables %s form a cycle", strings.Join(left, ", "))
		}
	}
	return out, nil
}

// copyPlan lists the tables to copy, in dependency order, with the
// target's columns: those of the source's schema. The target must have
// each of them with the same columns (both at the same schema version).
func copyPlan(ctx context.Context, src *sql.DB, srcEngine string, dst *sql.DB, dstEngine string) ([]copyTable, error) {
	names, err := listTables(ctx, src, srcEngine)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	dstNames, err := listTables(ctx, dst, dstEngine)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	refs, err := foreignKeys(ctx, dst, dstEngine, dstNames)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	order, err := dependencyOrder(names, refs)
	if err != nil {
		return nil, err
	}
	identity := map[string]bool{}
	if dstEngine == EnginePostgres {
		ids, err := strings1(ctx, dst, `SELECT table_name::text FROM information_schema.columns
			WHERE table_schema = current_schema() AND is_identity = 'YES' AND identity_generation = 'ALWAYS'`)
		if err != nil {
			return nil, fmt.Errorf("target: list identity columns: %w", err)
		}
		for _, t := range ids {
			identity[t] = true
		}
	}
	var plan []copyTable
	for _, name := range order {
		if !slices.Contains(dstNames, name) {
			return nil, fmt.Errorf("copy database: the target has no table %s, which the source has (the schemas differ)", name)
		}
		sc, err := listColumns(ctx, src, srcEngine, name)
		if err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
		dc, err := listColumns(ctx, dst, dstEngine, name)
		if err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
		names := func(cs []copyColumn) []string {
			var n []string
			for _, c := range cs {
				n = append(n, c.name)
			}
			slices.Sort(n)
			return n
		}
		if !slices.Equal(names(sc), names(dc)) {
			return nil, fmt.Errorf("copy database: table %s has columns %v in the source and %v in the target (the schemas differ)",
				name, names(sc), names(dc))
		}
		plan = append(plan, copyTable{name: name, cols: dc, identity: identity[name]})
	}
	return plan, nil
}

// samePostgresDatabase reports whether the PostgreSQL database at to is
// the one src is connected to, however the two URLs name it (127.0.0.1
// and localhost, another port forwarded to the same server, other
// parameters). A connection of src takes a random application_name, which
// every role sees in pg_stat_activity; to's connection looks for it there
// in its own current_database(). Nothing is written.
func samePostgresDatabase(ctx context.Context, src *sql.DB, to string) (bool, error) {
	conn, err := src.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("source: %w", err)
	}
	defer conn.Close()
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return false, fmt.Errorf("same database check: %w", err)
	}
	marker := "certgate-db-copy-" + hex.EncodeToString(b[:])
	if _, err := conn.ExecContext(ctx, `SELECT set_config('application_name', $1, false)`, marker); err != nil {
		return false, fmt.Errorf("source: same database check: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `RESET application_name`) //nolint:errcheck // the connection is the copy's own
	dst, _, err := openCopyDB(ctx, to, false)
	if err != nil {
		return false, fmt.Errorf("target: %w", err)
	}
	defer dst.Close()
	var same bool
	if err := dst.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database())`, marker).Scan(&same); err != nil {
		return false, fmt.Errorf("target: same database check: %w", err)
	}
	return same, nil
}

// checkTargetEmpty refuses (ErrCopyTargetNotEmpty) a target database that
// holds rows in any table but those the migrations seed; one without
// tables (a new PostgreSQL database, a SQLite file not yet created) is
// empty.
func checkTargetEmpty(ctx context.Context, to string) error {
	if !IsPostgresDSN(to) {
		if _, err := os.Stat(to); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	db, engine, err := openCopyDB(ctx, to, true)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer db.Close()
	if err := targetRows(ctx, db, engine, DescribeDSN(to)); err != nil {
		return err
	}
	return targetSchema(ctx, db, engine, DescribeDSN(to))
}

// targetSchema refuses (ErrCopyTargetNotEmpty) a target, already found
// without rows, whose tables are not a certgate schema: tables without
// goose's version table, or a version table without versions (another
// application's database). Migrating such a target would fail half-way
// and leave tables behind.
func targetSchema(ctx context.Context, db queryer, engine, name string) error {
	tables, err := listTables(ctx, db, engine)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	var version sql.NullInt64
	gooseErr := db.QueryRowContext(ctx, `SELECT MAX(version_id) FROM goose_db_version`).Scan(&version)
	switch {
	case gooseErr != nil && len(tables) > 0:
		return fmt.Errorf("%w: %s holds tables that are not certgate's (table %s); copy into a new, empty database", ErrCopyTargetNotEmpty, name, tables[0])
	case gooseErr == nil && !version.Valid:
		return fmt.Errorf("%w: %s holds a goose_db_version table without versions, not certgate's; copy into a new, empty database", ErrCopyTargetNotEmpty, name)
	}
	return nil
}

// targetRows is checkTargetEmpty on an open database (or transaction).
func targetRows(ctx context.Context, db queryer, engine, name string) error {
	tables, err := listTables(ctx, db, engine)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	for _, t := range tables {
		if slices.Contains(copySeeded, t) {
			continue
		}
		var found bool
		if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+quoteIdent(t)+`)`).Scan(&found); err != nil {
			return fmt.Errorf("target: read %s: %w", t, err)
		}
		if found {
			return fmt.Errorf("%w: %s holds rows (table %s); copy into a new, empty database", ErrCopyTargetNotEmpty, name, t)
		}
	}
	return nil
}

// beginSnapshot begins the read transaction the source is copied from:
// one snapshot of every table (on PostgreSQL REPEATABLE READ, read only;
// on SQLite a read transaction, whose snapshot the first SELECT takes).
func beginSnapshot(ctx context.Context, db *sql.DB, engine string) (*sql.Tx, error) {
	if engine == EnginePostgres {
		return db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	}
	return db.BeginTx(ctx, nil)
}

// copyOneTable reads every row of t from src and inserts it into dst in
// batches, returning the rows copied.
func copyOneTable(ctx context.Context, src, dst *sql.Tx, dstEngine string, t copyTable, progress func(string, int64)) (int64, error) {
	var cols []string
	for _, c := range t.cols {
		cols = append(cols, quoteIdent(c.name))
	}
	colList := strings.Join(cols, ", ")
	rows, err := src.QueryContext(ctx, `SELECT `+colList+` FROM `+quoteIdent(t.name))
	if err != nil {
		return 0, fmt.Errorf("source: read %s: %w", t.name, err)
	}
	defer rows.Close()
	per := max(1, min(copyBatchRows, copyBatchParams/len(cols)))
	var batch []any
	var n int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		k := len(batch) / len(cols)
		var b strings.Builder
		b.WriteString(`INSERT INTO ` + quoteIdent(t.name) + ` (` + colList + `)`)
		if t.identity {
			b.WriteString(` OVERRIDING SYSTEM VALUE`)
		}
		b.WriteString(` VALUES ` + valueRows(k, len(cols)))
		if _, err := dst.ExecContext(ctx, rebind(dstEngine, b.String()), batch...); err != nil {
			return fmt.Errorf("target: write %s: %w", t.name, err)
		}
		n += int64(k)
		batch = batch[:0]
		if progress != nil {
			progress(t.name, n)
		}
		return nil
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, fmt.Errorf("source: read %s: %w", t.name, err)
		}
		for i, v := range vals {
			cv, err := copyValue(v, t.cols[i].typ, dstEngine)
			if err != nil {
				return 0, fmt.Errorf("copy database: table %s, column %s: %w", t.name, t.cols[i].name, err)
			}
			batch = append(batch, cv)
		}
		if len(batch)/len(cols) >= per {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("source: read %s: %w", t.name, err)
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return n, nil
}

// copyValue converts v, a value read from the source, to what the target
// column of declared type typ stores the same: SQLite's 0/1 for a
// PostgreSQL BOOLEAN and back, bytes for a BYTEA or BLOB column read as
// text, text for a text column read as bytes (UTF-8 only: PostgreSQL
// refuses anything else). Every other value is passed as read.
func copyValue(v any, typ, dstEngine string) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool:
		if dstEngine == EngineSQLite {
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		}
	case int64:
		if typ == "boolean" && dstEngine == EnginePostgres {
			switch x {
			case 0:
				return false, nil
			case 1:
				return true, nil
			}
			return nil, fmt.Errorf("%d is not a boolean (0 or 1)", x)
		}
	case string:
		if typ == "bytea" || typ == "blob" {
			return []byte(x), nil
		}
	case []byte:
		if typ != "bytea" && typ != "blob" && dstEngine == EnginePostgres {
			if !utf8.Valid(x) {
				return nil, errors.New("a text value that is not UTF-8")
			}
			return string(x), nil
		}
		return slices.Clone(x), nil
	}
	return v, nil
}

// resetSequences sets each sequence of the target's identity and serial
// columns past the largest key copied, so that the next row the store
// inserts gets a new one.
func resetSequences(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT table_name::text, column_name::text FROM information_schema.columns
		WHERE table_schema = current_schema() AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')`)
	if err != nil {
		return fmt.Errorf("target: list sequences: %w", err)
	}
	type col struct{ table, column string }
	var cols []col
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.table, &c.column); err != nil {
			rows.Close()
			return fmt.Errorf("target: list sequences: %w", err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("target: list sequences: %w", err)
	}
	for _, c := range cols {
		q := `SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT MAX(` + quoteIdent(c.column) + `) FROM ` + quoteIdent(c.table) + `), 0) + 1, false)`
		if _, err := tx.ExecContext(ctx, q, quoteIdent(c.table), c.column); err != nil {
			return fmt.Errorf("target: reset the sequence of %s.%s: %w", c.table, c.column, err)
		}
	}
	return nil
}
