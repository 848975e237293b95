package local

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/testenv/testca"
)

// unusableCA is an edit of testca.BundleEdited and what its refusal must
// say.
type unusableCA struct {
	name string
	edit func(root, inter *x509.Certificate)
	want []string // in the message
}

// unusableCAs are the edits of testca.BundleEdited that give a CA whose
// intermediate cannot issue certificates that verify (or cannot sign its
// CRL), and what the refusal must say.
var unusableCAs = []unusableCA{
	{"intermediate without keyCertSign", func(_, inter *x509.Certificate) {
		inter.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign
	}, []string{`intermediate "CN=Example Corp Issuing CA,O=Example Corp"`, "without keyCertSign", "it has digitalSignature, cRLSign"}},
	{"intermediate without cRLSign", func(_, inter *x509.Certificate) {
		inter.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign
	}, []string{`intermediate "CN=Example Corp Issuing CA,O=Example Corp"`, "without cRLSign", "cannot sign the CRL"}},
	{"intermediate with neither", func(_, inter *x509.Certificate) {
		inter.KeyUsage = x509.KeyUsageDigitalSignature
	}, []string{"without keyCertSign, cRLSign"}},
	{"root without keyCertSign", func(root, _ *x509.Certificate) {
		root.KeyUsage = x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	}, []string{`root "CN=Example Corp Root,O=Example Corp"`, "without keyCertSign"}},
}

// TestImportRefusesUnusableCA: `certgate ca import` refuses, in one line
// naming the certificate and what it lacks, a CA whose intermediate (or
// root) has a keyUsage extension without keyCertSign, an intermediate
// without cRLSign, and CA certificates not valid now; it writes nothing.
// A CA without keyUsage extensions is accepted (RFC 5280: any use).
func TestImportRefusesUnusableCA(t *testing.T) {
	now := time.Now()
	cases := append(slices.Clone(unusableCAs),
		unusableCA{"intermediate not valid yet", func(_, inter *x509.Certificate) {
			inter.NotBefore = now.Add(48 * time.Hour)
		}, []string{`intermediate "CN=Example Corp Issuing CA,O=Example Corp" is not valid yet`}},
		unusableCA{"intermediate expired", func(_, inter *x509.Certificate) {
			inter.NotAfter = now.Add(-time.Hour)
		}, []string{`intermediate "CN=Example Corp Issuing CA,O=Example Corp" expired on`}},
		unusableCA{"root expired", func(root, _ *x509.Certificate) {
			root.NotAfter = now.Add(-time.Hour)
		}, []string{`root "CN=Example Corp Root,O=Example Corp" expired on`}},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ca")
			_, err := Import(dir, testca.BundleEdited(t, now, newP384(t), newP384(t), tc.edit))
			if !errors.Is(err, ErrInvalidCA) {
				t.Fatalf("Import: err = %v, want ErrInvalidCA", err)
			}
			msg := err.Error()
			want := append(tc.want, "the bundle's", "issued again with keyCertSign")
			if strings.HasPrefix(tc.name, "root without") {
				want = append(tc.want, "issued again with keyCertSign")
			} else if !strings.Contains(tc.name, "keyCertSign") && !strings.Contains(tc.name, "cRLSign") && !strings.Contains(tc.name, "neither") {
				want = append(tc.want, "the bundle's", "import a CA whose certificates are valid now")
			}
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("Import: %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("Import: %q is more than one line", msg)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Import wrote %s (%v)", dir, err)
			}
		})
	}
	t.Run("no keyUsage extensions", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "ca")
		if _, err := Import(dir, testca.BundleEdited(t, now, newP384(t), newP384(t), func(root, inter *x509.Certificate) {
			root.KeyUsage, inter.KeyUsage = 0, 0
		})); err != nil {
			t.Fatalf("Import: %v", err)
		}
	})
}

// writeBundleFiles writes the four blocks of a testca bundle into dir as
// the CA files, bypassing Import's checks: a DATA/ca edited by hand (or
// imported by an older certgate).
func writeBundleFiles(t *testing.T, dir string, bundle []byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var blocks [][]byte
	for rest := bundle; ; {
		i := strings.Index(string(rest[1:]), "-----BEGIN")
		if i < 0 {
			blocks = append(blocks, rest)
			break
		}
		blocks, rest = append(blocks, rest[:i+1]), rest[i+1:]
	}
	if len(blocks) != 4 {
		t.Fatalf("bundle of %d blocks", len(blocks))
	}
	for i, name := range []string{RootCertFile, RootKeyFile, IntermediateCertFile, IntermediateKeyFile} {
		if err := os.WriteFile(filepath.Join(dir, name), blocks[i], 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLoadRefusesUnusableCA: the start (LoadOrCreate) refuses a CA
// directory holding such a CA, naming it, what it lacks and the fix
// (certgate ca rotate, the root key being there).
func TestLoadRefusesUnusableCA(t *testing.T) {
	for _, tc := range unusableCAs {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ca")
			writeBundleFiles(t, dir, testca.BundleEdited(t, time.Now(), newP384(t), newP384(t), tc.edit))
			_, err := LoadOrCreate(dir, Options{})
			if !errors.Is(err, ErrInvalidCA) {
				t.Fatalf("LoadOrCreate: err = %v, want ErrInvalidCA", err)
			}
			want := append(tc.want, dir, "certgate ca rotate")
			if strings.HasPrefix(tc.name, "root without") {
				want = append(tc.want, "issued again with keyCertSign")
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("LoadOrCreate: %q lacks %q", err, w)
				}
			}
		})
	}
	// certgate's own CA passes, created and loaded again.
	dir := filepath.Join(t.TempDir(), "ca")
	if _, err := LoadOrCreate(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadOrCreate(dir, Options{})
	if err != nil {
		t.Fatalf("LoadOrCreate of certgate's own CA: %v", err)
	}
	if err := ca.CheckValidAt(time.Now()); err != nil {
		t.Errorf("CheckValidAt of certgate's own CA: %v", err)
	}
}

// TestCheckValidAt: a CA whose intermediate is not valid yet or has
// expired is reported with the fix: certgate ca rotate when the root key
// is in the directory (ErrIntermediateExpired for the expired one), a new
// intermediate from the issuing CA without it.
func TestCheckValidAt(t *testing.T) {
	now := time.Now()
	dir := filepath.Join(t.TempDir(), "ca")
	writeBundleFiles(t, dir, testca.BundleEdited(t, now, newP384(t), newP384(t), nil))
	ca, err := LoadOrCreate(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	end := ca.Intermediate().NotAfter
	if err := ca.CheckValidAt(now); err != nil {
		t.Fatalf("now: %v", err)
	}
	err = ca.CheckValidAt(end.Add(time.Second))
	if !errors.Is(err, ErrIntermediateExpired) || !strings.Contains(err.Error(), "expired on "+end.UTC().Format(time.RFC3339)) ||
		!strings.Contains(err.Error(), "certgate ca rotate") || !strings.Contains(err.Error(), "when there is no database yet, add --no-db") {
		t.Errorf("expired: %v", err)
	}
	err = ca.CheckValidAt(ca.Intermediate().NotBefore.Add(-time.Second))
	if !errors.Is(err, ErrInvalidCA) || !strings.Contains(err.Error(), "is not valid yet") {
		t.Errorf("not valid yet: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, RootKeyFile)); err != nil {
		t.Fatal(err)
	}
	ca, err = LoadOrCreate(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = ca.CheckValidAt(end.Add(time.Second))
	if !errors.Is(err, ErrIntermediateExpired) || strings.Contains(err.Error(), "ca rotate") || !strings.Contains(err.Error(), "certgate ca import") {
		t.Errorf("expired, no root key: %v", err)
	}
}
