package store_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestOpenRefusesNewerSchema: a database that a newer certgate migrated
// (a goose version this binary does not embed) is refused with
// ErrSchemaTooNew instead of being served by code that cannot read it.
func TestOpenRefusesNewerSchema(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			driver := "sqlite"
			if e.Name == store.EnginePostgres {
				storetest.RequirePostgres(t)
				driver = "pgx"
			}
			dsn := e.NewDSN(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			db, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.ExecContext(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, true)`); err != nil {
				t.Fatal(err)
			}
			s, err = store.Open(ctx, dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open accepted a database at schema version 99999")
			}
			if !errors.Is(err, store.ErrSchemaTooNew) || !strings.Contains(err.Error(), "version 99999") {
				t.Fatalf("Open: %v; want ErrSchemaTooNew naming version 99999", err)
			}
		})
	}
}
