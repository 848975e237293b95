package inventory_test

import (
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
