package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv"
	"golang.org/x/crypto/acme"
)

// fetchCRL fetches and parses the CRL of the server at baseURL
// (https://localhost:PORT; the CRL is served over plain HTTP on that port).
func fetchCRL(t *testing.T, baseURL string) *x509.RevocationList {
	t.Helper()
	resp, err := http.Get("http://" + strings.TrimPrefix(baseURL, "https://") + "/pki/crl")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	der, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /pki/crl: %d, %v", resp.StatusCode, err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

// crlSerials is the set of serials (lower-case hex) crl revokes.
func crlSerials(crl *x509.RevocationList) map[string]bool {
	m := map[string]bool{}
	for _, e := range crl.RevokedCertificateEntries {
		m[e.SerialNumber.Text(16)] = true
	}
	return m
}

// TestDBCopySQLiteToPostgres moves a deployment built by real ACME flows
// (accounts, orders, certificates, a revocation, a profile with its audit
// event) from its SQLite database to PostgreSQL with `certgate db copy`:
// refused while the server runs; then every table's rows are identical in
// the copy (and again after a copy back into SQLite); a second copy into
// the same database is refused; and a server started with the same data
// directory on the copy knows the account (an old client key finds it and
// reuses its authorization to get a new certificate with a new serial),
// serves the same revocations on a CRL with a higher number, and verifies
// the audit chain.
func TestDBCopySQLiteToPostgres(t *testing.T) {
	storetest.RequirePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	data := t.TempDir()
	pg := storetest.PostgresDSN(t)
	var (
		key     crypto.Signer
		acctURI string
		names   []string
		serials = map[string]bool{}
		revoked string
		oldCRL  *x509.RevocationList
		oldRoot *x509.Certificate
	)
	t.Run("source", func(t *testing.T) {
		env := testenv.NewWithOptions(t, testenv.Options{Data: data})
		oldRoot = env.Server.CA().Root()
		for i := range 3 {
			name := fmt.Sprintf("copy%d.example.test", i)
			c, a, chain := env.IssueHTTP01(t, name)
			leaf, err := x509.ParseCertificate(chain[0])
			if err != nil {
				t.Fatal(err)
			}
			serials[leaf.SerialNumber.Text(16)] = true
			names = append(names, name)
			if i == 0 {
				key, acctURI = c.Key, a.URI
				if err := c.RevokeCert(ctx, nil, chain[0], acme.CRLReasonSuperseded); err != nil {
					t.Fatal(err)
				}
				revoked = leaf.SerialNumber.Text(16)
			}
		}
		if _, _, err := runCLI(t, nil, "profile", "create", "partners", "--data", data, "--validity", "30d"); err != nil {
			t.Fatal(err)
		}
		oldCRL = fetchCRL(t, env.BaseURL)
		if !crlSerials(oldCRL)[revoked] {
			t.Fatalf("the source's CRL lacks the revoked %s", revoked)
		}
		for _, from := range []string{data, filepath.Join(data, "certgate.db")} {
			_, _, err := runCLI(t, nil, "db", "copy", "--from", from, "--to", pg)
			if err == nil || !strings.Contains(err.Error(), "in use by a running certgate process") || strings.Contains(err.Error(), "\n") {
				t.Errorf("copy from %s while the server runs: %v, want one line refusing", from, err)
			}
		}
	})

	src := filepath.Join(data, "certgate.db")
	stdout, stderr, err := runCLI(t, nil, "db", "copy", "--from", data, "--to", pg)
	if err != nil {
		t.Fatalf("db copy: %v\n%s", err, stderr)
	}
	srcDump := storetest.Dump(t, src)
	for _, table := range []string{"certificates", "accounts", "audit_events", "orders"} {
		want := regexp.MustCompile(`(?m)^` + table + ` +` + fmt.Sprint(len(srcDump[table])) + ` rows$`)
		if len(srcDump[table]) == 0 || !want.MatchString(stdout) {
			t.Errorf("db copy printed no line %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stdout, "copied ") || !strings.Contains(stdout, "row count equals the source's") || !strings.HasPrefix(stderr, "next: certgate serve --data") {
		t.Errorf("db copy printed %q, %q (want the hint as \"next: ...\", not as an error \"certgate: ...\")", stdout, stderr)
	}
	// The server started below is the one this line names.
	if want := "next: certgate serve --data " + data + " --db '" + pg + "'; keep " + src + " until the copy has served\n"; stderr != want {
		t.Errorf("db copy to PostgreSQL: hint %q, want %q", stderr, want)
	}
	storetest.CompareDumps(t, srcDump, storetest.Dump(t, pg))

	// Back into SQLite (a new data directory): the same rows again.
	// Its hint, run as printed (DATA: the data directory that served
	// PostgreSQL), serves it.
	back := t.TempDir()
	_, stderr, err = runCLI(t, nil, "db", "copy", "--from", pg, "--to", back)
	if err != nil {
		t.Fatalf("db copy back: %v\n%s", err, stderr)
	}
	storetest.CompareDumps(t, srcDump, storetest.Dump(t, filepath.Join(back, "certgate.db")))
	runCopyHint(t, stderr, data, oldRoot.Raw)

	// A second copy into the same database is refused in one line.
	_, _, err = runCLI(t, nil, "db", "copy", "--from", data, "--to", pg)
	if err == nil || !strings.Contains(err.Error(), "not empty") || strings.Contains(err.Error(), "\n") {
		t.Errorf("second copy: %v, want one line refusing a target that is not empty", err)
	}

	// The copy into itself through another URL of the database is named so.
	_, _, err = runCLI(t, nil, "db", "copy", "--from", pg, "--to", pg+"&application_name=other")
	if err == nil || !strings.Contains(err.Error(), "the same database") || strings.Contains(err.Error(), "\n") {
		t.Errorf("copy of %s into itself through another URL: %v, want one line naming the same database", pg, err)
	}

	env := testenv.NewWithOptions(t, testenv.Options{Data: data, DB: pg})
	if !env.Server.CA().Root().Equal(oldRoot) {
		t.Fatal("the server on the copy has another root")
	}
	// The account: the old key finds it, at the same ID.
	c := &acme.Client{Key: key, DirectoryURL: env.DirectoryURL, HTTPClient: env.HTTPClient}
	a, err := c.GetReg(ctx, "")
	if err != nil || a.Status != acme.StatusValid || path.Base(a.URI) != path.Base(acctURI) {
		t.Fatalf("the old account on the copy: %+v, %v (was %s)", a, err, acctURI)
	}
	// Its authorization of names[0] was copied: the order is ready at once.
	o, err := c.AuthorizeOrder(ctx, acme.DomainIDs(names[0]))
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != acme.StatusReady {
		t.Fatalf("an order of the old account for %s is %s, want ready (its authorization reused)", names[0], o.Status)
	}
	ck, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names[:1]}, ck)
	chain, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(chain[0])
	if serials[leaf.SerialNumber.Text(16)] {
		t.Errorf("the server on the copy reused serial %s", leaf.SerialNumber.Text(16))
	}

	// Revocations and the CRL number carried over.
	crl := fetchCRL(t, env.BaseURL)
	if !crlSerials(crl)[revoked] || crl.Number.Cmp(oldCRL.Number) <= 0 {
		t.Errorf("the copy's CRL (number %v, revoking %v) lacks %s or does not go beyond the source's number %v",
			crl.Number, crlSerials(crl), revoked, oldCRL.Number)
	}

	// Certificates and the audit chain, read by the administrative commands.
	out, _, err := runCLI(t, nil, "cert", "list", "--data", data, "--db", pg, "--format", "json", "--limit", "100")
	if err != nil {
		t.Fatal(err)
	}
	var page inventory.Page
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatalf("cert list --format json: %v\n%s", err, out)
	}
	found := map[string]string{}
	for _, it := range page.Items {
		found[it.Serial] = it.Status
	}
	for s := range serials {
		want := "valid"
		if s == revoked {
			want = "revoked"
		}
		if found[s] != want {
			t.Errorf("cert list on the copy: %s is %q, want %s", s, found[s], want)
		}
	}
	if out, _, err := runCLI(t, nil, "audit", "verify", "--data", data, "--db", pg); err != nil || !strings.Contains(out, "intact") {
		t.Errorf("audit verify on the copy: %v\n%s", err, out)
	}
}

// TestDBCopyRefusals: --from and --to are named as --data/--db name a
// database, and what cannot be copied is refused in one line.
func TestDBCopyRefusals(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "some.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", filepath.Join(dir, "none"), "--to", filepath.Join(dir, "x.db")}, "no certgate database"},
		{[]string{"--from", dir, "--to", filepath.Join(dir, "x.db")}, "no certgate database"},
		{[]string{"--from", "host=db user=x password=secret", "--to", filepath.Join(dir, "x.db")}, "key=value"},
		{[]string{"--from", "", "--to", filepath.Join(dir, "x.db")}, "is empty"},
		{[]string{"--from", filepath.Join(dir, "some.db"), "--to", filepath.Join(dir, "newdata")}, "create the data directory first"},
		{[]string{"--from", filepath.Join(dir, "some.db"), "--to", filepath.Join(dir, ".", "some.db")}, "the same database"},
	} {
		_, _, err := runCLI(t, nil, append([]string{"db", "copy"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "secret") {
			t.Errorf("db copy %q: %v, want one line with %q", c.args, err, c.want)
		}
	}
}
