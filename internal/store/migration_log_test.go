package store_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv/testlog"
)

// TestMigrationLog: opening a database with pending migrations, with a
// logger given by store.WithMigrationLog, logs "applying database
// migrations" (engine, from, to) before and "applied database migrations"
// (ms) after, so that a start held up by a long migration, or on
// PostgreSQL by another node's, says what it does; a new database
// (created in milliseconds) and a database with nothing to apply log
// neither line. Starts logged nothing of migrations before.
func TestMigrationLog(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			ctx := context.Background()
			dsn := e.NewDSN(t)
			open := func() string {
				t.Helper()
				var buf testlog.Buffer
				s, err := store.Open(store.WithMigrationLog(ctx, slog.New(slog.NewTextHandler(&buf, nil))), dsn)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				return buf.String()
			}
			if l := open(); l != "" {
				t.Errorf("a new database logged:\n%s", l)
			}
			s, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			if err := store.ForgetKeyROCA(ctx, s); err != nil { // schema version 22: 23 and later pending
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			l := open()
			for _, want := range []string{`msg="applying database migrations" engine=` + e.Name + ` from=22 to=`,
				`msg="applied database migrations" engine=` + e.Name + ` ms=`} {
				if !strings.Contains(l, want) {
					t.Errorf("opening a database at schema version 22 logged:\n%s\nwant a line with %s", l, want)
				}
			}
			if l := open(); l != "" {
				t.Errorf("a database with nothing to apply logged:\n%s", l)
			}
		})
	}
}
