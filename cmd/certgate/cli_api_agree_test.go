package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestAccountListJSONIsAPIPage: `account list --format json` prints the
// page of GET /api/v1/accounts, whose next_cursor is always present ("" on
// the last page, the OpenAPI schema requires it); the CLI left it out on
// the last page. A --limit of 1000 is a valid page size for both.
func TestAccountListJSONIsAPIPage(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	st := storetest.OpenDSN(t, server.DSN(data, ""))
	for i := range 3 {
		id := fmt.Sprintf("acct%d", i)
		if err := st.CreateAccount(context.Background(), &store.Account{ID: id, KeyThumbprint: "tp" + id, JWK: []byte(`{}`),
			Status: acme.StatusValid, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args []string
		next string
	}{
		{[]string{"--limit", "2"}, "acct1"},
		{[]string{"--limit", "2", "--cursor", "acct1"}, ""},
		{[]string{"--limit", "1000"}, ""},
	} {
		stdout, _, err := runCLI(t, nil, append([]string{"account", "list", "--data", data, "--format", "json"}, tc.args...)...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		var page map[string]json.RawMessage
		if err := json.Unmarshal([]byte(stdout), &page); err != nil {
			t.Fatal(err)
		}
		next, ok := page["next_cursor"]
		if !ok || string(next) != fmt.Sprintf("%q", tc.next) {
			t.Errorf("%v: next_cursor %s (present %v), want %q\n%s", tc.args, next, ok, tc.next, stdout)
		}
	}
}
