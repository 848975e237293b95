package server_test

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/certgate/certgate/internal/testenv"
)

// TestIntermediateNamesRootCRL: the intermediate of a CA the server
// creates names the root's CRL as its CRL distribution point and the root
// certificate as its AIA caIssuers (CA/B Forum BR §7.1.2.10.3,
// §7.1.2.11.2), and both URLs answer over plain HTTP: the root in DER
// (application/pkix-cert) and a CRL the root signed (application/pkix-crl).
func TestIntermediateNamesRootCRL(t *testing.T) {
	env := testenv.New(t)
	base := "http://" + env.Server.Addr().String()
	get := func(path, wantType string) []byte {
		t.Helper()
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != wantType {
			t.Fatalf("GET %s = %d %s %q, want 200 %s", path, res.StatusCode, res.Header.Get("Content-Type"), body, wantType)
		}
		return body
	}
	inter, err := x509.ParseCertificate(get("/pki/intermediate.crt", "application/pkix-cert"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(get("/pki/root.pem", "application/x-pem-file"))
	if blk == nil {
		t.Fatal("root.pem: no PEM block")
	}
	root, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(inter.CRLDistributionPoints) != 1 || len(inter.IssuingCertificateURL) != 1 {
		t.Fatalf("intermediate: CRL distribution points %q, AIA caIssuers %q; want one each", inter.CRLDistributionPoints, inter.IssuingCertificateURL)
	}
	crlURL, err := url.Parse(inter.CRLDistributionPoints[0])
	if err != nil || crlURL.Scheme != "http" || crlURL.Path != "/pki/root.crl" {
		t.Fatalf("intermediate CRL distribution point %q, want http://HOST:PORT/pki/root.crl", inter.CRLDistributionPoints[0])
	}
	rootURL, err := url.Parse(inter.IssuingCertificateURL[0])
	if err != nil || rootURL.Scheme != "http" || rootURL.Path != "/pki/root.crt" {
		t.Fatalf("intermediate AIA caIssuers %q, want http://HOST:PORT/pki/root.crt", inter.IssuingCertificateURL[0])
	}
	if der := get(rootURL.Path, "application/pkix-cert"); string(der) != string(root.Raw) {
		t.Errorf("GET %s is not the root certificate", rootURL.Path)
	}
	crl, err := x509.ParseRevocationList(get(crlURL.Path, "application/pkix-crl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(root); err != nil {
		t.Errorf("GET %s: not a CRL the root signed: %v", crlURL.Path, err)
	}
}

// TestCACountryFromConfig: ca-country reaches the CA the server creates:
// its root and intermediate carry C= (BR §7.1.2.10.2). The former code had
// no such setting: a CA it created had no country.
func TestCACountryFromConfig(t *testing.T) {
	env := testenv.NewWithOptions(t, testenv.Options{CACountry: "DE"})
	ca := env.Server.CA()
	for name, c := range map[string]*x509.Certificate{"root": ca.Root(), "intermediate": ca.Intermediate()} {
		if len(c.Subject.Country) != 1 || c.Subject.Country[0] != "DE" {
			t.Errorf("%s subject %q, want C=DE", name, c.Subject)
		}
	}
}
