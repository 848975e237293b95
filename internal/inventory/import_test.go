package inventory_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/smallstep/pkcs7"
)

// testPKI signs certificates for import tests: a root, an intermediate
// under it, and leaves under the intermediate.
type testPKI struct {
	t                 *testing.T
	root, inter       *x509.Certificate
	rootKey, interKey *ecdsa.PrivateKey
	serial            int64
}

func newTestPKI(t *testing.T) *testPKI {
	p := &testPKI{t: t, serial: 0x1000}
	p.rootKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.interKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.root = p.sign(&x509.Certificate{Subject: pkix.Name{CommonName: "Import Test Root"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, nil, nil, &p.rootKey.PublicKey, p.rootKey)
	p.inter = p.sign(&x509.Certificate{Subject: pkix.Name{CommonName: "Import Test Intermediate"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, p.root, p.rootKey, &p.interKey.PublicKey, p.rootKey)
	return p
}

func (p *testPKI) sign(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, pub any, selfKey *ecdsa.PrivateKey) *x509.Certificate {
	p.t.Helper()
	p.serial++
	tmpl.SerialNumber = big.NewInt(p.serial)
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(90*24*time.Hour)
	signer := selfKey
	if parent == nil {
		parent = tmpl
	} else {
		signer = parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	must(p.t, err)
	c, err := x509.ParseCertificate(der)
	must(p.t, err)
	return c
}

// leaf issues a leaf for names under the intermediate; rsaBits > 0 makes
// it an RSA key of that size.
func (p *testPKI) leaf(rsaBits int, names ...string) *x509.Certificate {
	var pub any
	if rsaBits > 0 {
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		must(p.t, err)
		pub = &k.PublicKey
	} else {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub = &k.PublicKey
	}
	return p.sign(&x509.Certificate{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, p.inter, p.interKey, pub, nil)
}

func pemOf(cs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range cs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

// TestImportMixedDirectory imports a directory of good files (a PEM chain,
// a DER certificate, a PKCS#7 bundle, a duplicate) and corrupt ones
// (garbage, a truncated PEM, a PEM holding one good and one bad
// certificate): the good ones are imported, each bad one is reported, and
// nothing of a bad file is stored.
func TestImportMixedDirectory(t *testing.T) {
	p := newTestPKI(t)
	web := p.leaf(0, "www.example.com", "example.com")
	der := p.leaf(1024, "legacy.example.org")
	b1, b2 := p.leaf(0, "a.bundle.test"), p.leaf(0, "b.bundle.test")
	hidden := p.leaf(0, "hidden.example.net") // only in the half-bad file
	bundle, err := pkcs7.DegenerateCertificate(append(append([]byte{}, b1.Raw...), b2.Raw...))
	must(t, err)
	bad := pemOf(hidden)
	corrupt := slices.Clone(web.Raw)
	corrupt = corrupt[:len(corrupt)-20] // a certificate cut short, still valid base64
	bad = append(bad, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: corrupt})...)

	dir := t.TempDir()
	files := map[string][]byte{
		"good/chain.pem":    pemOf(web, p.inter, p.root),
		"good/legacy.der":   der.Raw,
		"good/bundle.p7b":   bundle,
		"good/z-dup.pem":    pemOf(web),
		"bad/garbage.bin":   []byte("this is not a certificate\x00\x01\x02"),
		"bad/truncated.pem": pemOf(web)[:300],
		"bad/half-bad.pem":  bad,
		"bad/empty.pem":     {},
		"bad/key-only.pem":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"bad/other.pem":     pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: []byte{1, 2, 3}}),
		"keys/privkey.pem":  append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8}}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}})...),
		"keys/request.csr":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: p.csr(t)}),
		"keys/key.der":      p.pkcs8(t),
	}
	for name, data := range files {
		must(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755))
		must(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	}
	st := storetest.OpenSQLite(t)
	svc := inventory.New(st, func() time.Time { return now })
	ctx := context.Background()
	res, err := svc.Import(ctx, []string{filepath.Join(dir, "bad"), filepath.Join(dir, "good"), filepath.Join(dir, "keys"), filepath.Join(dir, "missing.pem")})
	must(t, err)
	byName := map[string]inventory.FileResult{}
	for _, r := range res {
		byName[filepath.Base(r.Path)] = r
	}
	if len(res) != len(files)+1 {
		t.Fatalf("%d results for %d files: %v", len(res), len(files)+1, res)
	}
	wantErr := map[string]string{
		"garbage.bin":   "not a PEM, DER or PKCS#7",
		"truncated.pem": "truncated",
		"half-bad.pem":  "PEM block 2: bad certificate",
		"empty.pem":     "empty file",
		"other.pem":     "no certificates in the PEM file",
		"missing.pem":   "no such file",
	}
	// Keys and requests only: skipped, not rejected.
	for _, name := range []string{"key-only.pem", "privkey.pem", "request.csr", "key.der"} {
		r := byName[name]
		if r.Err != nil || r.Skipped != "no certificate" || len(r.Imported) != 0 || r.Summary() != r.Path+": skipped (no certificate)" {
			t.Errorf("%s: result %+v (%q), want skipped (no certificate)", name, r, r.Summary())
		}
	}
	for name, want := range wantErr {
		r := byName[name]
		if r.Err == nil || !strings.Contains(r.Err.Error(), want) || len(r.Imported) != 0 {
			t.Errorf("%s: result %+v, want error containing %q", name, r, want)
		}
		if strings.Contains(r.Summary(), "\n") || !strings.HasPrefix(r.Summary(), r.Path+": ") || strings.Count(r.Summary(), r.Path) != 1 {
			t.Errorf("%s: summary %q is not one line naming the file once", name, r.Summary())
		}
	}
	if r := byName["missing.pem"]; r.Summary() != r.Path+": no such file or directory" || r.Error != "no such file or directory" || !errors.Is(r.Err, fs.ErrNotExist) {
		t.Errorf("missing.pem: summary %q, error %q (%v), want PATH: no such file or directory", r.Summary(), r.Error, r.Err)
	}
	if r := byName["chain.pem"]; r.Err != nil || len(r.Imported) != 3 {
		t.Errorf("chain.pem: %+v, want 3 imported (leaf, intermediate, root)", r)
	}
	if r := byName["legacy.der"]; r.Err != nil || len(r.Imported) != 1 {
		t.Errorf("legacy.der: %+v", r)
	}
	if r := byName["bundle.p7b"]; r.Err != nil || len(r.Imported) != 2 {
		t.Errorf("bundle.p7b: %+v", r)
	}
	if r := byName["z-dup.pem"]; r.Err != nil || len(r.Imported) != 0 || len(r.Present) != 1 || r.Summary() != r.Path+": 0 imported, 1 already present" {
		t.Errorf("z-dup.pem: %+v (%s)", r, r.Summary())
	}
	if n, _ := st.CountCertificates(ctx); n != 6 {
		t.Fatalf("%d certificates stored, want 6", n)
	}
	// Nothing of the half-bad file: its good certificate is not stored.
	if _, err := svc.Get(ctx, hidden.SerialNumber.Text(16)); err == nil {
		t.Fatal("the good certificate of a rejected file was stored")
	}
	p1, err := svc.List(ctx, inventory.Query{Name: "hidden.example.net"})
	must(t, err)
	if len(p1.Items) != 0 {
		t.Fatal("names of a rejected file were stored")
	}
	// The imported records: issuer DN, source, chain, key size, names.
	got, err := svc.Get(ctx, web.SerialNumber.Text(16))
	must(t, err)
	if got.Issuer != "CN=Import Test Intermediate" || got.Source != store.SourceImported || got.KeyBits != 256 ||
		got.SignatureAlgorithm != "ECDSA-SHA256" || !slices.Equal(got.Names, []string{"www.example.com", "example.com"}) {
		t.Fatalf("imported record = %+v", got)
	}
	chain, err := svc.PEM(ctx, web.SerialNumber.Text(16), true)
	must(t, err)
	if string(chain) != string(pemOf(web, p.inter, p.root)) {
		t.Fatalf("stored chain is not leaf, intermediate, root:\n%s", chain)
	}
	weak, err := svc.WeakKeys(ctx, inventory.Query{})
	must(t, err)
	if len(weak.Items) != 1 || weak.Items[0].Serial != der.SerialNumber.Text(16) {
		t.Fatalf("weak keys = %+v, want the RSA 1024 certificate", weak.Items)
	}
	bySuffix, err := svc.List(ctx, inventory.Query{Suffix: "bundle.test"})
	must(t, err)
	if len(bySuffix.Items) != 2 {
		t.Fatalf("suffix bundle.test: %d certificates", len(bySuffix.Items))
	}
	// Importing everything again stores nothing new.
	res, err = svc.Import(ctx, []string{filepath.Join(dir, "good")})
	must(t, err)
	for _, r := range res {
		if len(r.Imported) != 0 || r.Err != nil {
			t.Errorf("second import of %s: %+v", r.Path, r)
		}
	}
	if n, _ := st.CountCertificates(ctx); n != 6 {
		t.Fatalf("%d certificates after importing again, want 6", n)
	}
}

// TestImportSameSerialOtherIssuer: serials are unique per issuer only, so
// a certificate from another issuer with a serial already stored is
// imported under "SERIAL-FINGERPRINT16" and found by its serial.
func TestImportSameSerialOtherIssuer(t *testing.T) {
	p1, p2 := newTestPKI(t), newTestPKI(t) // both number from 0x1001
	a, b := p1.leaf(0, "a.test"), p2.leaf(0, "b.test")
	if a.SerialNumber.Cmp(b.SerialNumber) != 0 {
		t.Fatal("test PKIs should reuse serials")
	}
	st := storetest.OpenSQLite(t)
	svc := inventory.New(st, func() time.Time { return now })
	ctx := context.Background()
	r1, err := svc.ImportCertificates(ctx, []*x509.Certificate{a, p1.inter})
	must(t, err)
	r2, err := svc.ImportCertificates(ctx, []*x509.Certificate{b, p2.inter})
	must(t, err)
	serial := a.SerialNumber.Text(16)
	if len(r1.Imported) != 2 || len(r2.Imported) != 2 || r1.Imported[0] != serial || !strings.HasPrefix(r2.Imported[0], serial+"-") {
		t.Fatalf("imports: %+v %+v", r1, r2)
	}
	got, err := svc.Get(ctx, r2.Imported[0])
	must(t, err)
	if got.Names[0] != "b.test" {
		t.Fatalf("get %s: %+v", r2.Imported[0], got)
	}
	page, err := svc.List(ctx, inventory.Query{Serial: serial})
	must(t, err)
	if len(page.Items) != 2 {
		t.Fatalf("serial %s lists %d certificates, want 2", serial, len(page.Items))
	}
	// The key a listing shows as the second one's serial finds it alone,
	// in any letter case (it was refused: "not hexadecimal").
	for _, key := range []string{r2.Imported[0], strings.ToUpper(r2.Imported[0])} {
		page, err = svc.List(ctx, inventory.Query{Serial: key})
		must(t, err)
		if len(page.Items) != 1 || page.Items[0].Serial != r2.Imported[0] {
			t.Fatalf("serial %s lists %+v, want the certificate keyed %s alone", key, page.Items, r2.Imported[0])
		}
	}
	if _, err := svc.List(ctx, inventory.Query{Serial: serial + "-xyz"}); !errors.Is(err, inventory.ErrInvalid) {
		t.Fatalf("serial %s-xyz: %v, want ErrInvalid", serial, err)
	}
}

// TestImportSharesIssuerChain: imported certificates with a chain store
// their intermediates once (issuer_chains, as issued ones do) and export
// the chain of their file byte for byte; a certificate imported without
// its issuer keeps its leaf as chain, stored as before.
func TestImportSharesIssuerChain(t *testing.T) {
	p := newTestPKI(t)
	a, b, alone := p.leaf(0, "a.chain.test"), p.leaf(0, "b.chain.test"), p.leaf(0, "alone.chain.test")
	dsn := storetest.SQLiteDSN(t)
	st := storetest.OpenDSN(t, dsn)
	svc := inventory.New(st, func() time.Time { return now })
	ctx := context.Background()
	for _, file := range [][]*x509.Certificate{{a, p.inter, p.root}, {b, p.inter, p.root}, {alone}} {
		res, err := svc.ImportCertificates(ctx, file)
		must(t, err)
		if len(res.Imported)+len(res.Present) != len(file) {
			t.Fatalf("import: %+v", res)
		}
	}
	for _, c := range []struct {
		cert  *x509.Certificate
		chain []byte
	}{{a, pemOf(a, p.inter, p.root)}, {b, pemOf(b, p.inter, p.root)}, {p.inter, pemOf(p.inter, p.root)}, {alone, pemOf(alone)}} {
		got, err := svc.PEM(ctx, c.cert.SerialNumber.Text(16), true)
		must(t, err)
		if string(got) != string(c.chain) {
			t.Fatalf("chain of %s:\n%s\nwant\n%s", c.cert.Subject.CommonName, got, c.chain)
		}
	}
	db, err := sql.Open("sqlite", "file:"+dsn)
	must(t, err)
	defer db.Close()
	var chains, shared int
	var aloneChain string
	must(t, db.QueryRow(`SELECT COUNT(*) FROM issuer_chains`).Scan(&chains))
	must(t, db.QueryRow(`SELECT COUNT(DISTINCT chain_id) FROM certificates WHERE serial IN (?, ?)`,
		a.SerialNumber.Text(16), b.SerialNumber.Text(16)).Scan(&shared))
	must(t, db.QueryRow(`SELECT chain_pem FROM certificates WHERE serial = ?`, alone.SerialNumber.Text(16)).Scan(&aloneChain))
	if chains != 2 || shared != 1 || aloneChain != string(pemOf(alone)) {
		t.Fatalf("%d issuer chains (want 2: intermediate+root, root), the two leaves reference %d (want 1), "+
			"the lone leaf stored chain_pem %q (want its PEM)", chains, shared, aloneChain)
	}
}

// csr returns a DER PKCS#10 request signed by the intermediate's key.
func (p *testPKI) csr(t *testing.T) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"csr.example.com"}}, p.interKey)
	must(t, err)
	return der
}

// pkcs8 returns the intermediate's key as DER PKCS#8.
func (p *testPKI) pkcs8(t *testing.T) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(p.interKey)
	must(t, err)
	return der
}
