// Package storetest gives tests a fresh, empty certgate database on either
// engine: a SQLite file in a temporary directory, or a PostgreSQL database
// created for the test on the server named by CERTGATE_TEST_POSTGRES and
// dropped when the test ends. Tests that need PostgreSQL fail, never skip,
// when it is unreachable, saying how to start it.
package storetest

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
	"github.com/jackc/pgx/v5"
)

// EnvPostgres names the environment variable holding the URL of the
// PostgreSQL server (any database on it that the user may connect to) on
// which tests create their databases.
const EnvPostgres = "CERTGATE_TEST_POSTGRES"

// DefaultPostgres is the server used when EnvPostgres is unset: the local
// cluster that .ci/run starts, with trust authentication on loopback.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Engine is one storage engine under test.
type Engine struct {
	// Name is store.EngineSQLite or store.EnginePostgres.
	Name string
	// NewDSN returns the DSN of a fresh, empty database for t (for
	// store.Open), removed when t ends.
	NewDSN func(t testing.TB) string
}

// Engines lists both engines, SQLite first.
func Engines() []Engine {
	return []Engine{
		{Name: store.EngineSQLite, NewDSN: SQLiteDSN},
		{Name: store.EnginePostgres, NewDSN: PostgresDSN},
	}
}

// Open opens a fresh, empty store on engine e for t and closes it when t
// ends: a copy of the template database when the package's TestMain runs
// Main, else a new database that store.Open migrates.
func (e Engine) Open(t testing.TB) *store.Store {
	t.Helper()
	if dsn, ok := clone(t, e.Name); ok {
		return OpenDSN(t, dsn)
	}
	return OpenDSN(t, e.NewDSN(t))
}

// OpenSQLite opens a fresh, empty SQLite store for t and closes it when t
// ends: Engine.Open of SQLite, a copy of the template when the package's
// TestMain runs Main.
func OpenSQLite(t testing.TB) *store.Store {
	t.Helper()
	return Engines()[0].Open(t)
}

// EachStore runs test once per engine of Engines, as a parallel subtest
// named after the engine, with a fresh store of that engine (closed when
// the subtest ends). PostgreSQL must be reachable (RequirePostgres).
func EachStore(t *testing.T, test func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, e := range Engines() {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			if e.Name == store.EnginePostgres {
				RequirePostgres(t)
			}
			test(t, e.Open(t))
		})
	}
}

// EachEngine runs test once per engine of Engines, as a subtest named
// after the engine (not parallel), after RequirePostgres for PostgreSQL;
// test makes the databases it needs with e.NewDSN.
func EachEngine(t *testing.T, test func(t *testing.T, e Engine)) {
	t.Helper()
	for _, e := range Engines() {
		t.Run(e.Name, func(t *testing.T) {
			if e.Name == store.EnginePostgres {
				RequirePostgres(t)
			}
			test(t, e)
		})
	}
}

// OpenDSN opens the store at dsn and closes it when t ends.
func OpenDSN(t testing.TB, dsn string) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// SQLiteDSN returns the path of a new SQLite database in t's temporary
// directory (created on first open).
func SQLiteDSN(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "certgate.db")
}

// PostgresServer returns the URL of the PostgreSQL server tests use:
// $CERTGATE_TEST_POSTGRES, else DefaultPostgres.
func PostgresServer() string {
	if v := os.Getenv(EnvPostgres); v != "" {
		return v
	}
	return DefaultPostgres
}

// PostgresDSN creates an empty database named certgate_test_<random> on
// PostgresServer and returns its URL; the database is dropped (with any
// connections still open to it) when t ends. t fails, with instructions,
// when the server is unreachable.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	server := PostgresServer()
	u, err := url.Parse(server)
	if err != nil || !store.IsPostgresDSN(server) {
		t.Fatalf("%s=%q is not a postgres:// URL", EnvPostgres, server)
	}
	return createDatabase(t, server, u, "")
}

// createDatabase creates the database certgate_test_<random> on server
// (at u), a copy of template when that is not "" (CREATE DATABASE ...
// TEMPLATE), and returns its URL; the database is dropped when t ends.
func createDatabase(t testing.TB, server string, u *url.URL, template string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := mustConnect(ctx, t, server, u)
	defer conn.Close(ctx)
	name := "certgate_test_" + randomHex()
	create := "CREATE DATABASE " + name
	if template != "" {
		create += " TEMPLATE " + template
	}
	if _, err := conn.Exec(ctx, create); err != nil {
		t.Fatalf("create test database on %s: %v", redact(u), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := connect(ctx, server)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	db := *u
	db.Path = "/" + name
	return db.String()
}

// RequirePostgres fails t, saying how to start PostgreSQL, unless the
// server tests use (PostgresServer) accepts a connection. A suite calls it
// once before its PostgreSQL cases so an unreachable server gives one
// message rather than one per case.
func RequirePostgres(t testing.TB) {
	t.Helper()
	server := PostgresServer()
	u, err := url.Parse(server)
	if err != nil || !store.IsPostgresDSN(server) {
		t.Fatalf("%s=%q is not a postgres:// URL", EnvPostgres, server)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mustConnect(ctx, t, server, u).Close(ctx)
}

func mustConnect(ctx context.Context, t testing.TB, server string, u *url.URL) *pgx.Conn {
	t.Helper()
	conn, err := connect(ctx, server)
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable at %s: %v\n"+
			"The storage tests need it. Start the local cluster with:\n"+
			"    pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n"+
			"(install it with `apt-get install postgresql`; .ci/run does both), or point %s at a server "+
			"whose user may CREATE DATABASE, e.g. %s", redact(u), err, EnvPostgres, DefaultPostgres)
	}
	return conn
}

func connect(ctx context.Context, server string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(server)
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// redact names the server without password or parameters.
func redact(u *url.URL) string {
	d := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if u.User != nil {
		d.User = url.User(u.User.Username())
	}
	return strings.TrimSuffix(d.String(), "/")
}
