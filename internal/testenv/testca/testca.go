// Package testca makes CA material for tests: the bundle of an
// enterprise's own CA, made outside certgate, as `certgate ca import`
// takes it. It depends on the standard library only, so that the tests of
// any package (internal/issuer/local's among them) can use it.
package testca

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// Bundle returns a bundle as `certgate ca export` writes it (local.BundleOrder:
// root certificate, root key, intermediate certificate, intermediate key,
// keys as PKCS#8) of a new self-signed root with rootKey ("Example Corp
// Root", 10 years) and an intermediate with interKey signed by it ("Example
// Corp Issuing CA", 5 years, pathLen 0), both valid from a day before now.
// The intermediate has the profile certgate gives its own: EKU serverAuth
// and clientAuth, certificate policy 2.23.140.1.2.1 (domain validated).
func Bundle(t testing.TB, now time.Time, rootKey, interKey crypto.Signer) []byte {
	t.Helper()
	return BundleEKUs(t, now, rootKey, interKey, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})
}

// BundleEKUs is Bundle with an intermediate whose EKU extension holds
// ekus, or that has none when ekus is empty (an enterprise issuing CA
// for every purpose, which RFC 5280 §4.2.1.12 allows).
func BundleEKUs(t testing.TB, now time.Time, rootKey, interKey crypto.Signer, ekus []x509.ExtKeyUsage) []byte {
	t.Helper()
	return BundleEdited(t, now, rootKey, interKey, func(_, inter *x509.Certificate) { inter.ExtKeyUsage = ekus })
}

// BundleEdited is Bundle with the root's and the intermediate's
// templates changed by edit before they are signed (its key usage,
// validity or name constraints, say): the CA certificates of an
// enterprise's CA that certgate must refuse, or accept.
func BundleEdited(t testing.TB, now time.Time, rootKey, interKey crypto.Signer, edit func(root, inter *x509.Certificate)) []byte {
	t.Helper()
	notBefore := now.Add(-24 * time.Hour)
	rootTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"Example Corp"}, CommonName: "Example Corp Root"},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	dv, err := x509.OIDFromInts([]uint64{2, 23, 140, 1, 2, 1})
	if err != nil {
		t.Fatal(err)
	}
	interTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{Organization: []string{"Example Corp"}, CommonName: "Example Corp Issuing CA"},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		Policies:              []x509.OID{dv},
	}
	if edit != nil {
		edit(rootTmpl, interTmpl)
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		t.Fatal(err)
	}
	interDER, err := x509.CreateCertificate(rand.Reader, interTmpl, root, interKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, blk := range []struct {
		typ string
		der []byte
		key crypto.Signer
	}{{"CERTIFICATE", rootDER, nil}, {"PRIVATE KEY", nil, rootKey}, {"CERTIFICATE", interDER, nil}, {"PRIVATE KEY", nil, interKey}} {
		der := blk.der
		if blk.key != nil {
			if der, err = x509.MarshalPKCS8PrivateKey(blk.key); err != nil {
				t.Fatal(err)
			}
		}
		b.Write(pem.EncodeToMemory(&pem.Block{Type: blk.typ, Bytes: der}))
	}
	return b.Bytes()
}
