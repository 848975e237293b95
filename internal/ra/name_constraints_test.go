package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv/testca"
)

// TestNewOrderOutsideNameConstraints: with an imported CA whose
// intermediate permits only DNS example.test and IP 10.0.0.0/8 and
// whose root excludes DNS secret.example.test, newOrder refuses
// identifiers outside those subtrees (rejectedIdentifier, one subproblem
// each, naming the constraint) and accepts those inside, wildcards
// included unless the wildcard would match an excluded name (as
// crypto/x509 reads it). The former code issued certificates for them that failed
// verification (OpenSSL error 47, permitted subtree violation).
func TestNewOrderOutsideNameConstraints(t *testing.T) {
	dir := t.TempDir()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	interKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, tenNet, _ := net.ParseCIDR("10.0.0.0/8")
	bundle := testca.BundleEdited(t, time.Now(), rootKey, interKey, func(root, inter *x509.Certificate) {
		inter.PermittedDNSDomains, inter.PermittedIPRanges = []string{"example.test"}, []*net.IPNet{tenNet}
		root.ExcludedDNSDomains = []string{"secret.example.test"}
	})
	if _, err := local.Import(filepath.Join(dir, "ca"), bundle); err != nil {
		t.Fatal(err)
	}
	e := newPolicyEnvOn(t, storetest.OpenSQLite(t), dir, ra.Config{})
	ctx := context.Background()
	a := e.account("", nil, nil)
	for _, ids := range [][]acme.Identifier{
		dnsIDs("www.example.test"), dnsIDs("*.app.example.test"), dnsIDs("example.test"),
		{{Type: acme.IdentifierIP, Value: "10.1.2.3"}},
	} {
		if _, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Identifiers: ids}); err != nil {
			p, _ := acme.AsProblem(err)
			t.Errorf("newOrder for %v: %v %+v, want it accepted", ids, err, p)
		}
	}
	_, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Identifiers: append(dnsIDs("www.example.test", "www.other.test", "db.secret.example.test", "*.example.test"),
		acme.Identifier{Type: acme.IdentifierIP, Value: "192.0.2.1"})})
	p := wantProblem(t, err, acme.RejectedIdentifier, "4 identifiers are outside the name constraints of the built-in CA")
	want := map[string]string{
		"www.other.test":         `intermediate "CN=Example Corp Issuing CA,O=Example Corp" permits DNS example.test`,
		"db.secret.example.test": `excluded by constraint "secret.example.test"`,
		"192.0.2.1":              "permits IP 10.0.0.0/8",
		"*.example.test":         `excluded by constraint "secret.example.test"`, // it would match secret.example.test
	}
	if len(p.Subproblems) != len(want) {
		t.Fatalf("%d subproblems, want %d: %+v", len(p.Subproblems), len(want), p.Subproblems)
	}
	for _, sp := range p.Subproblems {
		if sp.Identifier == nil || sp.Type != acme.RejectedIdentifier || !strings.Contains(sp.Detail, want[sp.Identifier.Value]) {
			t.Errorf("subproblem %+v, want rejectedIdentifier with %q", sp, want[sp.Identifier.Value])
		}
	}
}
