package local

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/certlint"
)

// caCertLintExceptions are the zlint findings accepted on the CA
// certificates certgate creates, with the reason.
var caCertLintExceptions = map[string]string{
	// BR §7.1.2.10.2 asks a CA certificate's subject for the countryName
	// of the CA's place of business; certgate does not know it, and a
	// made-up one would be a false statement in the certificate.
	"e_ca_country_name_missing": "private CA: its country is not known to certgate",
}

// TestNewIntermediateLintsClean: a newly created intermediate carries the
// root's CRL as its CRL distribution point and the root certificate as
// its AIA caIssuers (BR §7.1.2.10.3, §7.1.2.11.2), and zlint finds nothing
// on it and on the root but the accepted exceptions; the root's CRL it
// names is signed by the root, lint-clean, valid RootCRLValidity, and
// written to RootCRLFile.
func TestNewIntermediateLintsClean(t *testing.T) {
	const rootURL, rootCRLURL = "http://ca.example.test:80/pki/root.crt", "http://ca.example.test:80/pki/root.crl"
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := LoadOrCreate(dir, Options{RootIssuerURL: rootURL, RootCRLURL: rootCRLURL})
	if err != nil {
		t.Fatal(err)
	}
	inter := ca.Intermediate()
	if !slices.Equal(inter.CRLDistributionPoints, []string{rootCRLURL}) {
		t.Errorf("intermediate CRL distribution points %q, want %q", inter.CRLDistributionPoints, rootCRLURL)
	}
	if !slices.Equal(inter.IssuingCertificateURL, []string{rootURL}) {
		t.Errorf("intermediate AIA caIssuers %q, want %q", inter.IssuingCertificateURL, rootURL)
	}
	if len(inter.OCSPServer) != 0 {
		t.Errorf("intermediate names OCSP %q, which the root does not serve", inter.OCSPServer)
	}
	for name, der := range map[string][]byte{"root": ca.Root().Raw, "intermediate": inter.Raw} {
		res, err := certlint.Lint(der)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range res.Findings {
			if _, ok := caCertLintExceptions[f.Lint]; !ok {
				t.Errorf("%s: %s", name, f)
			}
		}
	}

	der, err := ca.RootCRL()
	if err != nil || der == nil {
		t.Fatalf("RootCRL: %v, %d bytes", err, len(der))
	}
	if err := certlint.CheckCACRL(der); err != nil {
		t.Errorf("root CRL: %v", err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca.Root()); err != nil {
		t.Errorf("root CRL not signed by the root: %v", err)
	}
	if got := crl.NextUpdate.Sub(crl.ThisUpdate); got != RootCRLValidity {
		t.Errorf("root CRL validity %v, want %v", got, RootCRLValidity)
	}
	if len(crl.RevokedCertificateEntries) != 0 || !bytes.Equal(crl.AuthorityKeyId, ca.Root().SubjectKeyId) {
		t.Errorf("root CRL: %d entries, AKI %x (root SKI %x)", len(crl.RevokedCertificateEntries), crl.AuthorityKeyId, ca.Root().SubjectKeyId)
	}
	if file, err := os.ReadFile(filepath.Join(dir, RootCRLFile)); err != nil || !bytes.Equal(file, der) {
		t.Errorf("%s does not hold the root CRL (%v)", RootCRLFile, err)
	}
}

// TestRootCRLRenewed: the root CRL is signed anew, with a greater number,
// once half its validity has passed, while the CA directory holds the
// root key; loading again within that half serves the same CRL. Without
// the root key the CRL of RootCRLFile is served as it is, and without
// either there is none.
func TestRootCRLRenewed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	now := time.Now()
	clock := func() time.Time { return now }
	ca, err := LoadOrCreate(dir, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	first, err := ca.RootCRL()
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(RootCRLValidity / 4)
	again, err := LoadOrCreate(dir, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if der, err := again.RootCRL(); err != nil || !bytes.Equal(der, first) {
		t.Fatalf("a quarter of the validity later: a new root CRL (%v)", err)
	}
	now = now.Add(RootCRLValidity / 2)
	second, err := ca.RootCRL()
	if err != nil || bytes.Equal(second, first) {
		t.Fatalf("three quarters of the validity later: the same root CRL (%v)", err)
	}
	c1, _ := x509.ParseRevocationList(first)
	c2, err := x509.ParseRevocationList(second)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Number.Cmp(c1.Number) <= 0 || !c2.ThisUpdate.After(c1.ThisUpdate) {
		t.Errorf("renewed root CRL: number %v after %v, thisUpdate %v after %v", c2.Number, c1.Number, c2.ThisUpdate, c1.ThisUpdate)
	}

	if err := os.Remove(filepath.Join(dir, RootKeyFile)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(RootCRLValidity * 3 / 4)
	offline, err := LoadOrCreate(dir, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if der, err := offline.RootCRL(); err != nil || !bytes.Equal(der, second) {
		t.Errorf("root key offline: not the root CRL of %s (%v)", RootCRLFile, err)
	}
	if err := os.Remove(filepath.Join(dir, RootCRLFile)); err != nil {
		t.Fatal(err)
	}
	none, err := LoadOrCreate(dir, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if der, err := none.RootCRL(); err != nil || der != nil {
		t.Errorf("no root key, no %s: RootCRL %d bytes, %v; want none", RootCRLFile, len(der), err)
	}
}

// TestCACountryLintsClean: a CA created with Options.Country (and
// Organization) carries C= and O= in the subjects of its root and
// intermediate, and zlint finds nothing at all on either: no
// e_ca_country_name_missing, the exception a CA without a country needs
// (BR §7.1.2.10.2). The former code had no way to give the country.
func TestCACountryLintsClean(t *testing.T) {
	const rootURL, rootCRLURL = "http://ca.example.test:80/pki/root.crt", "http://ca.example.test:80/pki/root.crl"
	ca, err := LoadOrCreate(filepath.Join(t.TempDir(), "ca"), Options{Country: "DE", Organization: "Example Corp",
		RootIssuerURL: rootURL, RootCRLURL: rootCRLURL})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*x509.Certificate{"root": ca.Root(), "intermediate": ca.Intermediate()} {
		if !slices.Equal(c.Subject.Country, []string{"DE"}) || !slices.Equal(c.Subject.Organization, []string{"Example Corp"}) {
			t.Errorf("%s subject %q, want C=DE, O=Example Corp", name, c.Subject)
		}
		res, err := certlint.Lint(c.Raw)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range res.Findings {
			t.Errorf("%s: %s", name, f)
		}
	}
}
