package store_test

import (
	"context"
	"crypto/ecdsa"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestMigrationsKilled opens, on each engine, a database as an older
// certgate left it (ForgetKeyHashes: the migrations from the Go
// migration 18 on not applied, with more certificates than two batches
// of its backfill) in a child process (this test binary run again) that
// is SIGKILLed while it applies them, five times, at moments drawn from
// a seeded RNG (logged; CERTGATE_CRASH_SEED replays a run) within the time one uninterrupted run takes. The
// next Open must then apply the rest: the schema at the latest version,
// every certificate there with the hash of its key, no INVALID index
// (PostgreSQL) and an intact file (SQLite).
func TestMigrationsKilled(t *testing.T) {
	if dsn := os.Getenv("CERTGATE_TEST_MIGRATE_DSN"); dsn != "" {
		s, err := store.Open(context.Background(), dsn)
		if err == nil {
			err = s.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("CERTGATE_CRASH_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("CERTGATE_CRASH_SEED=%q: %v", v, err)
		}
	}
	t.Logf("seed %d (CERTGATE_CRASH_SEED=%d replays these kill moments)", seed, seed)
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(seed, uint64(len(e.Name))))
		dsn := e.NewDSN(t)
		s, err := store.Open(ctx, dsn)
		must(t, err)
		keys := []*ecdsa.PrivateKey{testKey(t), testKey(t), testKey(t)}
		n := 2*store.KeyHashBatch + 7
		certs := make([]*store.Certificate, 0, n)
		for i := range n {
			certs = append(certs, issuedCert(t, fmt.Sprintf("m%05d", i), keys[i%len(keys)], 30))
		}
		must(t, s.InsertCertificates(ctx, certs))
		forget := func() {
			t.Helper()
			s, err := store.Open(ctx, dsn)
			must(t, err)
			must(t, store.ForgetKeyHashes(ctx, s))
			must(t, s.Close())
		}
		must(t, store.ForgetKeyHashes(ctx, s))
		must(t, s.Close())
		driver := "sqlite"
		if e.Name == store.EnginePostgres {
			driver = "pgx"
		}
		db, err := sql.Open(driver, dsn)
		must(t, err)
		defer db.Close()
		version := func() int64 {
			t.Helper()
			var v int64
			must(t, db.QueryRow(`SELECT MAX(version_id) FROM goose_db_version`).Scan(&v))
			return v
		}
		from := version()
		// The latest version: that of a database migrated in one go.
		freshDSN := e.NewDSN(t)
		storetest.OpenDSN(t, freshDSN)
		wdb, err := sql.Open(driver, freshDSN)
		must(t, err)
		defer wdb.Close()
		var want int64
		must(t, wdb.QueryRow(`SELECT MAX(version_id) FROM goose_db_version`).Scan(&want))
		if from >= want {
			t.Fatalf("ForgetKeyHashes left version %d, not before the latest %d", from, want)
		}

		child := func(killAfter time.Duration) (killed bool, took time.Duration) {
			t.Helper()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMigrationsKilled$", "-test.count=1")
			cmd.Env = append(os.Environ(), "CERTGATE_TEST_MIGRATE_DSN="+dsn)
			start := time.Now()
			must(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			if killAfter > 0 {
				select {
				case err = <-done:
				case <-time.After(killAfter):
					_ = cmd.Process.Kill()
					err = <-done
				}
			} else {
				err = <-done
			}
			took = time.Since(start)
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL {
				return true, took
			}
			if err != nil {
				t.Fatalf("the migrating process failed: %v", err)
			}
			return false, took
		}

		// One uninterrupted run gives the span the kills are drawn in.
		_, span := child(0)
		forget()
		var interrupted, finished int
		var versions []int64
		for range 5 {
			d := time.Duration(1 + rng.Int64N(int64(span)))
			killed, _ := child(d)
			v := version()
			versions = append(versions, v)
			if !killed || v == want {
				finished++
				forget() // done before the kill: start over from the old schema
				continue
			}
			interrupted++
		}
		t.Logf("one run took %v; kills: %d during the migrations (versions then %v, from %d to %d), %d after they ended", span.Round(time.Millisecond), interrupted, versions, from, want, finished)
		if interrupted == 0 {
			t.Fatalf("no kill fell during the migrations")
		}

		s = storetest.OpenDSN(t, dsn) // applies what the kills left
		var latest int64
		must(t, db.QueryRow(`SELECT MAX(version_id) FROM goose_db_version`).Scan(&latest))
		for i := range n {
			serial := fmt.Sprintf("m%05d", i)
			c, err := s.GetCertificate(ctx, serial)
			if err != nil {
				t.Fatalf("certificate %s after the killed migrations: %v", serial, err)
			}
			if want := keyHash(t, keys[i%len(keys)].Public()); string(c.KeyHash) != string(want) {
				t.Fatalf("key hash of %s after the killed migrations = %x, want %x", serial, c.KeyHash, want)
			}
		}
		var count int
		must(t, db.QueryRow(`SELECT COUNT(*) FROM certificates`).Scan(&count))
		if count != n {
			t.Errorf("%d certificates after the killed migrations, want %d", count, n)
		}
		if e.Name == store.EnginePostgres {
			var invalid string
			must(t, db.QueryRow(`SELECT COALESCE(string_agg(indexrelid::regclass::text, ', '), '') FROM pg_index WHERE NOT indisvalid`).Scan(&invalid))
			if invalid != "" {
				t.Errorf("INVALID indexes after the killed migrations: %s", invalid)
			}
		} else {
			var ok string
			must(t, db.QueryRow(`PRAGMA integrity_check`).Scan(&ok))
			if ok != "ok" {
				t.Errorf("integrity_check after the killed migrations: %s", ok)
			}
		}
		if latest != want {
			t.Errorf("schema version %d after the killed migrations, want %d", latest, want)
		}
	})
}
