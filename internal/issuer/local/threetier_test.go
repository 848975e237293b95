package local

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tier is one CA certificate of a test PKI with its key.
type tier struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// caTmpl is a CA certificate template; pathLen < 0 means no constraint.
func caTmpl(serial int64, cn string, pathLen int) *x509.Certificate {
	notBefore := testNow.Add(-24 * time.Hour)
	t := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{Organization: []string{"Example Corp"}, CommonName: cn},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            -1,
	}
	if pathLen >= 0 {
		t.MaxPathLen, t.MaxPathLenZero = pathLen, pathLen == 0
	}
	return t
}

// newTier makes a P-256 key and a certificate from tmpl signed by parent
// (self-signed when parent is nil).
func newTier(t *testing.T, tmpl *x509.Certificate, parent *tier) tier {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issuer, signer := tmpl, crypto.Signer(key)
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tier{cert: c, key: key}
}

// threeTier returns root → policy CA → issuing CA, with the given path
// length constraints (-1: none).
func threeTier(t *testing.T, rootPathLen, policyPathLen int) (root, policy, issuing tier) {
	t.Helper()
	root = newTier(t, caTmpl(1, "Example Corp Root", rootPathLen), nil)
	policy = newTier(t, caTmpl(2, "Example Corp Policy CA", policyPathLen), &root)
	issuing = newTier(t, caTmpl(3, "Example Corp Issuing CA", 0), &policy)
	return root, policy, issuing
}

func certBlock(c *x509.Certificate) *pem.Block { return &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw} }

func keyBlock(t *testing.T, k crypto.Signer) *pem.Block {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &pem.Block{Type: "PRIVATE KEY", Bytes: der}
}

// TestImportThreeTier: a bundle root, [root key,] policy CA, issuing CA,
// issuing key imports (policy CA into ChainFile), loads, serves the chain
// leaf → issuing → policy CA (ACME and the server's own certificate),
// which verifies against the root, and exports to the same bundle.
func TestImportThreeTier(t *testing.T) {
	root, policy, issuing := threeTier(t, -1, 1)
	for _, tc := range []struct {
		name   string
		blocks []*pem.Block
	}{
		{"with root key", []*pem.Block{certBlock(root.cert), keyBlock(t, root.key), certBlock(policy.cert), certBlock(issuing.cert), keyBlock(t, issuing.key)}},
		{"without root key", []*pem.Block{certBlock(root.cert), certBlock(policy.cert), certBlock(issuing.cert), keyBlock(t, issuing.key)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle := joinBlocks(tc.blocks...)
			dir := filepath.Join(t.TempDir(), "ca")
			if _, err := Import(dir, bundle); err != nil {
				t.Fatalf("Import: %v", err)
			}
			if got := readFile(t, dir, ChainFile); !bytes.Equal(got, pem.EncodeToMemory(certBlock(policy.cert))) {
				t.Errorf("%s = %q, want the policy CA", ChainFile, got)
			}
			ca, err := LoadOrCreate(dir, Options{Now: fixedClock, LintBeforeSign: true,
				IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl"})
			if err != nil {
				t.Fatalf("LoadOrCreate: %v", err)
			}
			if up := ca.UpperChain(); len(up) != 1 || !up[0].Equal(policy.cert) {
				t.Fatalf("UpperChain = %d certificates, want the policy CA", len(up))
			}

			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			serial, _ := RandomSerial()
			der, err := ca.SignLeaf(context.Background(), LeafRequest{Serial: serial, PublicKey: key.Public(),
				DNSNames: []string{"www.example.test"}, NotBefore: testNow, NotAfter: testNow.Add(30 * 24 * time.Hour)})
			if err != nil {
				t.Fatalf("SignLeaf: %v", err)
			}
			chain := bundleBlocks(t, ca.ChainPEM(der))
			if len(chain) != 3 || !bytes.Equal(chain[0].Bytes, der) || !bytes.Equal(chain[1].Bytes, issuing.cert.Raw) || !bytes.Equal(chain[2].Bytes, policy.cert.Raw) {
				t.Fatalf("ChainPEM has %d blocks, want leaf, issuing CA, policy CA", len(chain))
			}
			verifyChain(t, chain[0].Bytes, [][]byte{chain[1].Bytes, chain[2].Bytes}, root.cert, "www.example.test", testNow.Add(time.Hour))

			srv, err := ca.ServerCertificate(context.Background(), testSerial(t), []string{"acme.example.test"}, nil, 0)
			if err != nil {
				t.Fatalf("ServerCertificate: %v", err)
			}
			if len(srv.Certificate) != 3 || !bytes.Equal(srv.Certificate[1], issuing.cert.Raw) || !bytes.Equal(srv.Certificate[2], policy.cert.Raw) {
				t.Fatalf("server certificate chain has %d certificates, want leaf, issuing CA, policy CA", len(srv.Certificate))
			}
			verifyChain(t, srv.Certificate[0], srv.Certificate[1:], root.cert, "acme.example.test", time.Now())

			again, _, withRootKey, err := Export(dir)
			if err != nil {
				t.Fatalf("Export: %v", err)
			}
			if !bytes.Equal(again, bundle) || withRootKey != (len(tc.blocks) == 5) {
				t.Errorf("Export differs from the imported bundle (%d blocks, withRootKey %v)", len(bundleBlocks(t, again)), withRootKey)
			}
		})
	}
}

// verifyChain verifies leaf with intermediates up to root for name at now.
func verifyChain(t *testing.T, leafDER []byte, inters [][]byte, root *x509.Certificate, name string, now time.Time) {
	t.Helper()
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		t.Fatal(err)
	}
	roots, pool := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, d := range inters {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			t.Fatal(err)
		}
		pool.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: pool, DNSName: name, CurrentTime: now}); err != nil {
		t.Fatalf("chain does not verify to the root: %v", err)
	}
}

// TestImportThreeTierRefuses: chains that do not link, break a path
// length constraint, or hold a non-CA or second root are refused, in one
// line, with nothing written.
func TestImportThreeTierRefuses(t *testing.T) {
	root, policy, issuing := threeTier(t, -1, -1)
	otherRoot, otherPolicy, _ := threeTier(t, -1, -1)
	_, shortPolicy, shortIssuing := func() (tier, tier, tier) {
		p := newTier(t, caTmpl(2, "Example Corp Short Policy CA", 0), &root)
		return root, p, newTier(t, caTmpl(3, "Example Corp Issuing CA 2", 0), &p)
	}()
	rootZero := newTier(t, caTmpl(1, "Example Corp Root 0", 0), nil)
	pZero := newTier(t, caTmpl(2, "Example Corp Policy CA 0", -1), &rootZero)
	iZero := newTier(t, caTmpl(3, "Example Corp Issuing CA 0", 0), &pZero)
	leafTmpl := caTmpl(4, "Not A CA", -1)
	leafTmpl.IsCA, leafTmpl.MaxPathLen = false, 0
	notCA := newTier(t, leafTmpl, &root)
	ik := keyBlock(t, issuing.key)

	tests := []struct {
		name    string
		blocks  []*pem.Block
		wantErr error
		want    string
	}{
		{"policy CA missing", []*pem.Block{certBlock(root.cert), certBlock(issuing.cert), ik}, ErrInvalidCA,
			`intermediate is not signed by root`},
		{"policy CA of another root", []*pem.Block{certBlock(root.cert), certBlock(otherPolicy.cert), certBlock(issuing.cert), ik}, ErrInvalidCA,
			`intermediate is not signed by CA certificate "CN=Example Corp Policy CA,O=Example Corp"`},
		{"another root", []*pem.Block{certBlock(otherRoot.cert), certBlock(policy.cert), certBlock(issuing.cert), ik}, ErrInvalidCA,
			`CA certificate "CN=Example Corp Policy CA,O=Example Corp" is not signed by root`},
		{"policy and issuing CA swapped", []*pem.Block{certBlock(root.cert), certBlock(issuing.cert), certBlock(policy.cert), ik}, ErrInvalidCA,
			"the bundle's intermediate key does not match the bundle's intermediate certificate"},
		{"policy CA pathLen 0", []*pem.Block{certBlock(root.cert), certBlock(shortPolicy.cert), certBlock(shortIssuing.cert), keyBlock(t, shortIssuing.key)}, ErrInvalidCA,
			`CA certificate "CN=Example Corp Short Policy CA,O=Example Corp" allows 0 CA certificates below it (pathLenConstraint), but 1 follow`},
		{"root pathLen 0", []*pem.Block{certBlock(rootZero.cert), certBlock(pZero.cert), certBlock(iZero.cert), keyBlock(t, iZero.key)}, ErrInvalidCA,
			"root allows 0 CA certificates below it (pathLenConstraint), but 2 follow"},
		{"not a CA certificate in the middle", []*pem.Block{certBlock(root.cert), certBlock(notCA.cert), certBlock(issuing.cert), ik}, ErrInvalidCA,
			`is not a CA certificate`},
		{"root twice", []*pem.Block{certBlock(root.cert), certBlock(root.cert), certBlock(policy.cert), certBlock(issuing.cert), ik}, ErrInvalidBundle,
			"CA certificate 1 below the root (block 2) is self-signed"},
		{"root in the middle", []*pem.Block{certBlock(policy.cert), certBlock(root.cert), certBlock(issuing.cert), ik}, ErrInvalidBundle,
			"the root is not the first certificate"},
		{"root last", []*pem.Block{certBlock(policy.cert), certBlock(issuing.cert), certBlock(root.cert), ik}, ErrInvalidBundle,
			"the root comes after the intermediate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkImportRefused(t, joinBlocks(tt.blocks...), tt.wantErr, tt.want)
		})
	}
}

// TestLoadChainFile: a ChainFile that is not PEM certificates is refused
// (ErrInvalidCA); one alone in a directory is a partial CA.
func TestLoadChainFile(t *testing.T) {
	_, dir := newTestCA(t, Options{})
	writeFile(t, dir, ChainFile, []byte("not pem\n"))
	if _, err := LoadOrCreate(dir, Options{}); !errors.Is(err, ErrInvalidCA) || !strings.Contains(err.Error(), ChainFile) {
		t.Fatalf("LoadOrCreate with a garbage %s = %v, want ErrInvalidCA naming it", ChainFile, err)
	}
	// A CA certificate that does not link the intermediate to the root.
	_, other := newTestCA(t, Options{})
	writeFile(t, dir, ChainFile, readFile(t, other, RootCertFile))
	if _, err := LoadOrCreate(dir, Options{}); !errors.Is(err, ErrInvalidCA) || !strings.Contains(err.Error(), "is self-signed; only the root may be") {
		t.Fatalf("LoadOrCreate with a foreign %s = %v, want ErrInvalidCA", ChainFile, err)
	}

	writeFile(t, dir, ChainFile, readFile(t, other, IntermediateCertFile))
	if _, err := LoadOrCreate(dir, Options{}); !errors.Is(err, ErrInvalidCA) || !strings.Contains(err.Error(), "pathLenConstraint") {
		t.Fatalf("LoadOrCreate with another CA's intermediate in %s = %v, want ErrInvalidCA", ChainFile, err)
	}
	writeFile(t, dir, ChainFile, readFile(t, dir, RootCertFile)) // the root itself
	if _, err := LoadOrCreate(dir, Options{}); !errors.Is(err, ErrInvalidCA) || !strings.Contains(err.Error(), "is self-signed") {
		t.Fatalf("LoadOrCreate with the root in %s = %v, want ErrInvalidCA", ChainFile, err)
	}

	partial := t.TempDir()
	writeFile(t, partial, ChainFile, readFile(t, other, IntermediateCertFile))
	if _, err := LoadOrCreate(partial, Options{}); !errors.Is(err, ErrPartialCA) {
		t.Fatalf("LoadOrCreate with only %s = %v, want ErrPartialCA", ChainFile, err)
	}
}

// TestImportTwoTierPathChecks: the path checks hold for two tiers too: an
// intermediate signed by the root's key but naming another issuer, and an
// intermediate under a root with pathLen 0, are refused.
func TestImportTwoTierPathChecks(t *testing.T) {
	root := newTier(t, caTmpl(1, "Example Corp Root", -1), nil)
	impostor := *root.cert
	impostor.Subject = pkix.Name{CommonName: "Someone Else"}
	impostor.RawSubject = nil
	misnamed := newTier(t, caTmpl(2, "Example Corp Issuing CA", 0), &tier{cert: &impostor, key: root.key})
	rootZero := newTier(t, caTmpl(1, "Example Corp Root 0", 0), nil)
	underZero := newTier(t, caTmpl(2, "Example Corp Issuing CA", 0), &rootZero)
	for _, tc := range []struct {
		name  string
		root  tier
		inter tier
		want  string
	}{
		{"issuer name", root, misnamed, `intermediate is not signed by root: its issuer "CN=Someone Else" is not that subject`},
		{"root pathLen 0", rootZero, underZero, "root allows 0 CA certificates below it (pathLenConstraint), but 1 follow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Import(filepath.Join(t.TempDir(), "ca"), joinBlocks(certBlock(tc.root.cert), certBlock(tc.inter.cert), keyBlock(t, tc.inter.key)))
			if !errors.Is(err, ErrInvalidCA) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Import = %v, want ErrInvalidCA mentioning %q", err, tc.want)
			}
		})
	}
}

// TestImportIntermediateOfAnotherRootNamesIt: an intermediate issued by
// another root, with a key of another type than the bundle's root, is
// refused naming its issuer and the root's subject: the signature check
// ran first and its error named Go types ("signature algorithm specifies
// an RSA public key, but have public key of type *ecdsa.PublicKey").
func TestImportIntermediateOfAnotherRootNamesIt(t *testing.T) {
	root := newTier(t, caTmpl(1, "Example Corp Root", -1), nil)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherTmpl := caTmpl(7, "Other Corp Root", -1)
	der, err := x509.CreateCertificate(rand.Reader, otherTmpl, otherTmpl, rsaKey.Public(), rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	otherCert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	inter := newTier(t, caTmpl(8, "Other Corp Issuing CA", 0), &tier{cert: otherCert, key: rsaKey})
	_, err = Import(filepath.Join(t.TempDir(), "ca"), joinBlocks(certBlock(root.cert), certBlock(inter.cert), keyBlock(t, inter.key)))
	want := `intermediate is not signed by root: its issuer "CN=Other Corp Root,O=Example Corp" is not that subject ("CN=Example Corp Root,O=Example Corp")`
	if !errors.Is(err, ErrInvalidCA) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Import = %v, want ErrInvalidCA with %q", err, want)
	}
	if strings.Contains(err.Error(), "PublicKey") {
		t.Errorf("Import = %v: names a Go type", err)
	}
}
