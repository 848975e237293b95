package local

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// verifiesFor signs a leaf with ekus under ca and reports whether
// crypto/x509 verifies it, against ca's root, for each EKU alone.
func verifiesFor(t *testing.T, ca *CA, ekus []x509.ExtKeyUsage) map[x509.ExtKeyUsage]bool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.SignLeaf(context.Background(), LeafRequest{Serial: testSerial(t), PublicKey: key.Public(),
		DNSNames: []string{"mail.example.test"}, NotBefore: testNow, NotAfter: testNow.Add(30 * 24 * time.Hour), ExtKeyUsages: ekus})
	if err != nil {
		t.Fatalf("SignLeaf: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca.Root())
	inters.AddCert(ca.Intermediate())
	for _, c := range ca.UpperChain() {
		inters.AddCert(c)
	}
	out := map[x509.ExtKeyUsage]bool{}
	for _, u := range ekus {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: testNow.Add(time.Hour),
			KeyUsages: []x509.ExtKeyUsage{u}})
		out[u] = err == nil
	}
	return out
}

// TestCheckExtKeyUsagesBuiltin: the intermediate certgate makes allows
// serverAuth and clientAuth only, so CheckExtKeyUsages refuses
// emailProtection and codeSigning, naming the intermediate, its EKUs and
// the refused ones, exactly where crypto/x509's Verify refuses a leaf
// for that purpose.
func TestCheckExtKeyUsagesBuiltin(t *testing.T) {
	ca, _ := newTestCA(t, Options{})
	all := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsageCodeSigning}
	verifies := verifiesFor(t, ca, all)
	for _, u := range all {
		err := ca.CheckExtKeyUsages([]x509.ExtKeyUsage{u})
		if (err == nil) != verifies[u] {
			t.Errorf("%s: CheckExtKeyUsages = %v, but x509.Verify verifies: %v", EKUName(u), err, verifies[u])
		}
	}
	if verifies[x509.ExtKeyUsageEmailProtection] || verifies[x509.ExtKeyUsageCodeSigning] || !verifies[x509.ExtKeyUsageServerAuth] {
		t.Fatalf("x509.Verify: %v; want serverAuth and clientAuth only", verifies)
	}
	err := ca.CheckExtKeyUsages([]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageEmailProtection})
	var ee *EKUError
	if !errors.As(err, &ee) {
		t.Fatalf("CheckExtKeyUsages(serverAuth, emailProtection) = %v, want an *EKUError", err)
	}
	if got := ee.Refused(); !slices.Equal(got, []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}) {
		t.Errorf("Refused = %v, want emailProtection", got)
	}
	want := "the built-in CA's intermediate allows only serverAuth, clientAuth (EKU); leaf certificates with emailProtection would not verify for that purpose"
	if err.Error() != want {
		t.Errorf("error = %q\nwant      %q", err, want)
	}
}

// TestCheckExtKeyUsagesImported: an imported CA's chain decides: an
// intermediate without the EKU extension, or with anyExtendedKeyUsage,
// allows emailProtection and codeSigning; one with emailProtection allows
// that only; a policy CA (ChainFile) or root whose EKUs leave one out is
// named. Each answer agrees with crypto/x509's Verify.
func TestCheckExtKeyUsagesImported(t *testing.T) {
	smime := []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsageCodeSigning}
	for _, tc := range []struct {
		name                  string
		root, policy, issuing []x509.ExtKeyUsage // nil: no EKU extension
		threeTier             bool
		wantRefused           []x509.ExtKeyUsage
		wantCert              string
	}{
		{name: "no EKU extension"},
		{name: "anyExtendedKeyUsage", issuing: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}},
		{name: "emailProtection only", issuing: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
			wantRefused: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, wantCert: "intermediate"},
		{name: "root with serverAuth", root: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			wantRefused: smime, wantCert: "root"},
		{name: "policy CA with codeSigning", threeTier: true, policy: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
			wantRefused: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}, wantCert: `CA certificate "CN=Example Corp Policy CA,O=Example Corp"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := caTmpl(1, "Example Corp Root", -1)
			rt.ExtKeyUsage = tc.root
			root := newTier(t, rt, nil)
			parent := root
			var blocks []*pem.Block
			blocks = append(blocks, certBlock(root.cert))
			if tc.threeTier {
				pt := caTmpl(2, "Example Corp Policy CA", 1)
				pt.ExtKeyUsage = tc.policy
				parent = newTier(t, pt, &root)
				blocks = append(blocks, certBlock(parent.cert))
			}
			it := caTmpl(3, "Example Corp Issuing CA", 0)
			it.ExtKeyUsage = tc.issuing
			issuing := newTier(t, it, &parent)
			blocks = append(blocks, certBlock(issuing.cert), keyBlock(t, issuing.key))
			dir := filepath.Join(t.TempDir(), "ca")
			if _, err := Import(dir, joinBlocks(blocks...)); err != nil {
				t.Fatalf("Import: %v", err)
			}
			ca, err := LoadOrCreate(dir, Options{Now: fixedClock})
			if err != nil {
				t.Fatalf("LoadOrCreate: %v", err)
			}
			verifies := verifiesFor(t, ca, smime)
			for _, u := range smime {
				if refused := slices.Contains(tc.wantRefused, u); refused == verifies[u] {
					t.Errorf("x509.Verify for %s: %v; the test expects it refused: %v", EKUName(u), verifies[u], refused)
				}
			}
			err = ca.CheckExtKeyUsages(smime)
			var ee *EKUError
			switch {
			case tc.wantRefused == nil && err != nil:
				t.Fatalf("CheckExtKeyUsages = %v, want nil", err)
			case tc.wantRefused == nil:
			case !errors.As(err, &ee):
				t.Fatalf("CheckExtKeyUsages = %v, want an *EKUError", err)
			case !slices.Equal(ee.Refused(), tc.wantRefused) || len(ee.Refusals) != 1 || ee.Refusals[0].Cert != tc.wantCert:
				t.Errorf("CheckExtKeyUsages = %v (refused %v, %+v), want %v refused by the %s", err, ee.Refused(), ee.Refusals, tc.wantRefused, tc.wantCert)
			}
		})
	}
}
