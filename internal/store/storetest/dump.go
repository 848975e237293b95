package storetest

import (
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/store"
)

// RawDB opens dsn with a plain database/sql pool (no migration), closed
// when t ends.
func RawDB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	driver, name := "sqlite", dsn
	if store.IsPostgresDSN(dsn) {
		driver = "pgx"
	}
	db, err := sql.Open(driver, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Tables lists the tables of db's schema but goose's.
func Tables(t testing.TB, db *sql.DB) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'goose_db_version'`
	if _, err := db.Exec(`SELECT 1 FROM sqlite_master LIMIT 1`); err != nil {
		q = `SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'goose_db_version'`
	}
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Dump returns every row of every table of the database at dsn
// (but goose's), each row as its column=value pairs sorted by column, the
// rows of a table sorted: values as both engines store them alike (a
// boolean as 0/1, text and bytes as their bytes quoted), so that two
// databases holding the same data dump equal whatever their engines.
func Dump(t testing.TB, dsn string) map[string][]string {
	t.Helper()
	db := RawDB(t, dsn)
	out := map[string][]string{}
	for _, table := range Tables(t, db) {
		rows, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		lines := []string{}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var fields []string
			for i, v := range vals {
				var s string
				switch x := v.(type) {
				case nil:
					s = "NULL"
				case bool:
					s = "0"
					if x {
						s = "1"
					}
				case []byte:
					s = fmt.Sprintf("%q", x)
				case string:
					s = fmt.Sprintf("%q", x)
				default:
					s = fmt.Sprint(x)
				}
				fields = append(fields, cols[i]+"="+s)
			}
			sort.Strings(fields)
			lines = append(lines, strings.Join(fields, " "))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		sort.Strings(lines)
		out[table] = lines
	}
	return out
}

// CompareDumps fails t for each table whose rows differ between a and b.
func CompareDumps(t testing.TB, a, b map[string][]string) {
	t.Helper()
	for table, rows := range a {
		other, ok := b[table]
		if !ok {
			t.Errorf("table %s missing", table)
			continue
		}
		if !slices.Equal(rows, other) {
			t.Errorf("table %s: %d rows vs %d; first of each:\n%v\n%v", table, len(rows), len(other), first(rows), first(other))
		}
	}
	for table := range b {
		if _, ok := a[table]; !ok {
			t.Errorf("table %s only in the copy", table)
		}
	}
}

// first is s[0], or "(none)".
func first(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return s[0]
}
