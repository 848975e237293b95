package local

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/certlint"
)

// testNow is a fixed clock so that date-dependent lints (validity limits of
// CA/B SC081) give the same answer whenever the tests run.
var testNow = time.Date(2026, time.November, 2, 10, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return testNow }

func newTestCA(t testing.TB, opts Options) (*CA, string) {
	t.Helper()
	if opts.Now == nil {
		opts.Now = fixedClock
	}
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := LoadOrCreate(dir, opts)
	if err != nil {
		t.Fatalf("LoadOrCreate: %v", err)
	}
	return ca, dir
}

var allFiles = []string{RootCertFile, RootKeyFile, IntermediateCertFile, IntermediateKeyFile}

func TestLoadOrCreateNew(t *testing.T) {
	ca, dir := newTestCA(t, Options{})

	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("dir mode = %o, want 700", got)
	}
	for _, name := range []string{RootKeyFile, IntermediateKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode = %o, want 600", name, got)
		}
	}
	for _, name := range []string{RootCertFile, IntermediateCertFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&0o400 == 0 || got&0o022 != 0 {
			t.Errorf("%s mode = %o, want 644 (less umask)", name, got)
		}
	}

	root, inter := ca.Root(), ca.Intermediate()
	rootKey, ok := root.PublicKey.(*ecdsa.PublicKey)
	if !ok || rootKey.Curve != elliptic.P384() {
		t.Errorf("root key = %T, want ECDSA P-384", root.PublicKey)
	}
	interKey, ok := inter.PublicKey.(*ecdsa.PublicKey)
	if !ok || interKey.Curve != elliptic.P256() {
		t.Errorf("intermediate key = %T, want ECDSA P-256", inter.PublicKey)
	}
	if !root.IsCA || root.MaxPathLen != -1 {
		t.Errorf("root: IsCA=%v MaxPathLen=%d, want CA without pathLen", root.IsCA, root.MaxPathLen)
	}
	if !inter.IsCA || inter.MaxPathLen != 0 || !inter.MaxPathLenZero {
		t.Errorf("intermediate: IsCA=%v MaxPathLen=%d zero=%v, want CA pathLen 0", inter.IsCA, inter.MaxPathLen, inter.MaxPathLenZero)
	}
	if err := root.CheckSignatureFrom(root); err != nil {
		t.Errorf("root not self-signed: %v", err)
	}
	if err := inter.CheckSignatureFrom(root); err != nil {
		t.Errorf("intermediate not signed by root: %v", err)
	}
	if got := root.NotAfter.Sub(root.NotBefore); got != DefaultRootValidity {
		t.Errorf("root validity = %v, want %v", got, DefaultRootValidity)
	}
	if got := inter.NotAfter.Sub(inter.NotBefore); got != DefaultIntermediateValidity {
		t.Errorf("intermediate validity = %v, want %v", got, DefaultIntermediateValidity)
	}
	if !root.NotBefore.Equal(testNow.Add(-time.Hour)) {
		t.Errorf("root NotBefore = %v, want injected clock - 1h", root.NotBefore)
	}
	if got := root.Subject.Organization; !slices.Equal(got, []string{DefaultOrganization}) {
		t.Errorf("root O = %v", got)
	}
	if !bytes.Equal(inter.AuthorityKeyId, root.SubjectKeyId) || len(inter.SubjectKeyId) == 0 {
		t.Errorf("intermediate AKI/SKI wrong")
	}

	pemFromDisk, err := ReadRootPEM(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pemFromDisk, ca.RootPEM()) {
		t.Errorf("ReadRootPEM differs from RootPEM")
	}

	// Reload: same certificates, nothing rewritten.
	before := readAll(t, dir)
	ca2, err := LoadOrCreate(dir, Options{Now: fixedClock})
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !ca2.Root().Equal(root) || !ca2.Intermediate().Equal(inter) {
		t.Errorf("reload yields different certificates")
	}
	if !bytes.Equal(ca2.RootPEM(), ca.RootPEM()) || !bytes.Equal(ca2.IntermediatePEM(), ca.IntermediatePEM()) {
		t.Errorf("reload yields different PEM")
	}
	if after := readAll(t, dir); !maps.Equal(before, after) {
		t.Errorf("reload modified CA files")
	}
}

func TestOptionsApplied(t *testing.T) {
	ca, _ := newTestCA(t, Options{
		RootValidity:         48 * time.Hour,
		IntermediateValidity: 72 * time.Hour, // longer than root: clamped
		Organization:         "Example Corp",
	})
	if got := ca.Root().NotAfter.Sub(ca.Root().NotBefore); got != 48*time.Hour {
		t.Errorf("root validity = %v", got)
	}
	if !ca.Intermediate().NotAfter.Equal(ca.Root().NotAfter) {
		t.Errorf("intermediate NotAfter %v not clamped to root %v", ca.Intermediate().NotAfter, ca.Root().NotAfter)
	}
	if got := ca.Intermediate().Subject.Organization; !slices.Equal(got, []string{"Example Corp"}) {
		t.Errorf("intermediate O = %v", got)
	}
}

func TestLoadOrCreatePartial(t *testing.T) {
	for _, missing := range [][]string{
		{RootCertFile},
		{IntermediateCertFile},
		{IntermediateKeyFile},
		{RootCertFile, RootKeyFile},
		{IntermediateCertFile, IntermediateKeyFile, RootKeyFile},
		{RootCertFile, IntermediateCertFile, IntermediateKeyFile}, // the root key alone
		{RootKeyFile, IntermediateKeyFile},
	} {
		t.Run(filepath.Join(missing...), func(t *testing.T) {
			_, dir := newTestCA(t, Options{})
			for _, name := range missing {
				if err := os.Remove(filepath.Join(dir, name)); err != nil {
					t.Fatal(err)
				}
			}
			before := readAll(t, dir)
			_, err := LoadOrCreate(dir, Options{})
			if !errors.Is(err, ErrPartialCA) {
				t.Fatalf("err = %v, want ErrPartialCA", err)
			}
			if after := readAll(t, dir); !maps.Equal(before, after) {
				t.Errorf("partial directory was modified")
			}
		})
	}
}

func TestLoadInvalid(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mangle func(t *testing.T, dir string)
	}{
		{"swapped keys", func(t *testing.T, dir string) {
			rk := readFile(t, dir, RootKeyFile)
			ik := readFile(t, dir, IntermediateKeyFile)
			writeFile(t, dir, RootKeyFile, ik)
			writeFile(t, dir, IntermediateKeyFile, rk)
		}},
		{"garbage certificate", func(t *testing.T, dir string) {
			writeFile(t, dir, IntermediateCertFile, []byte("not pem"))
		}},
		{"root key of another CA", func(t *testing.T, dir string) {
			_, other := newTestCA(t, Options{})
			writeFile(t, dir, RootKeyFile, readFile(t, other, RootKeyFile))
		}},
		{"key is a certificate", func(t *testing.T, dir string) {
			writeFile(t, dir, RootKeyFile, readFile(t, dir, RootCertFile))
		}},
		{"intermediate from another CA", func(t *testing.T, dir string) {
			_, other := newTestCA(t, Options{})
			writeFile(t, dir, IntermediateCertFile, readFile(t, other, IntermediateCertFile))
			writeFile(t, dir, IntermediateKeyFile, readFile(t, other, IntermediateKeyFile))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, dir := newTestCA(t, Options{})
			tc.mangle(t, dir)
			_, err := LoadOrCreate(dir, Options{})
			if !errors.Is(err, ErrInvalidCA) {
				t.Fatalf("err = %v, want ErrInvalidCA", err)
			}
		})
	}
}

func TestReadRootPEMMissing(t *testing.T) {
	_, err := ReadRootPEM(t.TempDir())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}

// TestCACertificateLints pins the zlint findings on the CA certificates
// themselves. They are CA-only rules that a private, offline root cannot
// meet as created (no country in the subject, no published root CRL/AIA
// URL at creation time); the set must not grow unnoticed.
func TestCACertificateLints(t *testing.T) {
	ca, _ := newTestCA(t, Options{})
	for _, tc := range []struct {
		name string
		cert *x509.Certificate
		want []string
	}{
		{"root", ca.Root(), []string{"e_ca_country_name_missing"}},
		{"intermediate", ca.Intermediate(), []string{
			"e_ca_country_name_missing",
			"e_sub_ca_crl_distribution_points_missing",
			"w_sub_ca_aia_missing",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := certlint.Lint(tc.cert.Raw)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range r.Findings {
				got = append(got, f.Lint)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings = %v, want %v", r.Findings, tc.want)
			}
		})
	}
}

func readAll(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, name := range allFiles {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			m[name] = string(b)
		}
	}
	return m
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLoadUnreadableFileNamesItOnce: a CA file that cannot be read (here a
// directory where the intermediate key belongs; permission denied is the
// same path) is named once in the error, which was "local CA: read PATH:
// read PATH: is a directory" (os.ReadFile's *fs.PathError named it again).
func TestLoadUnreadableFileNamesItOnce(t *testing.T) {
	_, dir := newTestCA(t, Options{})
	key := filepath.Join(dir, IntermediateKeyFile)
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(key, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreate(dir, Options{Now: fixedClock})
	if err == nil {
		t.Fatal("LoadOrCreate read a directory as the intermediate key")
	}
	if got := strings.Count(err.Error(), key); got != 1 {
		t.Errorf("err = %q names %s %d times, want once", err, key, got)
	}
	if want := "local CA: read " + key + ": is a directory"; !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q, want it to contain %q", err, want)
	}
}
