package inventory_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestImportChainFromFilesBeside: importing a directory laid out as
// certbot's live/NAME/ (cert.pem the leaf alone, chain.pem its
// intermediate, fullchain.pem both) stores the leaf with its intermediate.
// cert.pem comes first in lexical order and held no issuer, so the leaf
// was stored alone and `cert export` printed it without intermediates,
// though the same import read fullchain.pem. The issuer comes from a
// file beside it only when its signature verifies: a certificate of the
// same name with another key, in a third file, is not taken.
func TestImportChainFromFilesBeside(t *testing.T) {
	p := newTestPKI(t)
	leaf := p.leaf(0, "beside.example.com")
	dir := t.TempDir()
	// A decoy intermediate: same subject, another key, sorted first.
	decoyKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	decoy := p.sign(&x509.Certificate{Subject: pkix.Name{CommonName: "Import Test Intermediate"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, p.root, p.rootKey, &decoyKey.PublicKey, p.rootKey)
	must(t, os.WriteFile(filepath.Join(dir, "a-decoy.pem"), pemOf(decoy), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "cert.pem"), pemOf(leaf), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "chain.pem"), pemOf(p.inter), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "fullchain.pem"), pemOf(leaf, p.inter), 0o644))

	svc := inventory.New(storetest.OpenSQLite(t), func() time.Time { return now })
	ctx := context.Background()
	res, err := svc.Import(ctx, []string{dir})
	must(t, err)
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("%s: %v", r.Path, r.Err)
		}
	}
	got, err := svc.PEM(ctx, leaf.SerialNumber.Text(16), true)
	must(t, err)
	if want := string(pemOf(leaf, p.inter)); string(got) != want {
		t.Errorf("the leaf's chain holds %d certificate(s), want the leaf and its intermediate:\n%s", strings.Count(string(got), "BEGIN"), got)
	}

	// A file named by itself keeps to its own certificates.
	other := p.leaf(0, "alone.example.com")
	alone := filepath.Join(dir, "alone.pem")
	must(t, os.WriteFile(alone, pemOf(other), 0o644))
	_, err = svc.Import(ctx, []string{alone})
	must(t, err)
	got, err = svc.PEM(ctx, other.SerialNumber.Text(16), true)
	must(t, err)
	if string(got) != string(pemOf(other)) {
		t.Errorf("a file named by itself took a chain from the files beside it:\n%s", got)
	}
}

// TestImportChainRolloverBundle: a file holding two intermediates of the
// same name (an old and a new key, as in a key rollover) and a leaf the
// second signed stores the leaf with the second as its chain. The issuer
// was the first certificate of that name in the file, whatever key signed:
// `cert export` printed a chain that does not verify.
func TestImportChainRolloverBundle(t *testing.T) {
	p := newTestPKI(t)
	leaf := p.leaf(0, "rollover.example.com")
	oldKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	old := p.sign(&x509.Certificate{Subject: pkix.Name{CommonName: "Import Test Intermediate"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, p.root, p.rootKey, &oldKey.PublicKey, p.rootKey)
	svc := inventory.New(storetest.OpenSQLite(t), func() time.Time { return now })
	ctx := context.Background()
	// The leaf given twice: looked at once.
	res, err := svc.ImportCertificates(ctx, []*x509.Certificate{old, p.inter, leaf, leaf})
	must(t, err)
	if len(res.Imported) != 3 {
		t.Fatalf("imported %d certificates, want 3 (two intermediates, the leaf once): %+v", len(res.Imported), res)
	}
	got, err := svc.PEM(ctx, leaf.SerialNumber.Text(16), true)
	must(t, err)
	if !strings.HasPrefix(string(got), string(pemOf(leaf, p.inter))) {
		t.Errorf("the leaf's chain is not the leaf and the intermediate that signed it:\n%s", got)
	}
}
