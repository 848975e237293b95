package store_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"
)

// TestPostgresIndexMigrationsConcurrently runs each PostgreSQL migration
// that builds an index CONCURRENTLY (every one whose Up section has a
// CREATE INDEX CONCURRENTLY, found by concurrentIndexMigrations in the
// migration files, so that a new one is covered without being named here)
// while a transaction older than it stays open, which a CREATE INDEX
// CONCURRENTLY waits for (a plain CREATE INDEX does not) and which keeps
// the build from ending. Meanwhile:
//
//   - another session inserts and updates certificates, and takes the
//     lock of a write (ROW EXCLUSIVE, what INSERT, UPDATE and DELETE take)
//     on every table the migration indexes, and commits without waiting
//     (a plain CREATE INDEX in the migration's transaction holds the
//     table's SHARE lock until the migration ends, so writes wait for it);
//   - the build is interrupted (pg_cancel_backend), which leaves an INVALID
//     index, and the migration run again drops it and builds it again
//     (CREATE INDEX CONCURRENTLY of an existing name fails);
//   - a second node opens the database, waiting for the migrator's
//     advisory lock without holding anything the build waits for: once the
//     old transaction ends, both finish.
//
// Afterwards (the second node has applied the later migrations) the
// database's indexes, on every table, are those of a database migrated in
// one go, all valid, and the writes are in the table.
func TestPostgresIndexMigrationsConcurrently(t *testing.T) {
	storetest.RequirePostgres(t)
	ctx := context.Background()
	want := schemaIndexes(t, ctx, connect(t, ctx, migrated(t, ctx, 0)))
	for _, m := range concurrentIndexMigrations(t) {
		t.Run(fmt.Sprintf("%05d", m.version), func(t *testing.T) {
			t.Parallel()
			v := m.version
			dsn := migrated(t, ctx, v-1)
			watch, writer := connect(t, ctx, dsn), connect(t, ctx, dsn)
			// The version before v: v-1 unless that number is unused.
			var prev int64
			must(t, watch.QueryRow(ctx, `SELECT MAX(version_id) FROM goose_db_version`).Scan(&prev))
			for i := range 3 {
				must(t, writeCertificate(ctx, writer, fmt.Sprintf("0%d", i), ""))
			}
			// A transaction with a snapshot, older than the builds, that
			// locks none of the tables the migrations change.
			old := connect(t, ctx, dsn)
			if _, err := old.Exec(ctx, `BEGIN ISOLATION LEVEL REPEATABLE READ`); err != nil {
				t.Fatal(err)
			}
			if _, err := old.Exec(ctx, `SELECT 1`); err != nil {
				t.Fatal(err)
			}
			migrate := func() <-chan error {
				done := make(chan error, 1)
				go func() { done <- store.MigratePostgresTo(ctx, dsn, v) }()
				return done
			}
			writes := func(done <-chan error, serial, revoke string) {
				writeWhileBuilding(t, ctx, watch, writer, done, func() error { return writeCertificate(ctx, writer, serial, revoke) })
				for _, table := range m.tables {
					writeWhileBuilding(t, ctx, watch, writer, done, func() error { return lockForWrite(ctx, writer, table) })
				}
			}

			// The build waits for the old transaction; writes go on.
			done := migrate()
			pid := waitForBuild(t, ctx, watch, done, v)
			writes(done, "10", "00")

			// Interrupted, it leaves an INVALID index.
			if _, err := watch.Exec(ctx, `SELECT pg_cancel_backend($1)`, pid); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err == nil {
				t.Fatalf("migration %d: no error after its index build was cancelled", v)
			}
			if invalid := invalidIndexes(t, ctx, watch); invalid == "" {
				t.Fatalf("migration %d: no INVALID index after its CONCURRENTLY build was cancelled", v)
			}
			var version int64
			must(t, watch.QueryRow(ctx, `SELECT MAX(version_id) FROM goose_db_version`).Scan(&version))
			if version != prev {
				t.Fatalf("schema version %d after migration %d was interrupted, want %d", version, v, prev)
			}

			// Run again (the old transaction still open), with a second
			// node starting meanwhile: the INVALID index is dropped and
			// built again, writes go on.
			done = migrate()
			waitForBuild(t, ctx, watch, done, v)
			node := make(chan error, 1)
			go func() {
				s, err := store.Open(ctx, dsn)
				if err == nil {
					err = s.Close()
				}
				node <- err
			}()
			// The second node polls the advisory lock (pg_try_advisory_lock)
			// while the build waits.
			for {
				var polling bool
				must(t, watch.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
					WHERE datname = current_database() AND query LIKE '%pg_try_advisory_lock%' AND state = 'idle')`).Scan(&polling))
				if polling {
					break
				}
				select {
				case err := <-node:
					t.Fatalf("the second node opened (%v) while migration %d was still running", err, v)
				case <-time.After(10 * time.Millisecond):
				}
			}
			writes(done, "11", "01")
			if _, err := old.Exec(ctx, `ROLLBACK`); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("migration %d run again: %v", v, err)
			}
			if err := <-node; err != nil {
				t.Fatalf("second node: %v", err)
			}
			// The second node applied the migrations after v.
			if invalid := invalidIndexes(t, ctx, watch); invalid != "" {
				t.Fatalf("INVALID indexes after migration %d ran again: %s", v, invalid)
			}
			if got := schemaIndexes(t, ctx, watch); got != want {
				t.Fatalf("indexes after migration %d was interrupted and run again:\n%s\nwant, as migrated in one go:\n%s", v, got, want)
			}
			var n int
			must(t, watch.QueryRow(ctx, `SELECT COUNT(*) FROM certificates`).Scan(&n))
			if n != 5 {
				t.Fatalf("%d certificates, want the 5 written", n)
			}
		})
	}
}

// TestPostgresIndexMigrationsDoNotBlockWrites runs each PostgreSQL migration
// that only builds, drops or renames indexes (concurrentIndexMigrations,
// indexOnly: found in the migration files, 00014 and later) while another
// transaction has written to the tables it indexes and not committed (it
// holds their ROW EXCLUSIVE lock, as an uncommitted write does; on
// certificates a real write): the build waits for it, and a third
// session's writes meanwhile must not wait. A plain CREATE INDEX waits for
// the table's SHARE lock, and every write after it waits behind it in the
// lock's queue: the writes of a cluster stopped until the migration's
// transaction ended.
func TestPostgresIndexMigrationsDoNotBlockWrites(t *testing.T) {
	storetest.RequirePostgres(t)
	ctx := context.Background()
	for _, m := range concurrentIndexMigrations(t) {
		if !m.indexOnly {
			continue
		}
		v := m.version
		t.Run(fmt.Sprintf("%05d", v), func(t *testing.T) {
			t.Parallel()
			dsn := migrated(t, ctx, v-1)
			watch, writer, open := connect(t, ctx, dsn), connect(t, ctx, dsn), connect(t, ctx, dsn)
			must(t, writeCertificate(ctx, writer, "00", ""))
			if _, err := open.Exec(ctx, `BEGIN`); err != nil {
				t.Fatal(err)
			}
			if _, err := open.Exec(ctx, `UPDATE certificates SET created_at = 2 WHERE serial = '00'`); err != nil {
				t.Fatal(err)
			}
			for _, table := range m.tables {
				if _, err := open.Exec(ctx, `LOCK TABLE `+pgx.Identifier{table}.Sanitize()+` IN ROW EXCLUSIVE MODE`); err != nil {
					t.Fatal(err)
				}
			}
			done := make(chan error, 1)
			go func() { done <- store.MigratePostgresTo(ctx, dsn, v) }()
			// The migration waits for the open write (in a CREATE or, in
			// 00020 before this release, a DROP INDEX).
			for {
				var waiting bool
				must(t, watch.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
					AND query ILIKE '% INDEX %' AND wait_event_type = 'Lock' AND pid <> pg_backend_pid())`).Scan(&waiting))
				if waiting {
					break
				}
				select {
				case err := <-done:
					t.Fatalf("migration %d ended (error: %v) while a write to %v was not committed", v, err, m.tables)
				case <-time.After(10 * time.Millisecond):
				}
			}
			writeWhileBuilding(t, ctx, watch, writer, done, func() error { return writeCertificate(ctx, writer, "10", "") })
			for _, table := range m.tables {
				writeWhileBuilding(t, ctx, watch, writer, done, func() error { return lockForWrite(ctx, writer, table) })
			}
			if _, err := open.Exec(ctx, `COMMIT`); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("migration %d: %v", v, err)
			}
			if invalid := invalidIndexes(t, ctx, watch); invalid != "" {
				t.Fatalf("INVALID indexes after migration %d: %s", v, invalid)
			}
		})
	}
}

// migrated returns a new PostgreSQL database migrated up to version (all
// migrations: 0).
func migrated(t *testing.T, ctx context.Context, version int64) string {
	t.Helper()
	dsn := storetest.PostgresDSN(t)
	if version == 0 {
		storetest.OpenDSN(t, dsn)
		return dsn
	}
	if err := store.MigratePostgresTo(ctx, dsn, version); err != nil {
		t.Fatalf("migrate to %d: %v", version, err)
	}
	return dsn
}

// connect opens a session of its own on dsn, closed when t ends.
func connect(t *testing.T, ctx context.Context, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// writeCertificate inserts a valid certificate with serial and, when
// revoke is not "", revokes the certificate with that serial (it leaves
// and enters partial indexes), in one transaction.
func writeCertificate(ctx context.Context, c *pgx.Conn, serial, revoke string) error {
	return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO serials (serial, reserved_at) VALUES ($1, 1)`, serial); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO certificates (serial, issuer, der, chain_pem, sans, key_type, fingerprint_sha256,
			not_before, not_after, status, created_at) VALUES ($1, 'CN=issuer', '\x00', '', '[]', 'ECDSA P-256', $1, 1, 2000000000, 'valid', 1)`, serial); err != nil {
			return err
		}
		if revoke == "" {
			return nil
		}
		_, err := tx.Exec(ctx, `UPDATE certificates SET status = 'revoked', revoked_at = 2, revocation_reason = 4 WHERE serial = $1`, revoke)
		return err
	})
}

// waitForBuild waits until the migration whose result done delivers is
// building an index CONCURRENTLY and waiting for an older transaction, and
// returns its backend's pid. It fails t if the migration ends first.
func waitForBuild(t *testing.T, ctx context.Context, watch *pgx.Conn, done <-chan error, v int64) uint32 {
	t.Helper()
	for {
		var pid uint32
		err := watch.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()
			AND query ILIKE '%CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`).Scan(&pid)
		if err == nil {
			return pid
		}
		if err != pgx.ErrNoRows {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Fatalf("migration %d ended (error: %v) while a transaction older than it was open: it built its index without waiting for that transaction (not CONCURRENTLY)", v, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// writeWhileBuilding runs write (a write in the session writer) while a
// migration builds an index, and fails t if the write waits for a lock, or
// if the migration ended meanwhile.
func writeWhileBuilding(t *testing.T, ctx context.Context, watch, writer *pgx.Conn, done <-chan error, write func() error) {
	t.Helper()
	pid := writer.PgConn().PID()
	wrote := make(chan error, 1)
	go func() { wrote <- write() }()
	for {
		select {
		case err := <-wrote:
			if err != nil {
				t.Fatalf("write during the index build: %v", err)
			}
			select {
			case err := <-done:
				t.Fatalf("the migration ended (%v) before the old transaction did", err)
			default:
			}
			return
		case <-time.After(10 * time.Millisecond):
		}
		var lock string
		must(t, watch.QueryRow(ctx, `SELECT COALESCE(wait_event_type, '') FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&lock))
		if lock == "Lock" {
			var blockers string
			must(t, watch.QueryRow(ctx, `SELECT COALESCE(string_agg(query, '; '), '') FROM pg_stat_activity WHERE pid = ANY (pg_blocking_pids($1))`, pid).Scan(&blockers))
			t.Fatalf("a write waits for a lock during the index build, held by: %s", blockers)
		}
	}
}

// lockForWrite takes, in a transaction of c that it commits, the lock that
// every INSERT, UPDATE and DELETE on table takes (ROW EXCLUSIVE), which
// conflicts with the SHARE lock of a plain CREATE INDEX and not with a
// CREATE INDEX CONCURRENTLY.
func lockForWrite(ctx context.Context, c *pgx.Conn, table string) error {
	return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `LOCK TABLE `+pgx.Identifier{table}.Sanitize()+` IN ROW EXCLUSIVE MODE`)
		return err
	})
}

// invalidIndexes names the INVALID indexes of the database's tables ("" for none).
func invalidIndexes(t *testing.T, ctx context.Context, c *pgx.Conn) string {
	t.Helper()
	var names string
	must(t, c.QueryRow(ctx, `SELECT COALESCE(string_agg(i.indexrelid::regclass::text, ', '), '') FROM pg_index i
		JOIN pg_class r ON r.oid = i.indrelid WHERE r.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid`).Scan(&names))
	return names
}

// schemaIndexes lists the definitions of the indexes of the database's
// tables, one a line, sorted.
func schemaIndexes(t *testing.T, ctx context.Context, c *pgx.Conn) string {
	t.Helper()
	rows, err := c.Query(ctx, `SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY tablename, indexname`)
	if err != nil {
		t.Fatal(err)
	}
	defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(defs, "\n")
}

// indexMigration is a PostgreSQL migration that builds indexes
// CONCURRENTLY, and the tables it builds them on.
type indexMigration struct {
	version int64
	tables  []string
	// indexOnly: every statement of its Up section builds, drops or
	// renames an index (none changes a table).
	indexOnly bool
}

// concurrentIndexMigrations reads the PostgreSQL migration files and
// returns, in version order, those whose Up section builds an index
// CONCURRENTLY. It fails t when a statement of an Up section names
// CONCURRENTLY in a form createConcurrently does not read, so that no such
// migration is missed, and when a migration after the first of them builds
// an index without CONCURRENTLY on a table it did not create (which would
// hold the table's writes for the whole build, and escape this test).
func concurrentIndexMigrations(t *testing.T) []indexMigration {
	t.Helper()
	const dir = "migrations/postgres"
	// A CREATE INDEX CONCURRENTLY statement (its whitespace made single
	// spaces); captures the indexed table.
	createConcurrently := regexp.MustCompile(`(?i)CREATE (?:UNIQUE )?INDEX CONCURRENTLY (?:IF NOT EXISTS )?[\w."]+ ON (?:ONLY )?"?(\w+)"?`)
	// Any CREATE INDEX (concurrently or not); captures the indexed table.
	createIndex := regexp.MustCompile(`(?i)^CREATE (?:UNIQUE )?INDEX (?:CONCURRENTLY )?(?:IF NOT EXISTS )?[\w."]*\s?ON (?:ONLY )?"?(\w+)"?`)
	createTable := regexp.MustCompile(`(?i)^CREATE TABLE (?:IF NOT EXISTS )?"?(\w+)"?`)
	// A statement that changes indexes only.
	indexStatement := regexp.MustCompile(`(?i)^(?:CREATE (?:UNIQUE )?INDEX CONCURRENTLY |DROP INDEX CONCURRENTLY |ALTER INDEX (?:IF EXISTS )?[\w."]+ RENAME TO )`)
	type plainBuild struct {
		version int64
		stmt    string
	}
	var plain []plainBuild
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var found []indexMigration
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		version, err := goose.NumericComponent(e.Name())
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		up, _, _ := strings.Cut(string(b), "-- +goose Down")
		var lines []string
		for _, l := range strings.Split(up, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				lines = append(lines, l)
			}
		}
		m := indexMigration{version: version, indexOnly: true}
		created := map[string]bool{}
		for _, stmt := range strings.Split(strings.Join(lines, "\n"), ";") {
			stmt = strings.Join(strings.Fields(stmt), " ")
			if stmt == "" {
				continue
			}
			if !indexStatement.MatchString(stmt) {
				m.indexOnly = false
			}
			if sub := createTable.FindStringSubmatch(stmt); sub != nil {
				created[strings.ToLower(sub[1])] = true
			}
			if sub := createIndex.FindStringSubmatch(stmt); sub != nil && !strings.Contains(strings.ToUpper(stmt), "CONCURRENTLY") && !created[strings.ToLower(sub[1])] {
				plain = append(plain, plainBuild{version, stmt})
			}
			if !strings.Contains(strings.ToUpper(stmt), "CONCURRENTLY") || strings.HasPrefix(strings.ToUpper(stmt), "DROP INDEX") {
				continue
			}
			sub := createConcurrently.FindStringSubmatch(stmt)
			if sub == nil {
				t.Fatalf("%s: a statement with CONCURRENTLY that this test does not read: %s", e.Name(), stmt)
			}
			if !slices.Contains(m.tables, sub[1]) {
				m.tables = append(m.tables, sub[1])
			}
		}
		if len(m.tables) > 0 {
			found = append(found, m)
		}
	}
	if len(found) == 0 {
		t.Fatalf("no migration in %s builds an index CONCURRENTLY: the files were not read", dir)
	}
	slices.SortFunc(found, func(a, b indexMigration) int { return cmp.Compare(a.version, b.version) })
	for _, p := range plain {
		if p.version > found[0].version {
			t.Errorf("migration %05d builds an index on an existing table without CONCURRENTLY (as every migration since %05d must): %s", p.version, found[0].version, p.stmt)
		}
	}
	return found
}
