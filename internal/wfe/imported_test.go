package wfe_test

// Certificates of another CA imported into the inventory (certgate cert
// import): ACME must not revoke them, nor answer renewalInfo or accept
// them in "replaces", as if this server had issued them. (Imported
// certificates of this server's CA are revoked as issued ones:
// imported_ours_test.go.)

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	cgacme "github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/testenv"
)

// foreignLeaf makes a certificate for name under a CA of its own (not the
// server's), with an authority key identifier, and returns it with its key.
func foreignLeaf(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	return foreignLeafSerial(t, name, big.NewInt(0x0f0e0d0c0b0a))
}

// foreignLeafSerial is foreignLeaf with serial.
func foreignLeafSerial(t *testing.T, name string, serial *big.Int) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	caKey := clEcKey(t, elliptic.P256())
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Foreign CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, SubjectKeyId: []byte("foreign-ca-key-id-01")}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key := clEcKey(t, elliptic.P256())
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(20 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return leaf, key
}

func TestImportedCertificateNotIssuedHere(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := clTestCtx(t)
	name := "imported.example.test"
	leaf, leafKey := foreignLeaf(t, name)
	inv := inventory.New(env.Server.Store(), nil)
	if res, err := inv.ImportCertificates(ctx, []*x509.Certificate{leaf}); err != nil || len(res.Imported) != 1 {
		t.Fatalf("import: %+v, %v", res, err)
	}
	serial := leaf.SerialNumber.Text(16)

	// An account that holds a valid authorization for the certificate's
	// only name (it got a certificate of its own for it).
	key := clEcKey(t, elliptic.P256())
	c, _ := clRegistered(t, env, key)
	clIssue(t, env, c, acme.DomainIDs(name), "http-01")

	stillValid := func(what string) {
		t.Helper()
		rec, err := inv.Get(ctx, serial)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status != "valid" {
			t.Fatalf("after %s the imported certificate is %s, want valid", what, rec.Status)
		}
	}

	err := c.RevokeCert(ctx, leafKey, leaf.Raw, acme.CRLReasonKeyCompromise)
	clWantACMEError(t, err, http.StatusNotFound, cgacme.Malformed)
	stillValid("revocation signed by its key")

	err = c.RevokeCert(ctx, nil, leaf.Raw, acme.CRLReasonKeyCompromise)
	clWantACMEError(t, err, http.StatusNotFound, cgacme.Malformed)
	stillValid("revocation by an account with authorizations for its names")

	certID := ariCertID(leaf)
	if r := ariGet(t, env, ariRenewalInfoURL(t, env), certID); r.status != http.StatusNotFound || r.problem().Type != cgacme.Malformed {
		t.Errorf("renewalInfo of an imported certificate: %s, want 404 malformed", r)
	}

	rc := clNewRawClient(t, env, key) // the same account as c
	rc.register()
	r := rc.post(rc.dir.NewOrder, map[string]any{"identifiers": []cgacme.Identifier{{Type: "dns", Value: name}}, "replaces": certID})
	if r.status != http.StatusBadRequest || r.problem().Type != cgacme.Malformed {
		t.Errorf("newOrder replacing an imported certificate: %s, want 400 malformed (not issued here)", r)
	}
}
