package inventory_test

import (
	"bytes"
	"encoding/asn1"
	"encoding/pem"
	"testing"

	"github.com/certgate/certgate/internal/inventory"
)

// TestParseTrustedCertificate parses OpenSSL's TRUSTED CERTIFICATE PEM
// blocks (openssl x509 -trustout / -addtrust, as in Fedora's
// ca-bundle.trust.crt): the certificate's DER followed by its auxiliary
// trust settings (X509_CERT_AUX). The certificate is returned; trailing
// data after the auxiliary structure, or a block whose first element is
// not a certificate, is still an error.
func TestParseTrustedCertificate(t *testing.T) {
	p := newTestPKI(t)
	leaf := p.leaf(0, "trusted.example.com")
	aux, err := asn1.Marshal(struct {
		Trust []asn1.ObjectIdentifier
	}{[]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 1}}})
	must(t, err)

	block := append(append([]byte{}, leaf.Raw...), aux...)
	certs, err := inventory.ParseCertificates(pem.EncodeToMemory(&pem.Block{Type: "TRUSTED CERTIFICATE", Bytes: block}))
	if err != nil {
		t.Fatalf("TRUSTED CERTIFICATE with trust settings: %v", err)
	}
	if len(certs) != 1 || !bytes.Equal(certs[0].Raw, leaf.Raw) {
		t.Fatalf("got %d certificates, want the leaf alone", len(certs))
	}

	// Without auxiliary data it is a plain certificate.
	if certs, err := inventory.ParseCertificates(pem.EncodeToMemory(&pem.Block{Type: "TRUSTED CERTIFICATE", Bytes: leaf.Raw})); err != nil || len(certs) != 1 {
		t.Fatalf("TRUSTED CERTIFICATE without trust settings: %d certificates, %v", len(certs), err)
	}

	// Garbage after the trust settings, or trust settings alone, is refused.
	bad := append(append([]byte{}, block...), 0x01, 0x02)
	if _, err := inventory.ParseCertificates(pem.EncodeToMemory(&pem.Block{Type: "TRUSTED CERTIFICATE", Bytes: bad})); err == nil {
		t.Fatal("TRUSTED CERTIFICATE with trailing garbage was accepted")
	}
	if _, err := inventory.ParseCertificates(pem.EncodeToMemory(&pem.Block{Type: "TRUSTED CERTIFICATE", Bytes: aux})); err == nil {
		t.Fatal("TRUSTED CERTIFICATE holding no certificate was accepted")
	}
	// In a CERTIFICATE block, trailing data stays an error.
	if _, err := inventory.ParseCertificates(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block})); err == nil {
		t.Fatal("CERTIFICATE block with trailing data was accepted")
	}
}
