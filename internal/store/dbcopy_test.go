package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestCopySeededTables: the tables a fresh migration leaves rows in (on
// both engines) are exactly those CopyDatabase lists as seeded, which it
// does not count as a target's rows: a migration that seeds a new table
// fails here until the table is listed.
func TestCopySeededTables(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, e storetest.Engine) {
		dsn := e.NewDSN(t)
		s := storetest.OpenDSN(t, dsn)
		s.Close()
		db := storetest.RawDB(t, dsn)
		var seeded []string
		for _, table := range storetest.Tables(t, db) {
			var n int
			if err := db.QueryRow(`SELECT COUNT(*) FROM "` + table + `"`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				seeded = append(seeded, table)
			}
		}
		want := slices.Sorted(slices.Values(store.CopySeeded))
		if !slices.Equal(seeded, want) {
			t.Errorf("a fresh database holds rows in %v; CopyDatabase counts %v as seeded: list the new ones in copySeeded", seeded, want)
		}
	})
}

// fillStore stores accounts, orders, authorizations with challenges,
// issued and revoked certificates and audit events through the store's
// methods.
func fillStore(t *testing.T, s *store.Store, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		a := createAccount(t, s, fmt.Sprintf("acct%d", i))
		az := newAuthz(a.ID, fmt.Sprintf("az%d", i), fmt.Sprintf("h%d.example.test", i), i%2 == 0, acme.ChallengeHTTP01, acme.ChallengeDNS01)
		o := createOrder(t, s, a.ID, fmt.Sprintf("ord%d", i), az)
		c := issue(t, s, o.ID, a.ID, fmt.Sprintf("%x", 0x1000+i))
		if i%3 == 0 {
			must(t, s.RevokeCertificate(ctx, c.Serial, 4, now.Add(time.Minute)))
		}
	}
	if _, err := s.NextCRLNumber(ctx, "local", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InitSetting(ctx, "ca_root_sha256", "ab12"); err != nil {
		t.Fatal(err)
	}
}

// filledSQLite is a new SQLite database filled by fillStore with n of each
// kind of row, closed again.
func filledSQLite(t *testing.T, n int) string {
	t.Helper()
	from := storetest.SQLiteDSN(t)
	s := storetest.OpenDSN(t, from)
	fillStore(t, s, n)
	s.Close()
	return from
}

// TestCopyDatabaseRoundTrip copies a SQLite database filled through the
// store into PostgreSQL and back into a new SQLite file: every table's
// rows are identical in all three, the copy into PostgreSQL moved its
// identity sequence past the copied keys, a store opened on the copy
// reads the certificates and revocations, and a second copy into the
// same target is refused.
func TestCopyDatabaseRoundTrip(t *testing.T) {
	storetest.RequirePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	from := filledSQLite(t, 12)
	pg := storetest.PostgresDSN(t)
	res, err := store.CopyDatabase(ctx, from, pg, store.CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, tb := range res.Tables {
		sum += tb.Rows
	}
	if res.Rows != sum || res.Rows == 0 || res.SchemaVersion == 0 {
		t.Errorf("result %+v", res)
	}
	if i, j := slices.IndexFunc(res.Tables, func(c store.CopiedTable) bool { return c.Name == "accounts" }),
		slices.IndexFunc(res.Tables, func(c store.CopiedTable) bool { return c.Name == "orders" }); i < 0 || j < 0 || i > j {
		t.Errorf("accounts copied at %d, orders at %d: referenced tables first", i, j)
	}
	src := storetest.Dump(t, from)
	if len(src["certificates"]) != 12 || len(src["accounts"]) != 12 || len(src["challenges"]) != 24 {
		t.Fatalf("the source dump holds %d certificates, %d accounts, %d challenges", len(src["certificates"]), len(src["accounts"]), len(src["challenges"]))
	}
	storetest.CompareDumps(t, src, storetest.Dump(t, pg))

	back := storetest.SQLiteDSN(t)
	if _, err := store.CopyDatabase(ctx, pg, back, store.CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	storetest.CompareDumps(t, src, storetest.Dump(t, back))

	// Refused: a second copy into the same target.
	_, err = store.CopyDatabase(ctx, from, pg, store.CopyOptions{})
	if !errors.Is(err, store.ErrCopyTargetNotEmpty) || strings.Contains(err.Error(), "\n") {
		t.Errorf("second copy: %v, want ErrCopyTargetNotEmpty in one line", err)
	}

	// The copy serves: the store reads it, and new rows get new keys.
	ps := storetest.OpenDSN(t, pg)
	c, err := ps.GetCertificate(ctx, fmt.Sprintf("%x", 0x1000))
	if err != nil || c.Status != acme.StatusRevoked || c.AccountID != "acct0" {
		t.Fatalf("certificate on the copy: %+v, %v", c, err)
	}
	db := storetest.RawDB(t, pg)
	var maxID, newID int64
	if err := db.QueryRow(`SELECT COALESCE(MAX(id), 0) FROM issuer_chains`).Scan(&maxID); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`INSERT INTO issuer_chains (sha256, pem) VALUES ('\xdeadbeef', 'x') RETURNING id`).Scan(&newID); err != nil {
		t.Fatal(err)
	}
	if newID <= maxID {
		t.Errorf("a new issuer chain got id %d after the copy's largest %d: the identity sequence was not reset", newID, maxID)
	}
}

// TestCopyDatabaseCancelled: a copy whose context ends in the middle
// commits nothing, on either target engine, and the next copy into the
// same target completes.
func TestCopyDatabaseCancelled(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, e storetest.Engine) {
		from := filledSQLite(t, 4)
		to := e.NewDSN(t)
		ctx, cancel := context.WithCancel(context.Background())
		var cancelledAt string
		_, err := store.CopyDatabase(ctx, from, to, store.CopyOptions{Progress: func(table string, _ int64) {
			if table == "certificates" {
				cancelledAt = table
				cancel()
			}
		}})
		cancel()
		if err == nil || cancelledAt == "" {
			t.Fatalf("cancelled copy: %v (cancelled at %q)", err, cancelledAt)
		}
		db := storetest.RawDB(t, to)
		for _, table := range storetest.Tables(t, db) {
			var n int
			if err := db.QueryRow(`SELECT COUNT(*) FROM "` + table + `"`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 && !slices.Contains(store.CopySeeded, table) {
				t.Errorf("after the cancelled copy the target holds %d rows in %s", n, table)
			}
		}
		ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
		defer cancel2()
		if _, err := store.CopyDatabase(ctx2, from, to, store.CopyOptions{}); err != nil {
			t.Fatalf("copy after the cancelled one: %v", err)
		}
		storetest.CompareDumps(t, storetest.Dump(t, from), storetest.Dump(t, to))
	})
}

// TestCopyDatabaseRefusesSource: a source at another schema version than
// this certgate's, and a PostgreSQL source with a live node lease (a
// server running on it), are refused before the target is touched.
func TestCopyDatabaseRefusesSource(t *testing.T) {
	storetest.RequirePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	old := storetest.SQLiteDSN(t)
	s := storetest.OpenDSN(t, old)
	s.Close()
	if _, err := storetest.RawDB(t, old).Exec(`DELETE FROM goose_db_version WHERE version_id = (SELECT MAX(version_id) FROM goose_db_version)`); err != nil {
		t.Fatal(err)
	}
	to := storetest.SQLiteDSN(t)
	_, err := store.CopyDatabase(ctx, old, to, store.CopyOptions{})
	if !errors.Is(err, store.ErrCopySourceVersion) || !strings.Contains(err.Error(), "certgate serve") {
		t.Errorf("source at an older schema: %v", err)
	}

	pg := storetest.PostgresDSN(t)
	ps := storetest.OpenDSN(t, pg)
	if err := ps.RenewNodeLease(ctx, "node-1", time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = store.CopyDatabase(ctx, pg, to, store.CopyOptions{})
	if !errors.Is(err, store.ErrCopySourceInUse) {
		t.Errorf("source with a live node lease: %v", err)
	}
	// The lease run out: the copy goes ahead.
	if _, err := store.CopyDatabase(ctx, pg, to, store.CopyOptions{Now: time.Now().Add(10 * time.Second)}); err != nil {
		t.Errorf("source whose lease ran out: %v", err)
	}
}

// TestCopyDatabaseForeignTarget: a target that holds no rows but tables of
// another application (an empty table named like one of certgate's, or a
// goose version table without versions) is refused with
// ErrCopyTargetNotEmpty in one line, on either engine, before anything is
// written: no goose_db_version table and no certgate table appear in it.
func TestCopyDatabaseForeignTarget(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, e storetest.Engine) {
		from := filledSQLite(t, 1)
		for _, c := range []struct{ name, ddl string }{
			{"table", `CREATE TABLE accounts (foo TEXT)`},
			{"goose", `CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY, version_id BIGINT NOT NULL, is_applied BOOLEAN NOT NULL)`},
		} {
			to := e.NewDSN(t)
			db := storetest.RawDB(t, to)
			if _, err := db.Exec(c.ddl); err != nil {
				t.Fatal(err)
			}
			before := storetest.Tables(t, db)
			_, err := store.CopyDatabase(context.Background(), from, to, store.CopyOptions{})
			if !errors.Is(err, store.ErrCopyTargetNotEmpty) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: copy into a foreign database: %v, want ErrCopyTargetNotEmpty in one line", c.name, err)
			}
			if after := storetest.Tables(t, db); !slices.Equal(before, after) {
				t.Errorf("%s: the refused copy changed the target's tables from %v to %v", c.name, before, after)
			}
			if c.name == "table" {
				if _, err := db.Exec(`SELECT 1 FROM goose_db_version`); err == nil {
					t.Errorf("%s: the refused copy left a goose_db_version table in the target", c.name)
				}
			}
		}
	})
}

// TestCopyDatabaseSamePostgres: a PostgreSQL target that is the source
// database reached through another URL (another host name of the server,
// other parameters) is refused as the same database, not as a target that
// is not empty, and the source keeps its rows.
func TestCopyDatabaseSamePostgres(t *testing.T) {
	storetest.RequirePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg := storetest.PostgresDSN(t)
	if _, err := store.CopyDatabase(ctx, filledSQLite(t, 2), pg, store.CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	before := storetest.Dump(t, pg)
	u, err := url.Parse(pg)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", "another-name")
	u.RawQuery = q.Encode()
	others := []string{pg, u.String()}
	if h := u.Hostname(); h == "127.0.0.1" {
		u.Host = strings.Replace(u.Host, h, "localhost", 1)
		others = append(others, u.String())
	}
	for _, to := range others {
		_, err := store.CopyDatabase(ctx, pg, to, store.CopyOptions{})
		if !errors.Is(err, store.ErrCopySameDatabase) || errors.Is(err, store.ErrCopyTargetNotEmpty) ||
			!strings.Contains(err.Error(), "same database") || strings.Contains(err.Error(), "\n") {
			t.Errorf("copy of %s into %s: %v, want ErrCopySameDatabase in one line", pg, to, err)
		}
	}
	storetest.CompareDumps(t, before, storetest.Dump(t, pg))
	// Another, empty database on the same server is not the same one.
	if _, err := store.CopyDatabase(ctx, pg, storetest.PostgresDSN(t), store.CopyOptions{}); err != nil {
		t.Errorf("copy into another database of the server: %v", err)
	}
}
