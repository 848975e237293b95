package inventory_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/inventory"
)

// TestParseConcatenatedDER: certificates in DER one after the other (a
// chain some tools write so) are each parsed, as a PEM bundle's are; they
// were rejected as "bad DER certificate: x509: trailing data".
func TestParseConcatenatedDER(t *testing.T) {
	p := newTestPKI(t)
	leaf := p.leaf(0, "der.example.com")
	cs, err := inventory.ParseCertificates(slices.Concat(leaf.Raw, p.inter.Raw, p.root.Raw))
	if err != nil || len(cs) != 3 || !cs[0].Equal(leaf) || !cs[1].Equal(p.inter) || !cs[2].Equal(p.root) {
		t.Fatalf("ParseCertificates of three DER certificates: %d certificates, %v", len(cs), err)
	}
}

// TestParseErrorsWithoutGoPrefix: a damaged certificate, in DER or in a PEM
// block, is named without crypto/x509's "x509: " prefix.
func TestParseErrorsWithoutGoPrefix(t *testing.T) {
	p := newTestPKI(t)
	leaf := p.leaf(0, "junk.example.com")
	for name, data := range map[string][]byte{
		"DER with trailing bytes": slices.Concat(leaf.Raw, []byte("junk")),
		"truncated DER":           leaf.Raw[:len(leaf.Raw)-10],
		"bad PEM certificate":     []byte("-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n"),
	} {
		_, err := inventory.ParseCertificates(data)
		if err == nil || strings.Contains(err.Error(), "x509:") {
			t.Errorf("%s: %v, want an error without \"x509:\"", name, err)
		}
	}
	_, err := inventory.ParseCertificates(slices.Concat(leaf.Raw, []byte("junk")))
	if want := "bad DER certificate: other data after the certificate (trailing data)"; err == nil || err.Error() != want {
		t.Errorf("trailing bytes: %v, want %s", err, want)
	}
}

// TestParsePKCS12SaysHowToImport: a PKCS#12 file (.p12/.pfx, as Windows
// and Java tools export a certificate with its key) is rejected with what
// to do instead; it was "not a PEM, DER or PKCS#7 certificate file".
func TestParsePKCS12SaysHowToImport(t *testing.T) {
	// openssl pkcs12 -export -in leaf.pem -inkey leaf.key -passout pass:
	// of a certificate with a P-256 key, read from testdata.
	data, err := os.ReadFile(filepath.Join("testdata", "leaf.p12"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = inventory.ParseCertificates(data)
	want := "a PKCS#12 (.p12/.pfx) file, which is not read: export its certificates as PEM (openssl pkcs12 -in FILE -nokeys -out FILE.pem) and import that"
	if err == nil || err.Error() != want {
		t.Fatalf("PKCS#12: %v, want %s", err, want)
	}
}
