package wfe_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	cgacme "github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/testenv"
)

// TestRevokeImportedCertificateOfThisCA: ACME revokeCert (RFC 8555 §7.6)
// revokes a certificate the server's CA signed that entered the inventory
// by import as it revokes one issued here: signed with the certificate's
// key (for keyCompromise, whatever was asked), or by an account with valid
// authorizations for all its names; an account without them is
// unauthorized. The imported certificate is stored under
// "SERIAL-FINGERPRINT16" here (another CA's certificate held its serial),
// which the lookup finds. A certificate of another CA is still refused,
// with a problem that says so and names its issuer. The former code
// refused every imported certificate: "this server did not issue that
// certificate".
func TestRevokeImportedCertificateOfThisCA(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := clTestCtx(t)
	inv := inventory.New(env.Server.Store(), nil)
	ca := env.Server.CA()
	byKey, byKeyKey := caLeaf(t, ca, "imported-bykey.example.test")
	byAccount, _ := caLeaf(t, ca, "imported-byaccount.example.test")
	foreign, foreignKey := foreignLeafSerial(t, "imported-foreign.example.test", byAccount.SerialNumber)
	for _, c := range []*x509.Certificate{foreign, byKey, byAccount} { // byAccount is keyed SERIAL-FINGERPRINT16
		if res, err := inv.ImportCertificates(ctx, []*x509.Certificate{c}); err != nil || len(res.Imported) != 1 {
			t.Fatalf("import %s: %+v, %v", c.Subject.CommonName, res, err)
		}
	}
	status := func(c *x509.Certificate) (string, string) {
		t.Helper()
		fp := sha256.Sum256(c.Raw)
		got, err := inv.Get(ctx, hex.EncodeToString(fp[:]))
		if err != nil {
			t.Fatal(err)
		}
		return got.Status, got.RevocationReason
	}

	// Signed with the certificate's key.
	c, _ := clRegistered(t, env, nil)
	if err := c.RevokeCert(ctx, byKeyKey, byKey.Raw, acme.CRLReasonSuperseded); err != nil {
		t.Fatalf("revocation of an imported certificate of this CA signed with its key: %v", err)
	}
	if st, reason := status(byKey); st != "revoked" || reason != "keyCompromise" {
		t.Errorf("after a revocation signed with its key: %s (%s), want revoked (keyCompromise)", st, reason)
	}

	// By an account: only with authorizations for all its names.
	err := c.RevokeCert(ctx, nil, byAccount.Raw, acme.CRLReasonCessationOfOperation)
	clWantACMEError(t, err, http.StatusForbidden, cgacme.Unauthorized)
	if st, _ := status(byAccount); st != "valid" {
		t.Fatalf("after a refused revocation: %s", st)
	}
	clReadyOrder(t, env, c, acme.DomainIDs("imported-byaccount.example.test"), "http-01")
	if err := c.RevokeCert(ctx, nil, byAccount.Raw, acme.CRLReasonCessationOfOperation); err != nil {
		t.Fatalf("revocation by an account with authorizations for its names: %v", err)
	}
	if st, reason := status(byAccount); st != "revoked" || reason != "cessationOfOperation" {
		t.Errorf("after the account's revocation: %s (%s), want revoked (cessationOfOperation)", st, reason)
	}

	// Another CA's certificate: refused, saying so.
	err = c.RevokeCert(ctx, foreignKey, foreign.Raw, acme.CRLReasonKeyCompromise)
	if e := clWantACMEError(t, err, http.StatusNotFound, cgacme.Malformed); e != nil && !strings.Contains(e.Detail, `did not issue that certificate (its issuer is "CN=Foreign CA")`) {
		t.Errorf("another CA's certificate: detail %q, want it to say another CA issued it", e.Detail)
	}
}

// caLeaf is a certificate for name that ca's intermediate signed, with its
// key.
func caLeaf(t *testing.T, ca *local.CA, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key := clEcKey(t, elliptic.P256())
	serial, err := local.RandomSerial()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	der, err := ca.SignLeaf(context.Background(), local.LeafRequest{Serial: serial, PublicKey: key.Public(), DNSNames: []string{name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}
