package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations
var migrations embed.FS

// Engine names, as returned by Store.Engine.
const (
	EngineSQLite   = "sqlite"
	EnginePostgres = "postgres"
)

// DefaultPostgresConns is the size of a PostgreSQL store's connection pool
// unless the DSN sets pool_max_conns.
const DefaultPostgresConns = 16

// Store is the SQL implementation of certgate's storage. On SQLite, writes
// go through a single writer connection (SQLite allows one writer at a
// time) and reads use a pool of read-only connections; on PostgreSQL one
// pool serves both. Safe for concurrent use, and on PostgreSQL safe for
// many processes sharing one database: every state change is a conditional
// UPDATE or a unique INSERT, so concurrent callers cannot both win.
type Store struct {
	engine string
	w      *pool        // writer; on SQLite its one connection belongs to wr
	r      *pool        // readers; the same pool as w on PostgreSQL
	wr     *writer      // SQLite: runs every write (group commit); nil on PostgreSQL
	wal    *walSyncer   // SQLite: makes durable commits durable (see walSyncer); nil on PostgreSQL
	chains *chainCache  // issuer chains known to be committed (chains.go)
	recent *recentCerts // certificates recently committed by FinishOrder (recentcerts.go)
	probe  *sqliteProbe // SQLite: what Ping reads (health.go); nil on PostgreSQL
	// async: PostgreSQL connections whose sessions commit asynchronously
	// (synchronous_commit off), for single statements that may be lost in
	// a crash of the database server (used nonces); nil on SQLite.
	async *pool
}

// asyncPostgresConns is the size of a PostgreSQL store's pool of
// asynchronously committing connections (Store.async): its statements are
// single quick INSERTs, one per ACME request at most.
const asyncPostgresConns = 4

// Open opens the database named by dsn, applies the embedded migrations
// and returns the Store. A dsn starting with postgres:// or postgresql://
// opens PostgreSQL (see OpenPostgres); anything else is the path of a
// SQLite database file (see OpenSQLite).
func Open(ctx context.Context, dsn string) (*Store, error) {
	if IsPostgresDSN(dsn) {
		return OpenPostgres(ctx, dsn)
	}
	if strings.TrimSpace(dsn) == "" {
		return nil, errors.New("open store: empty database name")
	}
	if IsConninfo(dsn) {
		// Not echoed: such a string usually holds a password.
		return nil, ErrConninfo
	}
	return OpenSQLite(ctx, dsn)
}

// ErrConninfo is returned by Open for a database name that is a
// PostgreSQL key=value connection string ("host=db user=app ...") rather
// than a postgres:// URL or a SQLite path: opened as a SQLite path it would
// create a file named after the string, password included.
var ErrConninfo = errors.New("open store: the database name is a PostgreSQL key=value connection string; " +
	"write it as a URL: postgres://USER:PASSWORD@HOST:PORT/DBNAME?sslmode=MODE")

// IsConninfo reports whether dsn is a PostgreSQL key=value connection string:
// its first word is one of libpq's connection keywords (PostgreSQL
// documentation, "Parameter Key Words") followed by "=". A SQLite path such
// as "./host=1.db" or "data/user=x.db" is not taken for one.
func IsConninfo(dsn string) bool {
	first, _, ok := strings.Cut(strings.TrimSpace(dsn), "=")
	if !ok {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(first)) {
	case "host", "hostaddr", "port", "dbname", "user", "password", "sslmode", "passfile", "connect_timeout", "application_name", "service":
		return true
	}
	return false
}

// IsPostgresDSN reports whether dsn names a PostgreSQL database (a
// postgres:// or postgresql:// URL) rather than a SQLite file.
func IsPostgresDSN(dsn string) bool {
	d := strings.ToLower(dsn)
	return strings.HasPrefix(d, "postgres://") || strings.HasPrefix(d, "postgresql://")
}

// OpenSQLite opens (creating if needed, with mode SQLiteFileMode) the
// SQLite database at path with WAL journaling and synchronous=NORMAL,
// applies the embedded migrations and returns the Store. Errors are
// wrapped with the failing step.
func OpenSQLite(ctx context.Context, path string) (*Store, error) {
	return openSQLite(ctx, path, checkpointInterval)
}

// openSQLite is OpenSQLite with the background checkpoints' interval (see
// checkpointer), which tests change.
func openSQLite(ctx context.Context, path string, ckptInterval time.Duration) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	if err := createSQLiteFile(path); err != nil {
		return nil, err
	}
	// Page caches: 16 MiB for the writer, 4 MiB per reader; with a large
	// database (1M certificates ≈ 5 GB) the default 2 MiB cache turned index
	// updates into file reads (docs/performance.md). WAL checkpoints run on
	// a connection of their own (see checkpointer); the writer's
	// wal_autocheckpoint is only a backstop, and its journal_size_limit
	// trims a WAL file a burst left large when the WAL starts over.
	dsn := sqliteURI(path, "_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)"+
		"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_pragma=cache_size(-16384)"+
		"&_pragma=wal_autocheckpoint("+strconv.Itoa(sqliteAutocheckpointPages)+")"+
		"&_pragma=journal_size_limit("+strconv.Itoa(walSizeLimit)+")&_txlock=immediate")
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// Two connections while migrating: goose runs the migrations on one
	// connection it holds, and the key hash backfill (migration 18, no
	// transaction of goose's) commits its batches on another. Then the
	// writer's one connection.
	w.SetMaxOpenConns(2)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := migrate(ctx, w, EngineSQLite); err != nil {
		w.Close()
		return nil, err
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", sqliteURI(path, "_pragma=busy_timeout(10000)&_pragma=query_only(1)&_pragma=cache_size(-4096)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite readers: %w", err)
	}
	r.SetMaxOpenConns(8)
	c, err := sql.Open("sqlite", sqliteURI(path, "_pragma=busy_timeout(10000)"))
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open sqlite checkpointer: %w", err)
	}
	c.SetMaxOpenConns(1)
	wr, err := newWriter(ctx, w, c, ckptInterval)
	if err != nil {
		c.Close()
		r.Close()
		w.Close()
		return nil, err
	}
	probe, err := newSQLiteProbe(path)
	if err != nil {
		wr.stop()
		r.Close()
		w.Close()
		return nil, err
	}
	s := &Store{engine: EngineSQLite, w: newPool(w, false), r: newPool(r, false), wr: wr, wal: newWALSyncer(path, &wr.commits),
		chains: newChainCache(), recent: newRecentCerts(), probe: probe}
	// Commits a process before this one made and did not sync (one
	// killed between an issued certificate's commit and the fsync
	// FinishOrder started) go to disk now, not at the next write: the
	// certificate's download may come after SyncIfRecent's minute.
	if err := s.wal.syncFresh(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return s, nil
}

// OpenPostgres connects to the PostgreSQL database named by dsn (a
// postgres:// URL or a key=value connection string, as pgx accepts), applies
// the embedded migrations under a session-level advisory lock, so that
// several nodes starting at once migrate once, and returns the Store. The
// pool holds up to DefaultPostgresConns connections; a pool_max_conns
// parameter in a URL dsn changes that (it is not passed to the server).
// Errors never contain the password.
func OpenPostgres(ctx context.Context, dsn string) (*Store, error) {
	return openPostgres(ctx, dsn, false)
}

// ErrNoSchema is returned by OpenExisting for a PostgreSQL database or an
// existing SQLite file that has no certgate schema (no goose_db_version
// table: on its search_path, or in the file).
var ErrNoSchema = errors.New("no certgate schema in the database")

// OpenExisting opens the database named by dsn as Open does, applying
// pending migrations, but creates no new certgate database: a PostgreSQL
// database or an existing SQLite file without certgate's schema (another
// application's database, an empty file) is refused with ErrNoSchema
// before anything is written to it. (A SQLite file that does not exist is
// the caller's to refuse: OpenSQLite would create it.) For administrative
// commands, which must not turn a mistyped --db into an empty certgate
// database.
func OpenExisting(ctx context.Context, dsn string) (*Store, error) {
	if IsPostgresDSN(dsn) {
		return openPostgres(ctx, dsn, true)
	}
	if fi, err := os.Stat(dsn); err == nil && fi.Mode().IsRegular() && !IsConninfo(dsn) {
		if err := sqliteHasSchema(ctx, dsn); err != nil {
			return nil, err
		}
	}
	return Open(ctx, dsn)
}

// sqliteHasSchema returns ErrNoSchema, naming path, when the SQLite file
// at path has no goose_db_version table; it opens the file read-only.
func sqliteHasSchema(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", sqliteURI(path, "mode=ro"))
	if err != nil {
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'goose_db_version'`).Scan(&n); err != nil {
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w (another application's database, or an empty file)", path, ErrNoSchema)
	}
	return nil
}

func openPostgres(ctx context.Context, dsn string, existing bool) (*Store, error) {
	db, cfg, target, err := connectPostgres(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if existing {
		var found bool
		if err := db.QueryRowContext(ctx, `SELECT to_regclass('goose_db_version') IS NOT NULL`).Scan(&found); err != nil {
			db.Close()
			return nil, fmt.Errorf("%s: look for the certgate schema: %w", target, err)
		}
		if !found {
			db.Close()
			return nil, fmt.Errorf("%s: %w", target, ErrNoSchema)
		}
	}
	if err := migrate(ctx, db, EnginePostgres); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", target, err)
	}
	// Sessions that commit asynchronously, so that a statement that may be
	// lost in a crash needs one round trip in autocommit instead of four
	// (BEGIN, SET LOCAL synchronous_commit, the statement, COMMIT).
	acfg := cfg.Copy()
	acfg.RuntimeParams["synchronous_commit"] = "off"
	adb := stdlib.OpenDB(*acfg)
	adb.SetMaxOpenConns(asyncPostgresConns)
	adb.SetMaxIdleConns(asyncPostgresConns)
	adb.SetConnMaxIdleTime(5 * time.Minute)
	p := newPool(db, true)
	return &Store{engine: EnginePostgres, w: p, r: p, async: newPool(adb, true), chains: newChainCache(), recent: newRecentCerts()}, nil
}

// connectPostgres opens a pool on the PostgreSQL database named by dsn (see
// OpenPostgres: pool_max_conns, else DefaultPostgresConns connections) and
// checks that it answers. It returns the pool, pgx's configuration and the
// database's name for messages (user, host and database, never the
// password).
func connectPostgres(ctx context.Context, dsn string) (*sql.DB, *pgx.ConnConfig, string, error) {
	conns := DefaultPostgresConns
	target := "PostgreSQL"
	if u, err := url.Parse(dsn); err == nil && IsPostgresDSN(dsn) {
		q := u.Query()
		if v := q.Get("pool_max_conns"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, nil, "", fmt.Errorf("open postgres: pool_max_conns=%q is not a positive number", v)
			}
			conns = n
			q.Del("pool_max_conns")
			u.RawQuery = q.Encode()
		}
		dsn = u.String() // also lower-cases the scheme, as pgx expects
		target = "PostgreSQL " + describeURL(u)
	}
	cfg, err := pgx.ParseConfig(dsn) // pgx redacts the password in its errors
	if err != nil {
		return nil, nil, "", fmt.Errorf("open postgres: %w", &parseDSNError{err: err})
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, nil, "", &connectError{target: target, err: err}
	}
	return db, cfg, target, nil
}

// DescribeDSN names the database of dsn for messages: a SQLite path as it
// is, a PostgreSQL URL without its password and parameters (which may
// carry one).
func DescribeDSN(dsn string) string {
	if !IsPostgresDSN(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "PostgreSQL"
	}
	return describeURL(u)
}

// parseDSNError is a PostgreSQL connection string pgx refused. Its text is
// pgx's (the connection string with the password masked, and the
// parameter), except that a parameter that is not a number is said in
// words, not as Go's strconv error ("invalid connect_timeout: "x" is not a
// whole number", not "(strconv.ParseInt: parsing "x": invalid syntax)").
// Unwrap gives pgx's error.
type parseDSNError struct{ err error }

func (e *parseDSNError) Error() string {
	text := e.err.Error()
	var pce *pgconn.ParseConfigError
	var ne *strconv.NumError
	if !errors.As(e.err, &pce) || !errors.As(pce, &ne) {
		return text
	}
	inner := errors.Unwrap(pce)
	base, ok := strings.CutSuffix(pce.Error(), " ("+inner.Error()+")")
	if !ok {
		return text
	}
	if errors.Is(ne.Err, strconv.ErrRange) {
		return fmt.Sprintf("%s: %q is out of range", base, ne.Num)
	}
	return fmt.Sprintf("%s: %q is not a whole number", base, ne.Num)
}

func (e *parseDSNError) Unwrap() error { return e.err }

// connectError is a failed connection to PostgreSQL. Its text names the
// database and the cause in a few words on one line: the server's message
// (a role or database that does not exist, a failed password), or the
// network error of each address tried, without pgx's restatement of user,
// database and addresses. Unwrap gives pgx's error.
type connectError struct {
	target string // "PostgreSQL postgres://user@host:port/db"
	err    error
}

func (e *connectError) Error() string {
	return "connect to " + e.target + ": " + connectCause(e.err)
}

func (e *connectError) Unwrap() error { return e.err }

// connectCause is the reason in err, a failed pgx connection, in a few
// words (see connectError).
func connectCause(err error) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Message + " (SQLSTATE " + pg.Code + ")"
	}
	var causes []string
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case *net.DNSError:
			causes = append(causes, "cannot resolve "+e.Name+": "+e.Err)
			return
		case *net.OpError:
			if e.Addr != nil {
				if c := e.Addr.String() + ": " + innermost(e).Error(); !slices.Contains(causes, c) {
					causes = append(causes, c)
				}
				return
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	if len(causes) > 0 {
		return strings.Join(causes, "; ")
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) && errors.Unwrap(ce) != nil {
		err = errors.Unwrap(ce) // without "failed to connect to `user=... database=...`"
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

// innermost is the last error in err's chain of single wrappers, e.g. the
// "connection refused" of a dial.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// describeURL names a database URL's user, host and database, without
// password or parameters (which may carry one), for error messages.
func describeURL(u *url.URL) string {
	d := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if u.User != nil {
		d.User = url.User(u.User.Username())
	}
	return d.String()
}

// migrateLockWait is how long, in seconds, a PostgreSQL node waits for
// another node's migrations (the advisory lock, polled every second)
// before it gives up: long enough for the concurrent index builds of a
// large database (docs/operations.md, "Upgrades").
const migrateLockWait = 3600

// migrate applies the embedded migrations of engine to db with goose. On
// PostgreSQL a session advisory lock serializes concurrent migrators; the
// others wait (polling every second, up to migrateLockWait) and then find
// nothing left to apply. The lock is held by a session that is idle
// between statements, not by a transaction, and the waiting nodes poll
// with pg_try_advisory_lock in statements of their own, so neither holds a
// snapshot or a table lock that the CREATE INDEX CONCURRENTLY of a
// migration (every one from 00014 on that builds an index) waits for.
func migrate(ctx context.Context, db *sql.DB, engine string) error {
	return migrateTo(ctx, db, engine, 0)
}

// migrateTo is migrate up to version (all of them when 0; tests stop
// earlier). The check for a newer schema runs only for all of them.
func migrateTo(ctx context.Context, db *sql.DB, engine string, version int64) error {
	sub, err := fs.Sub(migrations, "migrations/"+engine)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	dialect := goose.DialectSQLite3
	opts := []goose.ProviderOption{goose.WithGoMigrations(goMigrations(engine)...)}
	if engine == EnginePostgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, migrateLockWait))
		if err != nil {
			return fmt.Errorf("migrations lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	prov, err := goose.NewProvider(dialect, db, sub, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if version != 0 {
		if _, err := prov.UpTo(ctx, version); err != nil {
			return fmt.Errorf("apply migrations: %w", err)
		}
		return nil
	}
	log := migrationLog(ctx)
	var start time.Time
	if log != nil {
		// The versions before the lock is taken: on PostgreSQL another
		// node may apply some of them meanwhile, and this one then finds
		// less (or nothing) to do. A new database (version 0) is created
		// in milliseconds, and a start that fails after creating it
		// removes it: only an upgrade is logged.
		if from, to, err := prov.GetVersions(ctx); err == nil && from > 0 && from < to {
			start = time.Now()
			attrs := []any{"engine", engine, "from", from, "to", to}
			if engine == EnginePostgres {
				attrs = append(attrs, "note", "waits for another node's migrations first, if one runs them (up to 1h)")
			}
			log.Info("applying database migrations", attrs...)
		}
	}
	if _, err := prov.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	if !start.IsZero() {
		log.Info("applied database migrations", "engine", engine, "ms", time.Since(start).Milliseconds())
	}
	// A database migrated by a newer certgate may store things this one
	// cannot read (e.g. migration 00013 moved chains out of the certificate
	// rows): refuse it rather than serve wrong answers.
	current, target, err := prov.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if current > target {
		return fmt.Errorf("%w (version %d; this certgate knows up to %d): run the certgate that migrated it, or a newer one", ErrSchemaTooNew, current, target)
	}
	return nil
}

// migrationLogKey is the context key of WithMigrationLog's logger.
type migrationLogKey struct{}

// WithMigrationLog returns ctx carrying log, to which Open, OpenSQLite,
// OpenPostgres and OpenExisting given that ctx write an INFO line
// "applying database migrations" (engine, schema versions from and to)
// before they apply pending migrations, and "applied database migrations"
// (ms) after: a start that migrates a large database, or waits for another
// node's migrations, says what it is doing. Nothing is logged when no
// migration is pending, nor for a new database (schema version 0).
func WithMigrationLog(ctx context.Context, log *slog.Logger) context.Context {
	return context.WithValue(ctx, migrationLogKey{}, log)
}

// migrationLog is the logger of WithMigrationLog in ctx, nil without one.
func migrationLog(ctx context.Context) *slog.Logger {
	log, _ := ctx.Value(migrationLogKey{}).(*slog.Logger)
	return log
}

// ErrSchemaTooNew is returned by Open for a database that a newer certgate
// has migrated past the migrations embedded in this binary.
var ErrSchemaTooNew = errors.New("database schema is newer than this certgate")

// Engine returns the database engine: EngineSQLite or EnginePostgres.
func (s *Store) Engine() string { return s.engine }

// Close closes the connection pools.
func (s *Store) Close() error {
	if s.wr != nil {
		werr := s.wr.stop()
		s.wal.close()
		// The probe last: closing its descriptor of the database file
		// drops the process's locks on it (sqliteProbe).
		return errors.Join(werr, s.r.close(), s.w.close(), s.probe.close())
	}
	if s.r == s.w {
		if s.async != nil {
			return errors.Join(s.async.close(), s.w.close())
		}
		return s.w.close()
	}
	return errors.Join(s.r.close(), s.w.close())
}

// isUniqueViolation reports whether err is a unique-constraint violation:
// SQLSTATE 23505 from PostgreSQL, or SQLite's constraint message.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505" // unique_violation
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// tx runs fn in a transaction on the writer pool and commits it if fn
// returns nil. On SQLite the transaction takes the write lock at BEGIN
// (_txlock=immediate); on PostgreSQL it runs at READ COMMITTED, where a
// conditional UPDATE that waits for a concurrent one re-checks its WHERE
// clause on the committed row, so the loser finds no row (ErrStale).
//
// On SQLite fn runs as a job of the group-committing writer (see writer):
// possibly in one transaction with other callers' functions, each under its
// own savepoint, so that fn's error rolls back only fn's changes; fn's
// statements run to their end even if ctx ends meanwhile, and fn may run
// again if the shared transaction fails for a reason outside fn.
//
// The commit is durable when tx returns: on SQLite the WAL is synced to
// disk (walSyncer) before, for the rarer changes whose loss in a power
// failure would matter (administrators' changes, revocations, CRL numbers,
// imports, approvals). lazyTx and pointTx do not wait for that.
func (s *Store) tx(ctx context.Context, fn func(txConn) error) error {
	return s.txJob(ctx, fn, false, true)
}

// lazyTx is tx for changes that may roll back in a power failure (not
// synced on SQLite): sweeps of expired rows, which the next sweep makes
// again.
func (s *Store) lazyTx(ctx context.Context, fn func(txConn) error) error {
	return s.txJob(ctx, fn, false, false)
}

// txJob is tx with the writer job's kind, point (see writer), and durable:
// on SQLite the WAL is synced after the commit (walSyncer); PostgreSQL
// commits every transaction durably.
func (s *Store) txJob(ctx context.Context, fn func(txConn) error, point, durable bool) error {
	if s.wr != nil {
		var err error
		if point {
			err = s.wr.doPoint(ctx, fn)
		} else {
			err = s.wr.do(ctx, fn)
		}
		if err == nil && durable {
			err = s.wal.sync(ctx)
		}
		return err
	}
	tx, err := s.w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	var missing []string
	if err := fn(txConn{tx: tx, p: s.w, missing: &missing}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for _, q := range missing {
		_, _ = s.w.stmt(ctx, q) // best effort: the next transaction uses it
	}
	return nil
}

// pointTx is tx for fn that changes a handful of rows, as one ACME request
// does (on SQLite a point job of the writer, see writer), whose loss in a
// power failure only makes a client repeat a step (an order, a challenge's
// state, a rate-limit spend): on SQLite its commit is on disk only with
// the next sync of the WAL (a durable commit's or a checkpoint's, a few
// seconds at most).
func (s *Store) pointTx(ctx context.Context, fn func(txConn) error) error {
	return s.txJob(ctx, fn, true, false)
}

// hot runs fn, a short read on the request path (one row or a few, by
// key), with the readers' querier, or on SQLite on the writer connection
// between write batches, whose page cache every commit leaves valid (see
// writer.read). fn must finish reading its rows before it returns.
func (s *Store) hot(ctx context.Context, fn func(q querier) error) error {
	if s.wr == nil {
		return fn(s.r)
	}
	return s.wr.read(ctx, func(tx txConn) error { return fn(tx) })
}

// exec runs the single write statement q: on SQLite as a job of the
// group-committing writer, on PostgreSQL in autocommit.
func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return s.execJob(ctx, false, true, q, args...)
}

// pointExec is exec for a statement that changes a handful of rows (on
// SQLite a point job of the writer, see writer).
func (s *Store) pointExec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return s.execJob(ctx, true, false, q, args...)
}

// lazyExec is exec for a statement whose change may roll back in a power
// failure (not durable on SQLite, see lazyTx): pruning expired rows,
// filling derived columns again.
func (s *Store) lazyExec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return s.execJob(ctx, false, false, q, args...)
}

func (s *Store) execJob(ctx context.Context, point, durable bool, q string, args ...any) (sql.Result, error) {
	if s.wr == nil {
		return s.w.ExecContext(ctx, q, args...)
	}
	var res sql.Result
	fn := func(tx txConn) error {
		var err error
		res, err = tx.ExecContext(ctx, q, args...)
		return err
	}
	err := s.txJob(ctx, fn, point, durable) // a writer job: s.wr is set
	return res, err
}
