package local

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/testenv/testca"
)

// TestCheckName: CheckName agrees with crypto/x509's verification of the
// leaves the CA really signs: a name inside the name constraints of an
// imported chain (permitted DNS and IP subtrees on the intermediate, an
// excluded DNS subtree on the root) is allowed and its leaf verifies; one
// outside is a *NameConstraintError naming the constraints, and its leaf
// would fail verification. certgate's own CA, without constraints,
// allows every name.
func TestCheckName(t *testing.T) {
	now := time.Now()
	dir := filepath.Join(t.TempDir(), "ca")
	_, tenNet, _ := net.ParseCIDR("10.0.0.0/8")
	if _, err := Import(dir, testca.BundleEdited(t, now, newP384(t), newP384(t), func(root, inter *x509.Certificate) {
		inter.PermittedDNSDomains, inter.PermittedIPRanges = []string{"example.test"}, []*net.IPNet{tenNet}
		root.ExcludedDNSDomains = []string{"secret.example.test"}
	})); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadOrCreate(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca.Root())
	inters.AddCert(ca.Intermediate())
	for _, tc := range []struct {
		name string
		want string // "" when allowed
	}{
		{"www.example.test", ""},
		{"*.app.example.test", ""},
		{"10.9.8.7", ""},
		{"www.other.test", "permits DNS example.test"},
		{"db.secret.example.test", `excluded by constraint "secret.example.test"`},
		{"192.0.2.1", "permits IP 10.0.0.0/8"},
	} {
		err := ca.CheckName(tc.name)
		var nce *NameConstraintError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want allowed", tc.name, err)
		case tc.want != "" && (!errors.As(err, &nce) || nce.Name != tc.name || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want a NameConstraintError with %q", tc.name, err, tc.want)
		}
		req := goodRequest(t)
		req.NotBefore, req.NotAfter = now.Add(-time.Minute), now.Add(24*time.Hour)
		req.DNSNames, req.IPAddresses = []string{tc.name}, nil
		if ip := net.ParseIP(tc.name); ip != nil {
			req.DNSNames, req.IPAddresses = nil, []net.IP{ip}
		}
		der, err := ca.SignLeaf(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(der)
		_, verr := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters})
		if (verr == nil) != (tc.want == "") {
			t.Errorf("%s: the real leaf verifies: %v, CheckName: %v", tc.name, verr, err)
		}
	}
	own, _ := newTestCA(t, Options{})
	if err := own.CheckName("anything.example"); err != nil {
		t.Errorf("certgate's own CA: %v", err)
	}
}

// BenchmarkCheckName: the cost of one identifier's name-constraint check
// at newOrder under an imported CA with name constraints (a sample leaf
// signed and verified under the Ed25519 mirror of the chain); CAs without
// constraints skip it.
func BenchmarkCheckName(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "ca")
	if _, err := Import(dir, testca.BundleEdited(b, time.Now(), newP384(b), newP384(b), func(_, inter *x509.Certificate) {
		inter.PermittedDNSDomains = []string{"example.test"}
	})); err != nil {
		b.Fatal(err)
	}
	ca, err := LoadOrCreate(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := ca.CheckName("www.example.test"); err != nil {
			b.Fatal(err)
		}
	}
}
