package wfe_test

import (
	"crypto/elliptic"
	"net/http"
	"testing"

	"golang.org/x/crypto/acme"

	cgacme "github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/testenv"
)

// TestReplacesRevokedCertificate: a revoked certificate's renewalInfo
// window is "now" (RFC 9773 §4.2), and the order an ARI client then sends
// names it in "replaces" (§5): newOrder accepts that order (a refusal
// would leave such clients unable to renew after a revocation), and a
// second replacement of it is alreadyReplaced as for any certificate.
func TestReplacesRevokedCertificate(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	key := clEcKey(t, elliptic.P256())
	c, _ := clRegistered(t, env, key)
	name := "replace-revoked.example.test"
	is := clIssue(t, env, c, acme.DomainIDs(name), "http-01")
	if err := c.RevokeCert(clTestCtx(t), nil, is.chain[0], acme.CRLReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	certID := ariCertID(is.leaf)
	rc := clNewRawClient(t, env, key)
	rc.register()
	newOrder := func() *clRawResponse {
		return rc.post(rc.dir.NewOrder, map[string]any{"identifiers": []cgacme.Identifier{{Type: "dns", Value: name}}, "replaces": certID})
	}
	var o cgacme.Order
	rc.decode(newOrder(), http.StatusCreated, &o)
	if o.Replaces != certID {
		t.Fatalf("order replaces = %q, want %q", o.Replaces, certID)
	}
	if r := newOrder(); r.status != http.StatusConflict || r.problem().Type != cgacme.AlreadyReplaced {
		t.Fatalf("second replacement of the revoked certificate: %s, want 409 alreadyReplaced", r)
	}
}
