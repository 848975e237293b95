package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// writeSelfSigned writes a self-signed certificate for names, valid for
// days from now, as PEM to path; rsaBits > 0 uses an RSA key of that size.
func writeSelfSigned(t *testing.T, path string, serial int64, days int, rsaBits int, names ...string) *x509.Certificate {
	t.Helper()
	var pub, priv any
	if rsaBits > 0 {
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			t.Fatal(err)
		}
		pub, priv = &k.PublicKey, k
	} else {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub, priv = &k.PublicKey, k
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Duration(days) * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// TestCertCLI drives `certgate cert import|list|show|export|revoke` and
// `certgate report` against a data directory's SQLite database.
func TestCertCLI(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	files := t.TempDir()
	soon := writeSelfSigned(t, filepath.Join(files, "soon.pem"), 0x51, 10, 0, "soon.example.com")
	writeSelfSigned(t, filepath.Join(files, "later.pem"), 0x52, 60, 0, "later.example.com", "www.later.example.com")
	writeSelfSigned(t, filepath.Join(files, "weak.pem"), 0x53, 20, 1024, "legacy.example.org")
	if err := os.WriteFile(filepath.Join(files, "junk.pem"), []byte("-----BEGIN CERTIFICATE-----\nAAAA"), 0o644); err != nil {
		t.Fatal(err)
	}
	keyDir := t.TempDir() // certbot's live/NAME/: a certificate beside its key
	writeSelfSigned(t, filepath.Join(keyDir, "cert.pem"), 0x54, 30, 0, "live.example.com")
	if err := os.WriteFile(filepath.Join(keyDir, "privkey.pem"), []byte("-----BEGIN PRIVATE KEY-----\nAQID\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, err := runCLI(t, nil, "cert", "import", "--data", data, files)
	if err == nil || err.Error() != "1 file was rejected" {
		t.Fatalf("import with one bad file: err %v", err)
	}
	if !strings.Contains(stdout, "3 certificates imported, 0 already present, 1 file rejected\n") ||
		strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "junk.pem: truncated or malformed PEM block") {
		t.Fatalf("import output:\n%s\nstderr:\n%s", stdout, stderr)
	}
	data2 := filepath.Join(t.TempDir(), "data2")
	initDataDir(t, data2)
	stdout, stderr, err = runCLI(t, nil, "cert", "import", "--data", data2, keyDir)
	if err != nil || stderr != "" || !strings.Contains(stdout, "privkey.pem: skipped (no certificate)\n") ||
		!strings.HasSuffix(stdout, "1 certificate imported, 0 already present, 1 file skipped (no certificate), 0 files rejected\n") {
		t.Fatalf("import of a certificate beside its key: %v\n%s\nstderr:\n%s", err, stdout, stderr)
	}

	stdout, _, err = runCLI(t, nil, "cert", "import", "--data", data, filepath.Join(files, "soon.pem"))
	if err != nil || !strings.Contains(stdout, "soon.pem: 0 imported, 1 already present") {
		t.Fatalf("second import: %v\n%s", err, stdout)
	}

	// Table: aligned columns, soonest expiry first.
	stdout, _, err = runCLI(t, nil, "cert", "list", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "SERIAL") || !strings.HasPrefix(lines[1], "51 ") ||
		!strings.HasPrefix(lines[2], "53 ") || !strings.HasPrefix(lines[3], "52 ") {
		t.Fatalf("cert list:\n%s", stdout)
	}
	col := strings.Index(lines[0], "STATUS")
	for _, l := range lines[1:] {
		if l[col:col+5] != "valid" {
			t.Fatalf("STATUS column not aligned:\n%s", stdout)
		}
	}

	// JSON with a page size of 2 and the cursor to the next page.
	stdout, _, err = runCLI(t, nil, "cert", "list", "--data", data, "--suffix", "*.example.com", "--limit", "1", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var page inventory.Page
	if err := json.Unmarshal([]byte(stdout), &page); err != nil || len(page.Items) != 1 || page.Items[0].Serial != "51" || page.NextCursor == "" {
		t.Fatalf("json page: %v\n%s", err, stdout)
	}
	stdout, _, err = runCLI(t, nil, "cert", "list", "--data", data, "--suffix", "*.example.com", "--limit", "1", "--format", "json", "--cursor", page.NextCursor)
	if err != nil {
		t.Fatal(err)
	}
	page = inventory.Page{}
	if err := json.Unmarshal([]byte(stdout), &page); err != nil || len(page.Items) != 1 || page.Items[0].Serial != "52" || page.NextCursor != "" {
		t.Fatalf("second json page: %v\n%s", err, stdout)
	}
	// CSV.
	stdout, _, err = runCLI(t, nil, "cert", "list", "--data", data, "--name", "LEGACY.example.org", "--format", "csv")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil || len(recs) != 2 || recs[0][0] != "serial" || recs[1][0] != "53" || recs[1][4] != "RSA 1024" {
		t.Fatalf("csv: %v\n%s", err, stdout)
	}

	// show by fingerprint, export.
	stdout, _, err = runCLI(t, nil, "cert", "show", "--data", data, fmt.Sprintf("%x", sha256.Sum256(soon.Raw)))
	if err != nil || !strings.Contains(stdout, "soon.example.com") || !strings.Contains(stdout, "imported") {
		t.Fatalf("cert show: %v\n%s", err, stdout)
	}
	// An imported certificate has no account, order or replacement: each
	// row says "-", as the list tables do, not a blank value.
	for _, field := range []string{"account", "order", "replaces", "replaced by order"} {
		if !regexp.MustCompile(`(?m)^` + field + ` +-$`).MatchString(stdout) {
			t.Errorf("cert show: no %q row with -:\n%s", field, stdout)
		}
	}
	stdout, _, err = runCLI(t, nil, "cert", "export", "--data", data, "51")
	if b, _ := pem.Decode([]byte(stdout)); err != nil || b == nil || string(b.Bytes) != string(soon.Raw) {
		t.Fatalf("cert export: %v\n%s", err, stdout)
	}

	// Reports.
	stdout, _, err = runCLI(t, nil, "report", "expiring", "--data", data, "--within", "30d")
	if err != nil || strings.Count(stdout, "\n") != 3 || !strings.Contains(stdout, "soon.example.com") || strings.Contains(stdout, "later.example.com") {
		t.Fatalf("report expiring: %v\n%s", err, stdout)
	}
	stdout, _, err = runCLI(t, nil, "report", "weak-keys", "--data", data, "--format", "json")
	if err != nil || !strings.Contains(stdout, `"serial": "53"`) || strings.Contains(stdout, `"serial": "51"`) {
		t.Fatalf("report weak-keys: %v\n%s", err, stdout)
	}
	stdout, _, err = runCLI(t, nil, "report", "issued", "--data", data, "--by", "issuer")
	if err != nil || !strings.Contains(stdout, "CN=soon.example.com") {
		t.Fatalf("report issued: %v\n%s", err, stdout)
	}
	// JSON: the admin API's {"items": [...]}, as every report.
	stdout, _, err = runCLI(t, nil, "report", "issued", "--data", data, "--by", "issuer", "--format", "json")
	var issued struct{ Items []inventory.Count }
	if err != nil || json.Unmarshal([]byte(stdout), &issued) != nil || len(issued.Items) == 0 || issued.Items[0].Count == 0 {
		t.Fatalf("report issued --format json: %v\n%s", err, stdout)
	}

	// Revoke, then list by status.
	stdout, _, err = runCLI(t, nil, "cert", "revoke", "--data", data, "51", "--reason", "keyCompromise")
	if err != nil || stdout != "revoked 51 (keyCompromise)\nblocked its key; no other valid certificate issued here has it\n"+
		"recorded in the inventory only: another CA (issuer CN=soon.example.com) issued it, and only that CA can revoke it\n" {
		t.Fatalf("cert revoke: %v %q", err, stdout)
	}
	stdout, _, err = runCLI(t, nil, "cert", "list", "--data", data, "--status", "revoked")
	if err != nil || strings.Count(stdout, "\n") != 2 || !strings.Contains(stdout, "51 ") {
		t.Fatalf("revoked list: %v\n%s", err, stdout)
	}
	// keyCompromise blocked the certificate's key (CA/B BR 6.1.1.3).
	h, err := store.KeyHash(soon.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := storetest.OpenDSN(t, server.DSN(data, "")).GetBlockedKey(context.Background(), h); err != nil || b.Serial != "51" {
		t.Errorf("blocked key after cert revoke --reason keyCompromise: %+v, %v; want blocked by 51", b, err)
	}

	// Errors: one line, non-nil error (main exits 1).
	for _, args := range [][]string{
		{"cert", "revoke", "--data", data, "51"},
		{"cert", "show", "--data", data, "abcdef"},
		{"cert", "list", "--data", data, "--status", "bogus"},
		{"cert", "list", "--data", data, "--attr", "novalue"},
		{"cert", "list", "--data", data, "--cursor", "garbage"},
		{"cert", "revoke", "--data", data, "52", "--reason", "certificateHold"},
		{"report", "issued", "--data", data, "--by", "color"},
		{"report", "expiring", "--data", data, "--within", "soon"},
	} {
		_, _, err := runCLI(t, nil, args...)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: err %v, want one line", args, err)
		}
	}
}

// TestCertRevokeKeyCompromiseNamesOthers: `certgate cert revoke --reason
// keyCompromise` says which other certificates with the key the
// revocation revoked with it (docs/pki.md), so that the operator need not
// search the inventory for them; one issued with another key is not named
// and stays valid, and an imported one of another CA with the same key
// stays valid and is named on a third line (revoke it with its CA).
func TestCertRevokeKeyCompromiseNamesOthers(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	st := storetest.OpenDSN(t, server.DSN(data, ""))
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now().UTC().Truncate(time.Second)
	rec := func(serial string, k *ecdsa.PrivateKey, source string) *store.Certificate {
		n, _ := new(big.Int).SetString(serial, 16)
		tmpl := &x509.Certificate{SerialNumber: n, Subject: pkix.Name{CommonName: "k.example.com"}, DNSNames: []string{"k.example.com"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
		if err != nil {
			t.Fatal(err)
		}
		fp := sha256.Sum256(der)
		return &store.Certificate{Serial: serial, Issuer: "local", DER: der, SANs: tmpl.DNSNames, KeyType: "ECDSA P-256", KeyBits: 256,
			SignatureAlgorithm: "ECDSA-SHA256", FingerprintSHA256: fmt.Sprintf("%x", fp), NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter,
			Status: acme.StatusValid, CreatedAt: now, Profile: store.DefaultProfile, Source: source, Attributes: map[string]string{}}
	}
	if err := st.InsertCertificates(ctx, []*store.Certificate{
		rec("a1", key, store.SourceIssued), rec("a2", key, store.SourceIssued), rec("a3", key, store.SourceIssued),
		rec("b1", other, store.SourceIssued), rec("c1", key, store.SourceImported),
	}); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runCLI(t, nil, "cert", "revoke", "--data", data, "a2", "--reason", "keyCompromise")
	want := "revoked a2 (keyCompromise)\nblocked its key and revoked 2 other certificate(s) with it for keyCompromise: a1, a3\n" +
		"1 certificate(s) of other CAs in the inventory have the key and stay valid (revoke them with their CA): c1\n"
	if err != nil || stdout != want || stderr != "" {
		t.Fatalf("cert revoke: %v\nstdout %q\nwant   %q\nstderr %q", err, stdout, want, stderr)
	}
	for serial, status := range map[string]string{"a1": "revoked", "a3": "revoked", "b1": "valid", "c1": "valid"} {
		c, err := st.GetCertificate(ctx, serial)
		if err != nil || c.Status != status {
			t.Errorf("%s after the revocation: %+v, %v; want %s", serial, c, err, status)
		}
	}
}

// TestAccountCLI lists, shows and deactivates accounts.
func TestAccountCLI(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	st := storetest.OpenDSN(t, server.DSN(data, ""))
	ctx := context.Background()
	for i := range 3 {
		id := fmt.Sprintf("acct%d", i)
		if err := st.CreateAccount(ctx, &store.Account{ID: id, KeyThumbprint: "tp" + id, JWK: []byte(`{}`), Status: acme.StatusValid,
			Contact: []string{"mailto:" + id + "@example.test"}, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	// acct3 was bound by an EAB key and has custom attributes.
	if err := st.CreateEABKey(ctx, &store.EABKey{KID: "kid-b", HMACKey: []byte("k"), Profile: "default", Owner: "team-b",
		Status: store.EABUsed, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAccount(ctx, &store.Account{ID: "acct3", KeyThumbprint: "tp3", JWK: []byte(`{}`), Status: acme.StatusValid,
		CreatedAt: time.Now(), EABKid: "kid-b", Attributes: map[string]string{"env": "prod", "billing_code": "CC-9"}}); err != nil {
		t.Fatal(err)
	}
	stdout, _, err := runCLI(t, nil, "account", "list", "--data", data, "--cursor", "acct2")
	if err != nil || !strings.Contains(stdout, "EAB KEY") || !strings.Contains(stdout, "kid-b (team-b)") || !strings.Contains(stdout, "billing_code=CC-9 env=prod") {
		t.Fatalf("account list with EAB and attributes: %v\n%s", err, stdout)
	}
	stdout, _, err = runCLI(t, nil, "account", "show", "--data", data, "acct3")
	fields := strings.Join(strings.Fields(stdout), " ") // columns, whatever their width
	for _, want := range []string{"eab key kid-b", "eab owner team-b", "attribute billing_code CC-9", "attribute env prod"} {
		if err != nil || !strings.Contains(fields, want) {
			t.Errorf("account show lacks %q: %v\n%s", want, err, stdout)
		}
	}
	stdout, _, err = runCLI(t, nil, "account", "show", "--data", data, "acct3", "--format", "json")
	for _, want := range []string{`"eab_kid": "kid-b"`, `"eab_owner": "team-b"`, `"billing_code": "CC-9"`} {
		if err != nil || !strings.Contains(stdout, want) {
			t.Errorf("account show json lacks %s: %v\n%s", want, err, stdout)
		}
	}
	stdout, stderr, err := runCLI(t, nil, "account", "list", "--data", data, "--limit", "2")
	if err != nil || strings.Count(stdout, "\n") != 3 || !strings.Contains(stdout, "acct1") || !strings.Contains(stderr, "--cursor acct1") {
		t.Fatalf("account list: %v\n%s\n%s", err, stdout, stderr)
	}
	stdout, _, err = runCLI(t, nil, "account", "list", "--data", data, "--cursor", "acct1", "--format", "json")
	if err != nil || !strings.Contains(stdout, `"id": "acct2"`) || strings.Contains(stdout, "acct1") {
		t.Fatalf("account list page 2: %v\n%s", err, stdout)
	}
	stdout, _, err = runCLI(t, nil, "account", "deactivate", "--data", data, "acct0")
	if err != nil || stdout != "deactivated account acct0\n" {
		t.Fatalf("deactivate: %v %q", err, stdout)
	}
	stdout, _, err = runCLI(t, nil, "account", "show", "--data", data, "acct0", "--format", "json")
	if err != nil || !strings.Contains(stdout, `"status": "deactivated"`) || !strings.Contains(stdout, `"certificates": 0`) {
		t.Fatalf("account show: %v\n%s", err, stdout)
	}
	if _, _, err := runCLI(t, nil, "account", "deactivate", "--data", data, "acct0"); err == nil || !strings.Contains(err.Error(), "deactivated already") {
		t.Fatalf("second deactivation: %v", err)
	}
	if _, _, err := runCLI(t, nil, "account", "show", "--data", data, "nope"); err == nil || err.Error() != `there is no account "nope" (see 'certgate account list')` {
		t.Fatalf("missing account: %v", err)
	}
}

// TestCertImportJSONArrays: `cert import --format json` writes imported and
// already_present as JSON arrays in every result, [] when none — a new
// file, the same file again, a skipped key file — so that a script can
// iterate over them. Before, an empty list was null (jq
// '.[].already_present[]' failed with "Cannot iterate over null").
func TestCertImportJSONArrays(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	dir := t.TempDir()
	c := writeSelfSigned(t, filepath.Join(dir, "cert.pem"), 0x61, 30, 0, "json.example.com")
	if err := os.WriteFile(filepath.Join(dir, "privkey.pem"), []byte("-----BEGIN PRIVATE KEY-----\nAQID\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	serial := fmt.Sprintf("%x", c.SerialNumber)
	for i, want := range []struct{ imported, present int }{{1, 0}, {0, 1}} {
		out, _, err := runCLI(t, nil, "cert", "import", "--data", data, "--format", "json", dir)
		if err != nil {
			t.Fatalf("import %d: %v", i, err)
		}
		var res []map[string]any
		if err := json.Unmarshal([]byte(out), &res); err != nil || len(res) != 2 {
			t.Fatalf("import %d: %v\n%s", i, err, out)
		}
		for _, r := range res {
			for _, field := range []string{"imported", "already_present"} {
				if _, ok := r[field].([]any); !ok {
					t.Errorf("import %d, %s: %s is %#v, want an array", i, r["path"], field, r[field])
				}
			}
		}
		cert := res[0] // cert.pem sorts before privkey.pem
		imp, _ := cert["imported"].([]any)
		pres, _ := cert["already_present"].([]any)
		if len(imp) != want.imported || len(pres) != want.present || (len(imp) == 1 && imp[0] != serial) || (len(pres) == 1 && pres[0] != serial) {
			t.Errorf("import %d: cert.pem result %v, want %d imported and %d already present (%s)", i, cert, want.imported, want.present, serial)
		}
	}
}

// TestReportJSONShapes: every report's --format json is an object with an
// "items" array, as the admin API's /reports/* answer (an empty
// inventory too: "items": [], never null); the violations report, which
// the CLI reads to the end, adds "scanned" like the API's page.
func TestReportJSONShapes(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	for _, report := range []string{"expiring", "issued", "weak-keys", "violations"} {
		stdout, _, err := runCLI(t, nil, "report", report, "--data", data, "--format", "json")
		var out map[string]json.RawMessage
		if err != nil || json.Unmarshal([]byte(stdout), &out) != nil || string(out["items"]) != "[]" {
			t.Errorf("report %s --format json: %v\n%s, want an object with \"items\": []", report, err, stdout)
		}
		if report == "violations" && string(out["scanned"]) != "0" {
			t.Errorf("report violations --format json: %s, want \"scanned\": 0", stdout)
		}
	}
}
