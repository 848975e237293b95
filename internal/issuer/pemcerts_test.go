package issuer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestParsePEMCertificates: certificates in order, other blocks skipped,
// none is an empty slice without error, a block that does not parse is
// an error naming its position.
func TestParsePEMCertificates(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert := func(cn string) []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	other := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1, 2, 3}})
	var b []byte
	b = append(b, cert("leaf")...)
	b = append(b, other...)
	b = append(b, cert("ca")...)
	got, err := ParsePEMCertificates(b)
	if err != nil || len(got) != 2 || got[0].Subject.CommonName != "leaf" || got[1].Subject.CommonName != "ca" {
		t.Fatalf("two certificates and a key: %d, %v; want leaf then ca", len(got), err)
	}
	if got, err := ParsePEMCertificates(append([]byte("text\n"), other...)); err != nil || len(got) != 0 {
		t.Errorf("no certificate: %d, %v; want none and no error", len(got), err)
	}
	bad := append(cert("leaf"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x00}})...)
	if _, err := ParsePEMCertificates(bad); err == nil || !strings.HasPrefix(err.Error(), "certificate 2: ") {
		t.Errorf("second block unparsable: %v; want an error naming certificate 2", err)
	}
}
