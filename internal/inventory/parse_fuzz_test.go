package inventory

import (
	"bytes"
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
	"unicode/utf8"

	"github.com/smallstep/pkcs7"
)

// fuzzCert returns a self-signed certificate for name, for seeds.
func fuzzCert(f *testing.F, name string) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()),
		Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}, NotBefore: now, NotAfter: now.Add(time.Hour)},
		&x509.Certificate{Subject: pkix.Name{CommonName: "Fuzz Root"}}, &key.PublicKey, key)
	if err != nil {
		f.Fatal(err)
	}
	return der
}

// pemBlockBytes returns the contents of every PEM block encoding/pem
// decodes in data.
func pemBlockBytes(data []byte) [][]byte {
	var out [][]byte
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return out
		}
		out = append(out, b.Bytes)
	}
}

// FuzzParseCertificates checks the inventory import parser on arbitrary
// file contents: it never panics; each certificate it returns is one of
// the input (its DER is in the file, or in one of the file's PEM blocks,
// PKCS#7 bundles included); it returns certificates or an error, whose
// message is one line of readable text of bounded length; a file that a
// directory import skips as text without a PEM block holds no
// certificate; and the certificates it returns read back the same when
// written as a PEM bundle, or one alone as DER.
func FuzzParseCertificates(f *testing.F) {
	a, b := fuzzCert(f, "a.fuzz.test"), fuzzCert(f, "b.fuzz.test")
	pemA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a})
	pemB := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b})
	bundle, err := pkcs7.DegenerateCertificate(append(append([]byte{}, a...), b...))
	if err != nil {
		f.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	csrDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"a.fuzz.test"}}, key)
	aux := []byte{0x30, 0x0c, 0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01}
	for _, seed := range [][]byte{
		a, bundle, pemA, append(append([]byte("# bundle\n"), pemA...), pemB...),
		append(append([]byte{}, pemA...), "subject=b.fuzz.test\n"...),
		pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: bundle}),
		pem.EncodeToMemory(&pem.Block{Type: "CMS", Bytes: bundle}),
		pem.EncodeToMemory(&pem.Block{Type: "X509 CERTIFICATE", Bytes: b}),
		pem.EncodeToMemory(&pem.Block{Type: "TRUSTED CERTIFICATE", Bytes: append(append([]byte{}, a...), aux...)}),
		pem.EncodeToMemory(&pem.Block{Type: "TRUSTED CERTIFICATE", Bytes: append(append([]byte{}, a...), 0x05, 0x00)}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}),
		append(append([]byte{}, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...), pemA...),
		keyDER, csrDER, a[:len(a)/2], pemA[:len(pemA)/2],
		bytes.Replace(pemA, []byte("-----END CERTIFICATE-----"), []byte("-----END PUBLIC KEY-----"), 1),
		[]byte("This directory holds your certificates.\n"), []byte("{\"domain\": \"a.fuzz.test\"}"),
		[]byte(" \n"), nil, []byte{0x30, 0x03, 0x02, 0x01, 0x01},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCertificates(data)
		if err != nil {
			if len(certs) > 0 {
				t.Fatalf("error %v with %d certificates", err, len(certs))
			}
			msg := err.Error()
			if msg == "" || strings.ContainsAny(msg, "\r\n") || !utf8.ValidString(msg) || len(msg) > 400 {
				t.Fatalf("unclear error %q", msg)
			}
		} else if len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
		blocks := pemBlockBytes(data)
		for _, c := range certs {
			found := bytes.Contains(data, c.Raw)
			for _, b := range blocks {
				found = found || bytes.Contains(b, c.Raw)
			}
			if !found {
				t.Fatalf("certificate %s (serial %x) is not in the input", c.Subject, c.SerialNumber)
			}
		}
		if isTextWithoutPEM(data) && err == nil {
			t.Fatalf("a file skipped as text holds %d certificates", len(certs))
		}
		// Round trips: the certificates found, written as a PEM bundle
		// (as the inventory exports them), or one alone as DER, are read
		// back as the same certificates.
		var bundle []byte
		for _, c := range certs {
			bundle = append(bundle, encodePEM(c.Raw)...)
			back, err := ParseCertificates(c.Raw)
			if err != nil || len(back) != 1 || !bytes.Equal(back[0].Raw, c.Raw) {
				t.Fatalf("certificate %s as DER read back as %d certificates, %v", c.Subject, len(back), err)
			}
		}
		if len(certs) > 0 {
			back, err := ParseCertificates(bundle)
			if err != nil || len(back) != len(certs) {
				t.Fatalf("%d certificates as PEM read back as %d, %v", len(certs), len(back), err)
			}
			for i := range back {
				if !bytes.Equal(back[i].Raw, certs[i].Raw) {
					t.Fatalf("PEM certificate %d read back as another", i+1)
				}
			}
		}
	})
}
