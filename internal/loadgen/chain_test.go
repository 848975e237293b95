package loadgen

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"
)

// testCA is a certificate and its key, for building chains in tests.
type testCA struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue signs tmpl for pub with parent (self-signed when parent is nil).
func issue(t *testing.T, tmpl *x509.Certificate, pub crypto.PublicKey, parent *testCA, key *ecdsa.PrivateKey) *testCA {
	t.Helper()
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(time.Hour)
	p, signer := tmpl, key
	if parent != nil {
		p, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: c, der: der, key: key}
}

func newCA(t *testing.T, name string, parent *testCA) *testCA {
	t.Helper()
	key := newKey(t)
	return issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, &key.PublicKey, parent, key)
}

func newLeaf(t *testing.T, name string, pub crypto.PublicKey, parent *testCA) []byte {
	t.Helper()
	return issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}}, pub, parent, nil).der
}

func TestChainChecker(t *testing.T) {
	root := newCA(t, "root", nil)
	inter := newCA(t, "intermediate", root)
	// Same subject as inter, another key: a leaf it signs does not verify
	// against inter, and inter does not verify against otherRoot.
	otherInter := newCA(t, "intermediate", root)
	otherRoot := newCA(t, "root", nil)
	certKey := newKey(t)
	pub := certKey.Public()
	good := newLeaf(t, "a.test", pub, inter)

	c := newChainChecker()
	for range 3 {
		if err := c.check([][]byte{good, inter.der, root.der}, "a.test", spkiOf(t, pub)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.check([][]byte{good, inter.der}, "a.test", spkiOf(t, pub)); err != nil {
		t.Fatal(err)
	}
	if err := c.check([][]byte{good}, "a.test", spkiOf(t, pub)); err != nil {
		t.Fatal(err) // a lone leaf: name and key only
	}
	// The issuer part was parsed once per distinct byte sequence.
	if len(c.issuers) != 2 {
		t.Errorf("%d issuer chains kept, want 2", len(c.issuers))
	}

	for _, tt := range []struct {
		name  string
		chain [][]byte
		dns   string
		pub   crypto.PublicKey
		want  string
	}{
		{"empty", nil, "a.test", pub, "empty certificate chain"},
		{"other name", [][]byte{good, inter.der}, "b.test", pub, "certificate is for [a.test], not b.test"},
		{"other key", [][]byte{good, inter.der}, "a.test", newKey(t).Public(), "certificate public key is not the CSR's"},
		{"leaf not signed by the next (issuer part cached)", [][]byte{newLeaf(t, "a.test", pub, otherInter), inter.der, root.der},
			"a.test", pub, "certificate is not signed by the next in the chain"},
		{"issuer not signed by the next", [][]byte{good, inter.der, otherRoot.der}, "a.test", pub,
			"certificate 1 of the chain is not signed by the next"},
		{"garbage leaf", [][]byte{[]byte("x"), inter.der}, "a.test", pub, "certificate 0 of the chain"},
		{"garbage issuer", [][]byte{good, inter.der, []byte("x")}, "a.test", pub, "certificate 2 of the chain"},
	} {
		for range 2 { // the second time from the cache
			err := c.check(tt.chain, tt.dns, spkiOf(t, tt.pub))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("%s: err = %v, want %q…", tt.name, err, tt.want)
			}
		}
	}
}

func TestChainCheckerBound(t *testing.T) {
	c := newChainChecker()
	certKey := newKey(t)
	for i := range maxIssuerChains + 2 {
		inter := newCA(t, "intermediate", nil)
		leaf := newLeaf(t, "a.test", certKey.Public(), inter)
		if err := c.check([][]byte{leaf, inter.der}, "a.test", spkiOf(t, certKey.Public())); err != nil {
			t.Fatalf("chain %d: %v", i, err)
		}
	}
	if len(c.issuers) != maxIssuerChains {
		t.Errorf("%d issuer chains kept, want at most %d", len(c.issuers), maxIssuerChains)
	}
}

// spkiOf is pub as DER SubjectPublicKeyInfo, as a flow keeps it.
func spkiOf(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
