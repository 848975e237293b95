package local

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/testenv/testca"
)

// withoutRootKey drops the root key (block 2) from a four-block bundle.
func withoutRootKey(t *testing.T, bundle []byte) []byte {
	t.Helper()
	b := bundleBlocks(t, bundle)
	if len(b) != 4 || b[1].Type != "PRIVATE KEY" {
		t.Fatalf("not a four-block bundle: %d blocks", len(b))
	}
	return joinBlocks(b[0], b[2], b[3])
}

// checkIssues signs a leaf with ca and verifies it chains to root.
func checkIssues(t *testing.T, ca *CA, root *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := RandomSerial()
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.SignLeaf(context.Background(), LeafRequest{Serial: serial, PublicKey: key.Public(),
		DNSNames: []string{"www.example.test"}, NotBefore: testNow, NotAfter: testNow.Add(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatalf("SignLeaf: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	inters.AddCert(ca.Intermediate())
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: "www.example.test",
		CurrentTime: testNow.Add(time.Hour)}); err != nil {
		t.Fatalf("leaf does not chain to the root: %v", err)
	}
}

// TestLoadWithoutRootKey: a CA directory without root.key loads (the root
// key is optional) and issues leaves chaining to its root; the directory is
// left as it was.
func TestLoadWithoutRootKey(t *testing.T) {
	src, dir := newTestCA(t, Options{})
	if err := os.Remove(filepath.Join(dir, RootKeyFile)); err != nil {
		t.Fatal(err)
	}
	before := readAll(t, dir)
	ca, err := LoadOrCreate(dir, Options{Now: fixedClock, LintBeforeSign: true,
		IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl"})
	if err != nil {
		t.Fatalf("LoadOrCreate without %s: %v", RootKeyFile, err)
	}
	if !ca.Root().Equal(src.Root()) || !ca.Intermediate().Equal(src.Intermediate()) {
		t.Fatal("loaded another root or intermediate")
	}
	checkIssues(t, ca, src.Root())
	if after := readAll(t, dir); len(after) != 3 || after[RootKeyFile] != "" || len(before) != 3 {
		t.Errorf("loading changed the directory: files %d -> %d", len(before), len(after))
	}
}

// TestImportWithoutRootKey: a bundle of three blocks (root certificate,
// intermediate certificate, intermediate key) of an enterprise CA (RSA
// root, P-256 issuing intermediate, the root key kept elsewhere) imports
// into three files, loads, issues, and exports to the same three blocks,
// which import again on another node.
func TestImportWithoutRootKey(t *testing.T) {
	rootKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bundle := withoutRootKey(t, testca.Bundle(t, testNow, rootKey, interKey))
	rootCert, err := x509.ParseCertificate(bundleBlocks(t, bundle)[0].Bytes)
	if err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "data", "ca")
	got, err := Import(dir, bundle)
	if err != nil {
		t.Fatalf("Import of a bundle without the root key: %v", err)
	}
	if !got.Equal(rootCert) {
		t.Fatal("Import returned another root")
	}
	if _, err := os.Stat(filepath.Join(dir, RootKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Import wrote %s from a bundle without it (%v)", RootKeyFile, err)
	}
	for name, mode := range map[string]os.FileMode{RootCertFile: 0o644, IntermediateCertFile: 0o644, IntermediateKeyFile: 0o600} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, want mode %v", name, err, mode)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(dir)); len(entries) != 1 {
		t.Errorf("import left %d entries next to the CA dir, want only ca", len(entries))
	}

	ca, err := LoadOrCreate(dir, Options{Now: fixedClock, LintBeforeSign: true,
		IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl"})
	if err != nil {
		t.Fatalf("LoadOrCreate after import: %v", err)
	}
	if !ca.Root().Equal(rootCert) || !ca.Intermediate().PublicKey.(*ecdsa.PublicKey).Equal(interKey.Public()) {
		t.Fatal("imported CA has another root or intermediate")
	}
	checkIssues(t, ca, rootCert)

	// Export gives what is there: the same three blocks.
	again, root, withRootKey, err := Export(dir)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	if withRootKey || !root.Equal(rootCert) {
		t.Errorf("Export: withRootKey %v, root %s; want false, the imported root", withRootKey, root.Subject)
	}
	if !bytes.Equal(again, bundle) {
		t.Errorf("export of the three-file CA differs from the imported bundle (%d blocks)", len(bundleBlocks(t, again)))
	}
	// And that bundle copies the CA to another node.
	node2 := filepath.Join(t.TempDir(), "ca")
	if _, err := Import(node2, again); err != nil {
		t.Fatalf("Import of the exported three-block bundle: %v", err)
	}
	if ca2, err := LoadOrCreate(node2, Options{}); err != nil || !ca2.Root().Equal(rootCert) {
		t.Fatalf("LoadOrCreate on the second node: %v", err)
	}
}

// TestImportRefusesThreeBlocks: the refusals of a bundle without the root
// key, each one line naming the block and what belongs there; nothing is
// written.
func TestImportRefusesThreeBlocks(t *testing.T) {
	_, dirA := newTestCA(t, Options{})
	_, dirB := newTestCA(t, Options{})
	a := bundleBlocks(t, exportTest(t, dirA))
	b := bundleBlocks(t, exportTest(t, dirB))
	ecParams := &pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}}
	sec1 := &pem.Block{Type: "EC PRIVATE KEY", Bytes: a[3].Bytes}

	tests := []struct {
		name    string
		bundle  []byte
		wantErr error
		want    string
	}{
		{"intermediate before root", joinBlocks(a[2], a[0], a[3]), ErrInvalidBundle, "the root comes after the intermediate"},
		{"key before intermediate", joinBlocks(a[0], a[3], a[2]), ErrInvalidBundle, `block 3, the last, is "CERTIFICATE", want the intermediate key "PRIVATE KEY"`},
		{"key first", joinBlocks(a[3], a[0], a[2], a[3]), ErrInvalidBundle, `block 1 is "PRIVATE KEY", want the root certificate "CERTIFICATE"`},
		{"intermediate key missing", joinBlocks(a[0], a[2]), ErrInvalidBundle, "2 PEM blocks, want at least 3"},
		{"intermediate key of another CA", joinBlocks(a[0], a[2], b[3]), ErrInvalidCA, "the bundle's intermediate key does not match the bundle's intermediate certificate"},
		{"intermediate of another root", joinBlocks(a[0], b[2], b[3]), ErrInvalidCA, "intermediate is not signed by root"},
		{"root key given as the intermediate key", joinBlocks(a[0], a[2], a[1]), ErrInvalidCA, "does not match"},
		{"extra junk block", joinBlocks(a[0], a[2], a[3], ecParams), ErrInvalidBundle, `block 4 is "EC PARAMETERS" (openssl ecparam output), want only the key as "PRIVATE KEY"`},
		{"foreign block", joinBlocks(a[0], &pem.Block{Type: "X509 CRL", Bytes: []byte{1}}, a[2], a[3]), ErrInvalidBundle, `block 2 is "X509 CRL", want only "CERTIFICATE" and "PRIVATE KEY" blocks`},
		{"SEC 1 key", joinBlocks(a[0], a[2], sec1), ErrInvalidBundle, `block 3 is "EC PRIVATE KEY", want "PRIVATE KEY" (unencrypted PKCS#8`},
		{"malformed trailing block", append(joinBlocks(a[0], a[2], a[3]), "-----BEGIN CERTIFICATE-----\nnot base64\n"...), ErrInvalidBundle, "the PEM block after block 3 does not parse"},
		{"certificate after the key", joinBlocks(a[0], a[1], a[2], a[3], b[0]), ErrInvalidBundle, `block 5, the last, is "CERTIFICATE", want the intermediate key`},
		{"key between certificates", joinBlocks(a[0], a[2], a[3], a[2], a[3]), ErrInvalidBundle, `block 3 is "PRIVATE KEY", want "CERTIFICATE": only block 2 (the root key) and the last block (the intermediate key) are keys`},
		{"no intermediate certificate", joinBlocks(a[0], a[1], a[3]), ErrInvalidBundle, "no intermediate certificate before the intermediate key, block 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkImportRefused(t, tt.bundle, tt.wantErr, tt.want)
		})
	}
}

// TestExportPartialCA: a directory holding the root certificate and key
// but not the intermediate is refused by Export as by LoadOrCreate.
func TestExportPartialCA(t *testing.T) {
	_, dir := newTestCA(t, Options{})
	for _, name := range []string{IntermediateCertFile, IntermediateKeyFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	_, _, _, err := Export(dir)
	if !errors.Is(err, ErrPartialCA) || !strings.Contains(err.Error(), "lacks intermediate.crt, intermediate.key") {
		t.Fatalf("Export of a partial CA = %v, want ErrPartialCA naming the missing files", err)
	}
}

// checkImportRefused imports bundle into a new directory and checks that
// Import refuses it with an error wrapping wantErr that mentions want, in
// one line about the bundle, leaving nothing on disk.
func checkImportRefused(t *testing.T, bundle []byte, wantErr error, want string) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "ca")
	_, err := Import(dst, bundle)
	if !errors.Is(err, wantErr) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Import = %v, want %v mentioning %q", err, wantErr, want)
	}
	if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), ".import-") {
		t.Errorf("error is not one line about the bundle: %q", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(dst)); len(entries) != 0 {
		t.Errorf("a refused import left %d entries behind", len(entries))
	}
}

// TestExportKeyInToken: a CA directory without intermediate.key (the key
// in a PKCS#11 token) is refused by Export, and so by `ca export` and
// `backup`, saying that a key in a token cannot leave it; the message
// told the user to give the pkcs11-* settings, which those commands do
// not take.
func TestExportKeyInToken(t *testing.T) {
	_, dir := newTestCA(t, Options{})
	if err := os.Remove(filepath.Join(dir, IntermediateKeyFile)); err != nil {
		t.Fatal(err)
	}
	_, _, _, err := Export(dir)
	if !errors.Is(err, ErrPartialCA) || !strings.Contains(err.Error(), "a key in a token cannot leave it") || strings.Contains(err.Error(), "give the pkcs11-* settings") {
		t.Fatalf("Export with the key in a token = %v, want ErrPartialCA saying the key cannot leave the token", err)
	}
	if _, err := CopyForBackup(dir, filepath.Join(t.TempDir(), "b")); err == nil || !strings.Contains(err.Error(), "cannot be exported or backed up with its key") {
		t.Fatalf("CopyForBackup with the key in a token = %v", err)
	}
}
