package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
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

// TestCLIEventsRecordAPIViews: the audit events of `eab create`, `eab
// revoke` and `account deactivate` record the object as the admin API's
// events of the same change do: the API's view, which `eab list --format
// json` and `account show --format json` print. The CLI recorded views of
// its own (an EAB key without created_at and account; an account as id,
// status and contact only).
func TestCLIEventsRecordAPIViews(t *testing.T) {
	t.Setenv("CERTGATE_DB", "")
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	st := storetest.OpenDSN(t, server.DSN(data, ""))
	if err := st.CreateAccount(context.Background(), &store.Account{ID: "acct9", KeyThumbprint: "tp9", JWK: []byte(`{}`),
		Status: acme.StatusValid, Contact: []string{"mailto:a@example.test"}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, nil, "eab", "create", "--data", data, "--profile", "default", "--owner", "team-a", "--expires", "30d")
	if err != nil {
		t.Fatal(err)
	}
	var kid string
	for _, line := range strings.Split(out, "\n") {
		if k, ok := strings.CutPrefix(line, "kid: "); ok {
			kid = strings.TrimSpace(k)
		}
	}
	if _, _, err := runCLI(t, nil, "eab", "revoke", "--data", data, kid); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, nil, "account", "deactivate", "--data", data, "acct9"); err != nil {
		t.Fatal(err)
	}
	after := func(action string) map[string]any {
		out, _, err := runCLI(t, nil, "audit", "list", "--data", data, "--action", action, "--format", "json")
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items []struct {
				After map[string]any `json:"after"`
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Items) != 1 {
			t.Fatalf("%s events: %v\n%s", action, err, out)
		}
		return page.Items[0].After
	}
	show := func(args ...string) any {
		out, _, err := runCLI(t, nil, append(args, "--data", data, "--format", "json")...)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	keys := show("eab", "list").([]any)
	if len(keys) != 1 {
		t.Fatalf("eab list: %v", keys)
	}
	if got := after("eab_key.revoke"); !reflect.DeepEqual(got, keys[0]) {
		t.Errorf("eab_key.revoke after %v\nwant the key as eab list (GET /api/v1/eab-keys) shows it: %v", got, keys[0])
	}
	if got := after("eab_key.create"); got["created_at"] != keys[0].(map[string]any)["created_at"] || got["status"] != "active" {
		t.Errorf("eab_key.create after %v, want the API's view (created_at %v)", got, keys[0].(map[string]any)["created_at"])
	}
	acct := show("account", "show", "acct9").(map[string]any)
	delete(acct, "certificates") // account show's addition to the API's account
	if got := after("account.deactivate"); !reflect.DeepEqual(got, acct) {
		t.Errorf("account.deactivate after %v\nwant the account as GET /api/v1/accounts/{id} shows it: %v", got, acct)
	}
}

// TestCertListFingerprint: `cert list --fingerprint` filters as the admin
// API's fingerprint parameter (GET /api/v1/certificates?fingerprint=):
// hex in either case, colons allowed; a malformed one is refused naming
// the flag. The CLI had no such filter.
func TestCertListFingerprint(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	files := t.TempDir()
	a := writeSelfSigned(t, filepath.Join(files, "a.pem"), 0x51, 30, 0, "a.example.com")
	writeSelfSigned(t, filepath.Join(files, "b.pem"), 0x52, 30, 0, "b.example.com")
	if _, _, err := runCLI(t, nil, "cert", "import", "--data", data, files); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(a.Raw)
	fp := strings.ToUpper(hex.EncodeToString(sum[:]))
	var colons []string
	for i := 0; i < len(fp); i += 2 {
		colons = append(colons, fp[i:i+2])
	}
	for _, v := range []string{fp, strings.Join(colons, ":")} {
		out, _, err := runCLI(t, nil, "cert", "list", "--data", data, "--fingerprint", v, "--format", "json")
		var page struct {
			Items []struct {
				Serial string `json:"serial"`
			} `json:"items"`
		}
		if err != nil || json.Unmarshal([]byte(out), &page) != nil || len(page.Items) != 1 || page.Items[0].Serial != "51" {
			t.Errorf("cert list --fingerprint %s: %v\n%s", v, err, out)
		}
	}
	if _, _, err := runCLI(t, nil, "cert", "list", "--data", data, "--fingerprint", "zz"); err == nil ||
		!strings.HasPrefix(err.Error(), "--fingerprint: ") || strings.Contains(err.Error(), "\n") {
		t.Errorf("cert list --fingerprint zz: %v, want one line naming --fingerprint", err)
	}
}
