package wfe_test

// A certificate revoked for keyCompromise blocks its public key (CA/B
// Forum BR §6.1.1.3): finalize refuses a CSR with it (badPublicKey, the
// order stays ready), and so do newAccount and keyChange for an account
// key.

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/acme"

	cgacme "github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv"
)

// clFinalizeWith finalizes a new ready order for ids with a CSR of the
// key of is and returns the order's URL and the finalize error.
func clFinalizeWith(t *testing.T, env *testenv.Env, c *acme.Client, ids []acme.AuthzID, is *clIssued) (string, error) {
	t.Helper()
	o := clReadyOrder(t, env, c, ids, "http-01")
	csr, _ := clCsrFor(t, ids, is.key)
	_, _, err := c.CreateOrderCert(clTestCtx(t), o.FinalizeURL, csr, true)
	return o.URI, err
}

// clWantOrderStatus fails t unless the order at url has status want.
func clWantOrderStatus(t *testing.T, c *acme.Client, url, want string) {
	t.Helper()
	o, err := c.GetOrder(clTestCtx(t), url)
	if err != nil {
		t.Fatalf("get order: %v", err)
	}
	if o.Status != want {
		t.Errorf("order status %q, want %q", o.Status, want)
	}
}

// TestKeyCompromiseBlocksKey: after an account-signed revocation for
// keyCompromise (reason 1), a new order finalized with the same key is
// refused with badPublicKey naming the revoked certificate, and the order
// stays ready (a CSR with a new key then issues); the key cannot become
// the key of a new account nor of an existing one (keyChange). A
// revocation signed by the certificate's own key is recorded as
// keyCompromise whatever reason it asks, and blocks the key too; so does a
// keyCompromise revocation of a certificate revoked before as superseded,
// whose reason becomes keyCompromise (its revocation time stays). An
// account-signed revocation for another reason blocks nothing.
func TestKeyCompromiseBlocksKey(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := clTestCtx(t)
	c, _ := clRegistered(t, env, nil)

	t.Run("account-signed keyCompromise", func(t *testing.T) {
		ids := acme.DomainIDs("blocked1.example.test")
		is := clIssue(t, env, c, ids, "http-01")
		if err := c.RevokeCert(ctx, nil, is.chain[0], acme.CRLReasonKeyCompromise); err != nil {
			t.Fatalf("revoke: %v", err)
		}
		url, err := clFinalizeWith(t, env, c, ids, is)
		ae := clWantACMEError(t, err, http.StatusBadRequest, cgacme.BadPublicKey)
		if serial := is.leaf.SerialNumber.Text(16); !strings.Contains(ae.Detail, serial) || !strings.Contains(ae.Detail, "keyCompromise") {
			t.Errorf("detail %q does not name the revoked certificate %s and keyCompromise", ae.Detail, serial)
		}
		clWantOrderStatus(t, c, url, acme.StatusReady)
		// The same order issues with another key.
		o, err := c.GetOrder(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		csr, _ := clCsrFor(t, ids, nil)
		if _, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true); err != nil {
			t.Fatalf("finalize with a new key: %v", err)
		}

		// Account keys: newAccount and keyChange.
		_, err = clNewClient(env, is.key).Register(ctx, &acme.Account{}, acme.AcceptTOS)
		clWantACMEError(t, err, http.StatusBadRequest, cgacme.BadPublicKey)
		other, _ := clRegistered(t, env, nil)
		err = other.AccountKeyRollover(ctx, is.key)
		clWantACMEError(t, err, http.StatusBadRequest, cgacme.BadPublicKey)
		if _, err := other.GetReg(ctx, ""); err != nil {
			t.Errorf("account after a refused key change (old key): %v", err)
		}
	})

	t.Run("certificate-key-signed", func(t *testing.T) {
		ids := acme.DomainIDs("blocked2.example.test")
		is := clIssue(t, env, c, ids, "http-01")
		if err := c.RevokeCert(ctx, is.key, is.chain[0], acme.CRLReasonSuperseded); err != nil {
			t.Fatalf("revoke: %v", err)
		}
		rec, err := env.Server.Store().GetCertificate(context.Background(), is.leaf.SerialNumber.Text(16))
		if err != nil {
			t.Fatal(err)
		}
		if rec.RevocationReason != cgacme.ReasonKeyCompromise {
			t.Errorf("revocation reason %d, want keyCompromise (1): the request proved possession of the key", rec.RevocationReason)
		}
		url, err := clFinalizeWith(t, env, c, ids, is)
		clWantACMEError(t, err, http.StatusBadRequest, cgacme.BadPublicKey)
		clWantOrderStatus(t, c, url, acme.StatusReady)
	})

	t.Run("keyCompromise after superseded", func(t *testing.T) {
		ids := acme.DomainIDs("blocked4.example.test")
		is := clIssue(t, env, c, ids, "http-01")
		serial := is.leaf.SerialNumber.Text(16)
		if err := c.RevokeCert(ctx, nil, is.chain[0], acme.CRLReasonSuperseded); err != nil {
			t.Fatalf("revoke: %v", err)
		}
		first, err := env.Server.Store().GetCertificate(context.Background(), serial)
		if err != nil {
			t.Fatal(err)
		}
		// Raw, as x/crypto/acme takes alreadyRevoked for success.
		rc := clNewRawClient(t, env, is.key)
		r := rc.post(rc.dir.RevokeCert, map[string]any{"certificate": base64.RawURLEncoding.EncodeToString(is.chain[0]), "reason": 1})
		if r.status != http.StatusOK {
			t.Fatalf("keyCompromise revocation of a certificate revoked as superseded: %s, want 200", r)
		}
		rec, err := env.Server.Store().GetCertificate(context.Background(), serial)
		if err != nil {
			t.Fatal(err)
		}
		if rec.RevocationReason != cgacme.ReasonKeyCompromise || !rec.RevokedAt.Equal(first.RevokedAt) {
			t.Errorf("after keyCompromise: reason %d revoked at %v; want 1 at the first revocation's %v", rec.RevocationReason, rec.RevokedAt, first.RevokedAt)
		}
		url, err := clFinalizeWith(t, env, c, ids, is)
		clWantACMEError(t, err, http.StatusBadRequest, cgacme.BadPublicKey)
		clWantOrderStatus(t, c, url, acme.StatusReady)
		r = rc.post(rc.dir.RevokeCert, map[string]any{"certificate": base64.RawURLEncoding.EncodeToString(is.chain[0]), "reason": 1})
		if r.status != http.StatusBadRequest || r.problem().Type != cgacme.AlreadyRevoked {
			t.Errorf("third revocation: %s, want 400 alreadyRevoked", r)
		}
	})

	t.Run("other reason", func(t *testing.T) {
		ids := acme.DomainIDs("blocked3.example.test")
		is := clIssue(t, env, c, ids, "http-01")
		if err := c.RevokeCert(ctx, nil, is.chain[0], acme.CRLReasonSuperseded); err != nil {
			t.Fatalf("revoke: %v", err)
		}
		if _, err := clFinalizeWith(t, env, c, ids, is); err != nil {
			t.Errorf("finalize with the key of a certificate revoked as superseded: %v", err)
		}
	})
}

// TestKeyCompromiseRevokesKeyCertificates: an ACME revocation for
// keyCompromise of one certificate also revokes the account's other
// certificate with the same key (CA/B Forum BR §4.9.1.1), for keyCompromise
// at the same time and with its own audit event, and leaves a certificate
// of another key valid.
func TestKeyCompromiseRevokesKeyCertificates(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := clTestCtx(t)
	c, _ := clRegistered(t, env, nil)
	ids := acme.DomainIDs("samekey.example.test")
	first := clIssue(t, env, c, ids, "http-01")
	url, err := clFinalizeWith(t, env, c, ids, first) // a second certificate of first's key
	if err != nil {
		t.Fatalf("second certificate of the key: %v", err)
	}
	o, err := c.GetOrder(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := c.FetchCert(ctx, o.CertURL, false)
	if err != nil {
		t.Fatal(err)
	}
	second, err := x509.ParseCertificate(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	other := clIssue(t, env, c, acme.DomainIDs("otherkey.example.test"), "http-01")
	if err := c.RevokeCert(ctx, nil, first.chain[0], acme.CRLReasonKeyCompromise); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	st := env.Server.Store()
	bg := context.Background()
	rec1, err := st.GetCertificate(bg, first.leaf.SerialNumber.Text(16))
	if err != nil {
		t.Fatal(err)
	}
	serial2 := second.SerialNumber.Text(16)
	rec2, err := st.GetCertificate(bg, serial2)
	if err != nil {
		t.Fatal(err)
	}
	if rec2.Status != store.StatusRevoked || rec2.RevocationReason != cgacme.ReasonKeyCompromise || !rec2.RevokedAt.Equal(rec1.RevokedAt) {
		t.Errorf("other certificate of the key: %s reason %d at %v; want revoked for keyCompromise at %v", rec2.Status, rec2.RevocationReason, rec2.RevokedAt, rec1.RevokedAt)
	}
	evs, err := st.ListAudit(bg, store.AuditFilter{ObjectID: serial2, Action: audit.ActionCertificateRevoke})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Errorf("%d revocation events for %s, want 1", len(evs), serial2)
	}
	if rec, err := st.GetCertificate(bg, other.leaf.SerialNumber.Text(16)); err != nil || rec.Status != store.StatusValid {
		t.Errorf("certificate of another key = %+v, %v; want valid", rec, err)
	}
}
