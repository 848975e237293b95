package wfe_test

import (
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"net/http"
	"os"
	"testing"

	"golang.org/x/crypto/acme"

	cgacme "github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/testenv"
)

// TestRevokeListenerCertificate: the certificate the built-in CA issued
// for certgate's own HTTPS listener (inventory source listener) is a
// certificate of this CA, so ACME revokeCert (RFC 8555 §7.6) treats it as
// one issued here: an account without authorizations for its names is
// unauthorized, a request signed with the certificate's key revokes it for
// keyCompromise. The former code answered both with 404 "this server has
// no record of that certificate", though the inventory, the CRL and OCSP
// knew it.
func TestRevokeListenerCertificate(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := clTestCtx(t)
	b, err := os.ReadFile(server.ListenerCertFile(env.Config.Data))
	if err != nil {
		t.Fatal(err)
	}
	kp, err := tls.X509KeyPair(b, b)
	if err != nil {
		t.Fatal(err)
	}
	leaf := kp.Leaf
	fp := sha256.Sum256(leaf.Raw)
	inv := inventory.New(env.Server.Store(), nil)
	rec, err := inv.Get(ctx, hex.EncodeToString(fp[:]))
	if err != nil || rec.Source != "listener" {
		t.Fatalf("the listener certificate's record: %+v, %v", rec, err)
	}

	c, _ := clRegistered(t, env, nil)
	err = c.RevokeCert(ctx, nil, leaf.Raw, acme.CRLReasonCessationOfOperation)
	clWantACMEError(t, err, http.StatusForbidden, cgacme.Unauthorized)

	if err := c.RevokeCert(ctx, kp.PrivateKey.(crypto.Signer), leaf.Raw, acme.CRLReasonUnspecified); err != nil {
		t.Fatalf("revocation of the listener certificate signed with its key: %v", err)
	}
	got, err := inv.Get(ctx, hex.EncodeToString(fp[:]))
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "revoked" || got.RevocationReason != "keyCompromise" {
		t.Errorf("after a revocation signed with its key: %s (%s), want revoked (keyCompromise)", got.Status, got.RevocationReason)
	}
}
