package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestAdminCommandsAreAudited: `cert revoke` and `account deactivate` are
// recorded in the audit log with the CLI user as actor and the object
// before and after, and the chain verifies.
func TestAdminCommandsAreAudited(t *testing.T) {
	t.Setenv("CERTGATE_DB", "")
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	files := t.TempDir()
	c := writeSelfSigned(t, filepath.Join(files, "a.pem"), 0x77, 30, 0, "a.example.com")
	if _, _, err := runCLI(t, nil, "cert", "import", "--data", data, files); err != nil {
		t.Fatal(err)
	}
	st := storetest.OpenDSN(t, server.DSN(data, ""))
	if err := st.CreateAccount(context.Background(), &store.Account{ID: "acct9", KeyThumbprint: "tp9", JWK: []byte(`{}`),
		Status: acme.StatusValid, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// The reasons ACME and the admin API refuse are refused here too.
	for _, r := range []string{"cACompromise", "10"} {
		_, _, err := runCLI(t, nil, "cert", "revoke", "--data", data, "77", "--reason", r)
		if err == nil || !strings.Contains(err.Error(), "use unspecified (0), keyCompromise (1), affiliationChanged (3)") {
			t.Fatalf("cert revoke --reason %s: %v, want a refusal naming the allowed reasons", r, err)
		}
	}
	if _, _, err := runCLI(t, nil, "cert", "revoke", "--data", data, "77", "--reason", "superseded"); err != nil {
		t.Fatalf("cert revoke: %v", err)
	}
	if _, _, err := runCLI(t, nil, "account", "deactivate", "--data", data, "acct9"); err != nil {
		t.Fatalf("account deactivate: %v", err)
	}
	out, _, err := runCLI(t, nil, "audit", "list", "--data", data, "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Items []struct {
			A             string `json:"actor"`
			Act           string `json:"action"`
			Obj           string `json:"object_id"`
			Before, After map[string]any
		}
	}
	err = json.Unmarshal([]byte(out), &page)
	evs := page.Items
	if err != nil || len(evs) != 3 {
		t.Fatalf("audit list: %v\n%s", err, out)
	}
	dea, rev, imp := evs[0], evs[1], evs[2] // newest first
	if !strings.HasPrefix(imp.A, "cli:") || imp.Act != "certificate.import" || imp.Obj != c.SerialNumber.Text(16) ||
		imp.Before != nil || imp.After["source"] != "imported" || imp.After["status"] != "valid" {
		t.Errorf("import event: %+v", imp)
	}
	if !strings.HasPrefix(rev.A, "cli:") || rev.Act != "certificate.revoke" || rev.Obj != c.SerialNumber.Text(16) ||
		rev.Before["status"] != "valid" || rev.After["status"] != "revoked" || rev.After["revocation_reason"] != float64(4) { // superseded, by code as in ACME and API events
		t.Errorf("revocation event: %+v", rev)
	}
	if !strings.HasPrefix(dea.A, "cli:") || dea.Act != "account.deactivate" || dea.Obj != "acct9" ||
		dea.Before["status"] != "valid" || dea.After["status"] != "deactivated" {
		t.Errorf("deactivation event: %+v", dea)
	}
	if out, _, err := runCLI(t, nil, "audit", "verify", "--data", data); err != nil || !strings.Contains(out, "intact: 3 event(s)") {
		t.Fatalf("audit verify: %v %s", err, out)
	}
}

// TestRateLimitOverridesAreAudited: `ratelimit set` (new and replaced) and
// `ratelimit delete` are recorded with the CLI user as actor, the override
// as "LIMIT SUBJECT" and its rate before and after.
func TestRateLimitOverridesAreAudited(t *testing.T) {
	t.Setenv("CERTGATE_DB", "")
	data := t.TempDir()
	initDataDir(t, data)
	createOverrideSubjects(t, data, []string{"acct1"}, nil)
	for _, args := range [][]string{
		{"set", "new-orders-per-account", "--account", "acct1", "--rate", "500/1h", "--comment", "build farm"},
		{"set", "new-orders-per-account", "--account", "acct1", "--rate", "0"},
		{"delete", "new-orders-per-account", "--account", "acct1"},
	} {
		if _, _, err := runCLI(t, nil, append(append([]string{"ratelimit"}, args...), "--data", data)...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	out, _, err := runCLI(t, nil, "audit", "list", "--data", data, "--object-type", "rate_limit_override", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Items []struct {
			A             string `json:"actor"`
			Act           string `json:"action"`
			Obj           string `json:"object_id"`
			Before, After map[string]any
		}
	}
	err = json.Unmarshal([]byte(out), &page)
	evs := page.Items
	if err != nil || len(evs) != 3 {
		t.Fatalf("audit list: %v\n%s", err, out)
	}
	del, replace, set := evs[0], evs[1], evs[2] // newest first
	for _, e := range evs {
		if !strings.HasPrefix(e.A, "cli:") || e.Obj != "new-orders-per-account account:acct1" {
			t.Errorf("event %+v: want actor cli:USER and object new-orders-per-account account:acct1", e)
		}
	}
	if set.Act != "rate_limit.set" || set.Before != nil || set.After["rate"] != "500/1h" || set.After["comment"] != "build farm" {
		t.Errorf("set event: %+v", set)
	}
	if replace.Act != "rate_limit.set" || replace.Before["rate"] != "500/1h" || replace.After["rate"] != "unlimited" {
		t.Errorf("replace event: %+v", replace)
	}
	if del.Act != "rate_limit.delete" || del.Before["rate"] != "unlimited" || del.After != nil {
		t.Errorf("delete event: %+v", del)
	}
}

// TestAuditListUnknownAction: `audit list --action` with a name that is
// not an action certgate records (a typo) exits non-zero with one line
// naming it and the actions, instead of listing nothing; a known action
// still lists.
func TestAuditListUnknownAction(t *testing.T) {
	t.Setenv("CERTGATE_DB", "")
	data := t.TempDir()
	initDataDir(t, data)
	_, _, err := runCLI(t, nil, "audit", "list", "--data", data, "--action", "certificate.revoked")
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), `--action: unknown audit action "certificate.revoked"`) ||
		!strings.Contains(err.Error(), "certificate.revoke, ") {
		t.Fatalf("audit list --action certificate.revoked: %v, want one line naming it and the actions", err)
	}
	if _, _, err := runCLI(t, nil, "audit", "list", "--data", data, "--action", "certificate.revoke"); err != nil {
		t.Fatalf("audit list --action certificate.revoke: %v", err)
	}
}

// TestAuditListUnknownObjectType: `audit list --object-type` with a type
// certgate does not record (a typo such as "cert") exits non-zero with one
// line naming it and the object types, instead of listing nothing; a
// known type still lists.
func TestAuditListUnknownObjectType(t *testing.T) {
	t.Setenv("CERTGATE_DB", "")
	data := t.TempDir()
	initDataDir(t, data)
	_, _, err := runCLI(t, nil, "audit", "list", "--data", data, "--object-type", "cert")
	want := `--object-type: unknown audit object type "cert" (the object types: account, approval, certificate, eab_key, intermediate, notification, profile, rate_limit_override, session, token)`
	if err == nil || err.Error() != want {
		t.Fatalf("audit list --object-type cert: %v, want %q", err, want)
	}
	if _, _, err := runCLI(t, nil, "audit", "list", "--data", data, "--object-type", "certificate"); err != nil {
		t.Fatalf("audit list --object-type certificate: %v", err)
	}
}

// TestAuditListJSONShape: `audit list --format json` prints the admin
// API's page (GET /api/v1/audit/events): {"items": [...], "next_before":
// N}, N the seq to pass as --before for the next page while one may
// remain, 0 on the last; "items": [] for none. It printed a bare array.
func TestAuditListJSONShape(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	type page struct {
		Items      []auditView `json:"items"`
		NextBefore *int64      `json:"next_before"`
	}
	list := func(args ...string) page {
		t.Helper()
		out, _, err := runCLI(t, nil, append([]string{"audit", "list", "--data", data, "--format", "json"}, args...)...)
		var p page
		if err != nil || json.Unmarshal([]byte(out), &p) != nil || p.Items == nil || p.NextBefore == nil {
			t.Fatalf("audit list --format json %v: %v\n%s", args, err, out)
		}
		return p
	}
	if p := list(); len(p.Items) != 0 || *p.NextBefore != 0 {
		t.Fatalf("empty audit log: %+v", p)
	}
	for _, n := range []string{"a", "b", "c"} {
		if _, _, err := runCLI(t, nil, "profile", "create", n, "--data", data); err != nil {
			t.Fatal(err)
		}
	}
	p := list("--limit", "2")
	if len(p.Items) != 2 || p.Items[0].Seq != 3 || *p.NextBefore != 2 {
		t.Fatalf("first page of 2: %+v, want seqs 3, 2 and next_before 2", p)
	}
	p = list("--limit", "2", "--before", "2")
	if len(p.Items) != 1 || p.Items[0].Seq != 1 || *p.NextBefore != 0 {
		t.Fatalf("last page: %+v, want seq 1 and next_before 0", p)
	}
}

// TestAuditListTableNamesNextPage: the table and csv forms of audit list
// end a page that may not be the last with "more events: add --before N"
// on stderr, as account list and cert list name their next page (they
// said nothing, so a page of a table left the reader to work N out from the
// SEQ column); nothing on the last page, and stdout holds the rows only.
func TestAuditListTableNamesNextPage(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	for _, n := range []string{"a", "b", "c"} {
		if _, _, err := runCLI(t, nil, "profile", "create", n, "--data", data); err != nil {
			t.Fatal(err)
		}
	}
	for _, format := range []string{"table", "csv"} {
		out, errOut, err := runCLI(t, nil, "audit", "list", "--data", data, "--format", format, "--limit", "2")
		if err != nil || errOut != "more events: add --before 2\n" || strings.Contains(out, "more events") || strings.Count(out, "\n") != 3 {
			t.Errorf("%s, first page of 2: %v, stderr %q, stdout:\n%s", format, err, errOut, out)
		}
		out, errOut, err = runCLI(t, nil, "audit", "list", "--data", data, "--format", format, "--limit", "2", "--before", "2")
		if err != nil || errOut != "" || strings.Count(out, "\n") != 2 {
			t.Errorf("%s, last page: %v, stderr %q, stdout:\n%s", format, err, errOut, out)
		}
	}
}

// TestAuditListSerialAsOpenSSLPrintsIt: `audit list --object-id` finds a
// certificate's events by its serial as `openssl x509 -serial` prints it
// (upper case, a leading zero byte) or with colons, as `cert show` and
// `cert revoke` take it; it listed nothing. Other IDs are taken as given.
func TestAuditListSerialAsOpenSSLPrintsIt(t *testing.T) {
	t.Setenv("CERTGATE_DB", "")
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	files := t.TempDir()
	writeSelfSigned(t, filepath.Join(files, "a.pem"), 0xa77, 30, 0, "a.example.com")
	if _, _, err := runCLI(t, nil, "cert", "import", "--data", data, files); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--object-id", "a77"},
		{"--object-id", "0A77"},
		{"--object-id", "0A:77"},
		{"--object-id", "0a77", "--object-type", "certificate"},
	} {
		out, _, err := runCLI(t, nil, append([]string{"audit", "list", "--data", data, "--format", "csv"}, args...)...)
		if err != nil || !strings.Contains(out, "certificate.import") {
			t.Errorf("audit list %v: %v\n%s", args, err, out)
		}
	}
	// A lower-case ID without a type is an ID like any other (a token's
	// ID may begin with 0): not rewritten.
	out, _, err := runCLI(t, nil, "audit", "list", "--data", data, "--format", "csv", "--object-id", "0a77")
	if err != nil || strings.Contains(out, "certificate.import") {
		t.Errorf("audit list --object-id 0a77: %v\n%s", err, out)
	}
}
