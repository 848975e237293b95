package local

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// bundleBlocks splits a bundle into its PEM blocks.
func bundleBlocks(t *testing.T, b []byte) []*pem.Block {
	t.Helper()
	var out []*pem.Block
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		out = append(out, blk)
	}
}

func joinBlocks(blocks ...*pem.Block) []byte {
	var b bytes.Buffer
	for _, blk := range blocks {
		b.Write(pem.EncodeToMemory(blk))
	}
	return b.Bytes()
}

func exportTest(t *testing.T, dir string) []byte {
	t.Helper()
	b, _, _, err := Export(dir)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	return b
}

func TestExportImportRoundTrip(t *testing.T) {
	src, srcDir := newTestCA(t, Options{})
	bundle, root, withRootKey, err := Export(srcDir)
	if err != nil {
		t.Fatal(err)
	}
	if !root.Equal(src.Root()) || !withRootKey {
		t.Fatalf("Export returned another root, or withRootKey %v for a CA it created", withRootKey)
	}
	blocks := bundleBlocks(t, bundle)
	wantTypes := []string{"CERTIFICATE", "PRIVATE KEY", "CERTIFICATE", "PRIVATE KEY"}
	if len(blocks) != 4 {
		t.Fatalf("bundle has %d blocks, want 4", len(blocks))
	}
	for i, b := range blocks {
		if b.Type != wantTypes[i] {
			t.Errorf("block %d is %q, want %q", i+1, b.Type, wantTypes[i])
		}
	}
	if !bytes.Equal(blocks[0].Bytes, src.Root().Raw) || !bytes.Equal(blocks[2].Bytes, src.Intermediate().Raw) {
		t.Error("bundle certificates are not root then intermediate")
	}
	for _, i := range []int{1, 3} {
		if _, err := x509.ParsePKCS8PrivateKey(blocks[i].Bytes); err != nil {
			t.Errorf("block %d is not PKCS#8: %v", i+1, err)
		}
	}

	dstDir := filepath.Join(t.TempDir(), "data", "ca") // parent missing too
	got, err := Import(dstDir, bundle)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if Fingerprint(got) != Fingerprint(src.Root()) {
		t.Fatalf("Import returned root %s, want %s", Fingerprint(got), Fingerprint(src.Root()))
	}
	// Same files, same modes as LoadOrCreate writes.
	if fi, err := os.Stat(dstDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("imported dir: %v, mode %v; want 0700", err, fi.Mode().Perm())
	}
	for _, name := range allFiles {
		want, _ := os.ReadFile(filepath.Join(srcDir, name))
		have, err := os.ReadFile(filepath.Join(dstDir, name))
		if err != nil || !bytes.Equal(want, have) {
			t.Errorf("%s differs from the source (err %v)", name, err)
		}
		srcFi, _ := os.Stat(filepath.Join(srcDir, name))
		dstFi, _ := os.Stat(filepath.Join(dstDir, name))
		if srcFi.Mode().Perm() != dstFi.Mode().Perm() {
			t.Errorf("%s mode %v, LoadOrCreate wrote %v", name, dstFi.Mode().Perm(), srcFi.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(dstDir))
	if len(entries) != 1 {
		t.Errorf("import left %d entries next to the CA dir, want only ca", len(entries))
	}

	// The imported CA loads and issues certificates that chain to the
	// original root.
	dst, err := LoadOrCreate(dstDir, Options{Now: fixedClock, LintBeforeSign: true,
		IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl"})
	if err != nil {
		t.Fatalf("LoadOrCreate after import: %v", err)
	}
	if !dst.Root().Equal(src.Root()) || !dst.Intermediate().Equal(src.Intermediate()) {
		t.Fatal("imported CA has another root or intermediate")
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := RandomSerial()
	der, err := dst.SignLeaf(context.Background(), LeafRequest{Serial: serial, PublicKey: key.Public(),
		DNSNames: []string{"node2.example.test"}, NotBefore: testNow, NotAfter: testNow.Add(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatalf("SignLeaf with the imported CA: %v", err)
	}
	leaf, _ := x509.ParseCertificate(der)
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(src.Root())
	inters.AddCert(src.Intermediate())
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: "node2.example.test",
		CurrentTime: testNow.Add(time.Hour)}); err != nil {
		t.Fatalf("leaf of the imported CA does not chain to the exported root: %v", err)
	}

	// Exporting the imported CA gives the same bundle.
	if again := exportTest(t, dstDir); !bytes.Equal(again, bundle) {
		t.Error("export of the imported CA differs from the original bundle")
	}
}

func TestImportIntoEmptyExistingDir(t *testing.T) {
	_, srcDir := newTestCA(t, Options{})
	dst := filepath.Join(t.TempDir(), "ca")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(dst, exportTest(t, srcDir)); err != nil {
		t.Fatalf("Import into an empty directory: %v", err)
	}
	if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", fi.Mode().Perm())
	}
}

func TestImportRefuses(t *testing.T) {
	_, dirA := newTestCA(t, Options{})
	_, dirB := newTestCA(t, Options{})
	a := bundleBlocks(t, exportTest(t, dirA))
	b := bundleBlocks(t, exportTest(t, dirB))

	tests := []struct {
		name    string
		bundle  []byte
		wantErr error
		want    string
	}{
		{"intermediate key of another CA", joinBlocks(a[0], a[1], a[2], b[3]), ErrInvalidCA, "the bundle's intermediate key does not match the bundle's intermediate certificate"},
		{"root key of another CA", joinBlocks(a[0], b[1], a[2], a[3]), ErrInvalidCA, "the bundle's root key does not match the bundle's root certificate"},
		{"intermediate of another root", joinBlocks(a[0], a[1], b[2], b[3]), ErrInvalidCA, "intermediate is not signed by root"},
		{"intermediate before root", joinBlocks(a[2], a[3], a[0], a[1]), ErrInvalidBundle, "the root comes after the intermediate"},
		{"certificates first", joinBlocks(a[0], a[2], a[1], a[3]), ErrInvalidBundle, `block 3 is "PRIVATE KEY", want "CERTIFICATE": only block 2 (the root key) and the last block (the intermediate key) are keys`},
		{"keys swapped", joinBlocks(a[0], a[3], a[2], a[1]), ErrInvalidCA, "does not match"},
		{"intermediate key missing", joinBlocks(a[0], a[1], a[2]), ErrInvalidBundle, `block 3, the last, is "CERTIFICATE", want the intermediate key "PRIVATE KEY"`},
		{"two blocks", joinBlocks(a[0], a[2]), ErrInvalidBundle, "2 PEM blocks, want at least 3 (order: root certificate, root key (optional),"},
		{"root after the key", joinBlocks(a[0], a[1], a[2], a[3], a[0]), ErrInvalidBundle, `block 5, the last, is "CERTIFICATE", want the intermediate key`},
		{"not PEM", []byte("hello\n"), ErrInvalidBundle, "no PEM block, want at least 3"},
		{"the root alone", joinBlocks(a[0]), ErrInvalidBundle, "1 PEM block, want at least 3"},
		{"garbage certificate", joinBlocks(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}, a[1], a[2], a[3]), ErrInvalidBundle, "root certificate"},
		{"BEGIN without END between blocks", slices.Concat(joinBlocks(a[0]), []byte("-----BEGIN CERTIFICATE-----\nMIIB\n"), joinBlocks(a[1], a[2], a[3])),
			ErrInvalidBundle, "the PEM block after block 1 does not parse"},
		{"body not base64", slices.Concat(joinBlocks(a[0], a[1]), []byte("-----BEGIN CERTIFICATE-----\n#not base64#\n-----END CERTIFICATE-----\n"), joinBlocks(a[2], a[3])),
			ErrInvalidBundle, "the PEM block after block 2 does not parse"},
		{"BEGIN without END at the end", slices.Concat(joinBlocks(a[0], a[1], a[2], a[3]), []byte("-----BEGIN PRIVATE KEY-----\nMIIB\n")),
			ErrInvalidBundle, "the PEM block after block 4 does not parse"},
		{"BEGIN without END first", slices.Concat([]byte("-----BEGIN CERTIFICATE-----\n"), joinBlocks(a[0], a[1], a[2], a[3])),
			ErrInvalidBundle, "the first PEM block does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "ca")
			_, err := Import(dst, tt.bundle)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Import = %v, want %v mentioning %q", err, tt.wantErr, tt.want)
			}
			if strings.Contains(err.Error(), ".import-") {
				t.Errorf("error names the temporary directory: %v", err)
			}
			if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a refused import left %s behind (%v)", dst, err)
			}
			if entries, _ := os.ReadDir(filepath.Dir(dst)); len(entries) != 0 {
				t.Errorf("a refused import left %d entries behind", len(entries))
			}
		})
	}
}

func TestImportRefusesExistingCA(t *testing.T) {
	_, dirA := newTestCA(t, Options{})
	_, dirB := newTestCA(t, Options{})
	bundle := exportTest(t, dirA)
	before := readAll(t, dirB)
	for _, b := range [][]byte{bundle, exportTest(t, dirB)} { // another CA, and the same one
		if _, err := Import(dirB, b); !errors.Is(err, ErrCAExists) || !strings.Contains(err.Error(), dirB) {
			t.Fatalf("Import over an existing CA = %v, want ErrCAExists naming %s", err, dirB)
		}
	}
	if after := readAll(t, dirB); len(after) != 4 || !maps.Equal(before, after) {
		t.Fatal("a refused import changed the existing CA")
	}

	// A partial CA counts as existing, too.
	partial := filepath.Join(t.TempDir(), "ca")
	os.Mkdir(partial, 0o700)
	os.WriteFile(filepath.Join(partial, RootCertFile), []byte("x"), 0o644)
	if _, err := Import(partial, bundle); !errors.Is(err, ErrCAExists) {
		t.Fatalf("Import over a partial CA = %v, want ErrCAExists", err)
	}
	if ok, err := Exists(partial); !ok || err != nil {
		t.Fatalf("Exists(partial) = %v, %v", ok, err)
	}
	if ok, err := Exists(filepath.Join(t.TempDir(), "none")); ok || err != nil {
		t.Fatalf("Exists(missing) = %v, %v", ok, err)
	}
}

func TestExportWithoutCA(t *testing.T) {
	_, _, _, err := Export(filepath.Join(t.TempDir(), "ca"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no CA in") {
		t.Fatalf("Export of a missing CA = %v", err)
	}
}

// TestImportTextBetweenBlocks: text outside the PEM blocks, such as the
// "Bag Attributes" lines openssl pkcs12 writes before each block, is
// ignored, as openssl's own tools do.
func TestImportTextBetweenBlocks(t *testing.T) {
	ca, dirA := newTestCA(t, Options{})
	a := bundleBlocks(t, exportTest(t, dirA))
	var bundle []byte
	for i, b := range a {
		bundle = append(bundle, fmt.Sprintf("Bag Attributes\n    localKeyID: 0%d\nsubject=/CN=block %d\n", i, i+1)...)
		bundle = append(bundle, pem.EncodeToMemory(b)...)
	}
	bundle = append(bundle, "trailing notes\n"...)
	root, err := Import(filepath.Join(t.TempDir(), "ca"), bundle)
	if err != nil {
		t.Fatalf("Import of a bundle with text between its blocks: %v", err)
	}
	if !root.Equal(ca.Root()) {
		t.Error("imported another root")
	}
}
