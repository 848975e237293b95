package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/store"
)

// TestPostgresDSNParameterErrors: a PostgreSQL connection string whose
// parameter is not a number is refused in one line naming the parameter
// and its value, in words rather than Go's strconv error ("strconv.ParseInt:
// parsing ..."), with the password masked. Nothing is dialled: pgx refuses
// the string before connecting.
func TestPostgresDSNParameterErrors(t *testing.T) {
	ctx := context.Background()
	for dsn, want := range map[string]string{
		"postgres://u:s3cret@127.0.0.1:1/x?connect_timeout=soon":                 `invalid connect_timeout: "soon" is not a whole number`,
		"postgres://u:s3cret@127.0.0.1:1/x?statement_cache_capacity=lots":        `statement_cache_capacity: "lots" is not a whole number`,
		"postgres://u:s3cret@127.0.0.1:1/x?connect_timeout=99999999999999999999": `invalid connect_timeout: "99999999999999999999" is out of range`,
		"host=127.0.0.1 port=1 user=u password=s3cret connect_timeout=soon":      `invalid connect_timeout: "soon" is not a whole number`,
	} {
		_, err := store.OpenPostgres(ctx, dsn)
		if err == nil {
			t.Errorf("%s: opened", dsn)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, want) || strings.Contains(msg, "strconv") || strings.Contains(msg, "s3cret") ||
			strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "open postgres: ") {
			t.Errorf("%s:\n got %q\nwant one line with %q, no strconv, no password", dsn, msg, want)
		}
	}
}
