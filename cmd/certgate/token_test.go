package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestTokenAndAuditCLI: token create prints a working token once, list
// shows it without the secret, revoke disables it; audit list shows both
// events and audit verify passes, then fails naming the event after a row
// is edited in the database.
func TestTokenAndAuditCLI(t *testing.T) {
	t.Setenv("CERTGATE_DB", "")
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) { testTokenAndAuditCLI(t, eng) })
	}
}

func testTokenAndAuditCLI(t *testing.T, eng storetest.Engine) {
	data := t.TempDir()
	dsn, driver := filepath.Join(data, "certgate.db"), "sqlite"
	if eng.Name == store.EnginePostgres {
		dsn, driver = eng.NewDSN(t), "pgx"
		// The schema, as the server's first run creates it: the
		// commands refuse a database without one.
		st, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
	} else {
		initDataDir(t, data)
	}
	// runCLI with the database flags of this engine.
	runCLI := func(t *testing.T, stdin []byte, args ...string) (string, string, error) {
		t.Helper()
		args = append(args, "--data", data)
		if driver == "pgx" {
			args = append(args, "--db", dsn)
		}
		return runCLI(t, stdin, args...)
	}
	out, errOut, err := runCLI(t, nil, "token", "create", "--role", "operator", "--name", "ci", "--expires", "30d")
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	tok := strings.TrimSpace(out)
	if !strings.HasPrefix(tok, "cgt_") || strings.Count(out, "\n") != 1 || !strings.Contains(errOut, "cannot be shown again") {
		t.Fatalf("token create printed %q / %q", out, errOut)
	}
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	p, err := auth.NewTokens(st, audit.New(st, nil), nil).Authenticate(context.Background(), tok)
	st.Close()
	if err != nil || p.Role != auth.RoleOperator {
		t.Fatalf("printed token does not authenticate: %v", err)
	}
	if _, _, err := runCLI(t, nil, "token", "create", "--role", "root", "--name", "x"); err == nil || !strings.Contains(err.Error(), "unknown role") {
		t.Fatalf("bad role: %v", err)
	}

	out, _, err = runCLI(t, nil, "token", "list", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var views []auth.TokenView
	if err := json.Unmarshal([]byte(out), &views); err != nil || len(views) != 1 || views[0].Name != "ci" || views[0].Status != "active" || views[0].ExpiresAt == nil {
		t.Fatalf("token list: %v %s", err, out)
	}
	if strings.Contains(out, tok[21:]) {
		t.Fatal("token list shows the secret")
	}
	if out, _, err = runCLI(t, nil, "token", "revoke", "ci"); err != nil || !strings.Contains(out, "revoked token ci") {
		t.Fatalf("token revoke: %v %s", err, out)
	}
	if _, _, err = runCLI(t, nil, "token", "revoke", "ci"); err == nil {
		t.Fatal("revoking a revoked name succeeded")
	}
	out, _, err = runCLI(t, nil, "token", "list", "--all")
	if err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("token list --all: %v\n%s", err, out)
	}

	out, _, err = runCLI(t, nil, "audit", "list")
	if err != nil || !strings.Contains(out, "token.create") || !strings.Contains(out, "token.revoke") || !strings.Contains(out, "SEQ") {
		t.Fatalf("audit list: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, nil, "audit", "list", "--format", "csv")
	if err != nil || !strings.HasPrefix(out, "seq,time,actor,action,object,source\n") || strings.Count(out, "\n") != 3 {
		t.Fatalf("audit list --format csv: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, nil, "token", "list", "--all", "--format", "csv")
	if err != nil || !strings.HasPrefix(out, "id,name,role,status,created,expires,created_by\n") {
		t.Fatalf("token list --format csv: %v\n%s", err, out)
	}
	if out, _, err = runCLI(t, nil, "audit", "verify"); err != nil || !strings.Contains(out, "intact: 2 event(s)") {
		t.Fatalf("audit verify: %v %s", err, out)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id string
	if err := db.QueryRow(`SELECT id FROM audit_events WHERE seq = 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_events SET actor = 'cli:mallory' WHERE seq = 1`); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, nil, "audit", "verify")
	if err == nil || !strings.Contains(err.Error(), "seq 1 (id "+id+")") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("audit verify after an edit: %v", err)
	}
}

// TestExpiresPastStoreRefused: `token create --expires` and `eab create
// --expires` with a lifetime that would end after store.MaxTime (2262) are
// refused in one line naming the flag, the latest expiry and the longest
// lifetime, and store nothing, instead of a token or key stored with an
// earlier expiry than asked; a lifetime under the limit still works.
func TestExpiresPastStoreRefused(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	re := regexp.MustCompile(`^--expires: lifetime 100000d ends after 2262-04-11T23:47:16Z, the latest expiry certgate stores: at most \d+d from now$`)
	for _, args := range [][]string{
		{"token", "create", "--role", "auditor", "--name", "far", "--expires", "100000d"},
		{"eab", "create", "--expires", "100000d"},
	} {
		_, _, err := runCLI(t, nil, append(args, "--data", data)...)
		if err == nil || !re.MatchString(err.Error()) {
			t.Errorf("%s: %v; want one line matching %s", strings.Join(args, " "), err, re)
		}
	}
	for _, list := range [][]string{{"token", "list"}, {"eab", "list"}} {
		out, _, err := runCLI(t, nil, append(list, "--data", data, "--format", "json")...)
		if err != nil || strings.TrimSpace(out) != "[]" {
			t.Errorf("%s after the refusals: %q, %v; want none", strings.Join(list, " "), out, err)
		}
	}
	for _, args := range [][]string{
		{"token", "create", "--role", "auditor", "--name", "near", "--expires", "80000d"},
		{"eab", "create", "--expires", "80000d"},
	} {
		if _, _, err := runCLI(t, nil, append(args, "--data", data)...); err != nil {
			t.Errorf("%s: %v", strings.Join(args, " "), err)
		}
	}
}

// TestTokenRevokeWholeToken: token revoke takes the whole token as
// printed by token create (it found nothing and printed the token, secret
// included, in its error) and revokes its ID; the secret appears in no
// output or error, also when the token is unknown or already revoked. A
// name shaped like a token is refused.
func TestTokenRevokeWholeToken(t *testing.T) {
	t.Setenv("CERTGATE_DB", "")
	data := t.TempDir()
	initDataDir(t, data)
	out, _, err := runCLI(t, nil, "token", "create", "--role", "operator", "--name", "ci", "--data", data)
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	tok := strings.TrimSpace(out)
	id, secret := tok[4:20], tok[21:]
	noSecret := func(what, out, errOut string, err error) {
		t.Helper()
		for _, s := range []string{secret, secret[:8]} {
			if strings.Contains(out, s) || strings.Contains(errOut, s) || err != nil && strings.Contains(err.Error(), s) {
				t.Fatalf("%s shows the secret: %q %q %v", what, out, errOut, err)
			}
		}
	}

	// Another token's ID with this secret: not found, nothing revoked.
	other := "cgt_0123456789abcdef_" + secret
	out, errOut, err := runCLI(t, nil, "token", "revoke", other, "--data", data)
	noSecret("revoke of an unknown token", out, errOut, err)
	if err == nil || err.Error() != "there is no token with the ID of cgt_0123456789abcdef_... (see 'certgate token list --all')" {
		t.Fatalf("revoke of an unknown token: %v", err)
	}

	out, errOut, err = runCLI(t, nil, "token", "revoke", tok, "--data", data)
	noSecret("revoke", out, errOut, err)
	if err != nil || out != "revoked token ci (id "+id+")\n" {
		t.Fatalf("revoke of the whole token: %v %q", err, out)
	}
	out, errOut, err = runCLI(t, nil, "token", "revoke", tok, "--data", data)
	noSecret("second revoke", out, errOut, err)
	if err == nil || err.Error() != `token "cgt_`+id+`_..." is already revoked` {
		t.Fatalf("second revoke of the whole token: %v", err)
	}
	out, _, err = runCLI(t, nil, "token", "list", "--all", "--format", "json", "--data", data)
	var views []auth.TokenView
	if err != nil || json.Unmarshal([]byte(out), &views) != nil || len(views) != 1 || views[0].Status != "revoked" {
		t.Fatalf("token list --all: %v %s", err, out)
	}

	// A cut or mistyped token still names its ID, and no secret.
	out, errOut, err = runCLI(t, nil, "token", "revoke", tok[:30], "--data", data)
	noSecret("revoke of a cut token", out, errOut, err)
	if err == nil || !strings.Contains(err.Error(), "cgt_"+id+"_...") {
		t.Fatalf("revoke of a cut token: %v", err)
	}

	_, _, err = runCLI(t, nil, "token", "create", "--role", "operator", "--name", "cgt_0123456789abcdef_x", "--data", data)
	if err == nil || !strings.Contains(err.Error(), "looks like a token") {
		t.Fatalf("token-shaped name: %v", err)
	}
}
