package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv"
	"github.com/certgate/certgate/internal/testenv/testca"
)

// pemBlocks splits b into its PEM blocks.
func pemBlocks(b []byte) []*pem.Block {
	var out []*pem.Block
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return out
		}
		out = append(out, blk)
	}
}

// rootlessBundle returns a three-block `ca import` bundle (root
// certificate, intermediate certificate, intermediate key) of a corporate
// CA with an RSA-2048 root and an ECDSA P-256 issuing intermediate: what an
// enterprise hands out while keeping its root key offline. It also returns
// the root certificate.
func rootlessBundle(t *testing.T) ([]byte, *x509.Certificate) {
	t.Helper()
	rootKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b := pemBlocks(testca.Bundle(t, time.Now(), rootKey, interKey))
	if len(b) != 4 {
		t.Fatalf("corporateBundle gave %d blocks", len(b))
	}
	root, err := x509.ParseCertificate(b[0].Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return append(append(pem.EncodeToMemory(b[0]), pem.EncodeToMemory(b[2])...), pem.EncodeToMemory(b[3])...), root
}

// TestServeWithImportedCAWithoutRootKey: `certgate ca import` of a
// corporate intermediate without the root's private key (three blocks),
// then `certgate serve` starts, and an ACME client gets a certificate over
// http-01 whose chain verifies against the imported root; the server's own
// TLS certificate chains to it too. No root.key is ever written.
func TestServeWithImportedCAWithoutRootKey(t *testing.T) {
	bundle, root := rootlessBundle(t)
	data := filepath.Join(t.TempDir(), "data")
	out, _, err := runCLI(t, bundle, "ca", "import", "--data", data)
	if err != nil {
		t.Fatalf("ca import of three blocks: %v", err)
	}
	if !strings.Contains(out, local.Fingerprint(root)) {
		t.Errorf("ca import output %q does not name the root fingerprint", out)
	}
	rootKeyPath := filepath.Join(server.CADir(data), local.RootKeyFile)
	if _, err := os.Stat(rootKeyPath); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ca import wrote %s (%v)", rootKeyPath, err)
	}
	// The CLI as the operator runs it: it starts and serves.
	if err := serveCLI(t, "--data", data, "--listen", "127.0.0.1:0"); err != nil {
		t.Fatalf("serve: %v", err)
	}

	env := testenv.NewWithOptions(t, testenv.Options{Data: data})
	if !env.Server.CA().Root().Equal(root) {
		t.Fatal("the server runs another CA than the imported one")
	}
	// env.HTTPClient trusts only the imported root: every ACME request
	// below checks the server's TLS certificate against it.
	_, _, chain := env.IssueHTTP01(t, "www.example.test")
	if len(chain) != 2 {
		t.Fatalf("chain has %d certificates, want leaf and intermediate", len(chain))
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	inter, err := x509.ParseCertificate(chain[1])
	if err != nil {
		t.Fatal(err)
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	inters.AddCert(inter)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: "www.example.test"}); err != nil {
		t.Fatalf("the issued certificate does not chain to the imported root: %v", err)
	}
	if leaf.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Errorf("leaf signed %v, want ECDSA-SHA256 (P-256 intermediate)", leaf.SignatureAlgorithm)
	}
	if _, err := os.Stat(rootKeyPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("serve wrote %s (%v)", rootKeyPath, err)
	}
}

// TestClusterCopiesCAWithoutRootKey: the cluster procedure of
// docs/operations.md with a CA imported without its root key: `ca export`
// on node 1 writes the three blocks it has (and says so), `ca import` on
// node 2 takes them, and node 2 starts on the shared database with the
// same CA.
func TestClusterCopiesCAWithoutRootKey(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	bundle, root := rootlessBundle(t)
	data1 := filepath.Join(t.TempDir(), "node1")
	data2 := filepath.Join(t.TempDir(), "node2")
	if _, _, err := runCLI(t, bundle, "ca", "import", "--data", data1); err != nil {
		t.Fatalf("ca import on node 1: %v", err)
	}
	node1, err := startNode(t, data1, dsn)
	if err != nil {
		t.Fatalf("node 1: %v", err)
	}
	exported, stderr, err := runCLI(t, nil, "ca", "export", "--data", data1)
	if err != nil {
		t.Fatalf("ca export: %v", err)
	}
	if exported != string(bundle) {
		t.Errorf("ca export wrote %d blocks, not the three imported", len(pemBlocks([]byte(exported))))
	}
	if !strings.Contains(stderr, "private key but no root key") || !strings.Contains(stderr, local.Fingerprint(root)) {
		t.Errorf("ca export warning does not say the bundle lacks the root key: %q", stderr)
	}
	if _, _, err := runCLI(t, []byte(exported), "ca", "import", "--data", data2); err != nil {
		t.Fatalf("ca import on node 2: %v", err)
	}
	node2, err := startNode(t, data2, dsn)
	if err != nil {
		t.Fatalf("node 2 after import: %v", err)
	}
	if !node2.CA().Root().Equal(node1.CA().Root()) || !node2.CA().Intermediate().Equal(node1.CA().Intermediate()) || !node2.CA().Root().Equal(root) {
		t.Fatal("the nodes have different CAs")
	}
}

// threeTierBundle returns a `ca import` bundle of a three-tier corporate
// PKI without the root key — root certificate (RSA-2048), policy CA
// certificate (ECDSA P-384), issuing CA certificate (ECDSA P-256), issuing
// CA key — and the root and policy CA certificates.
func threeTierBundle(t *testing.T) (bundle []byte, root, policy *x509.Certificate) {
	t.Helper()
	rootKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	policyKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issuingKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	notBefore := time.Now().Add(-24 * time.Hour)
	tmpl := func(serial int64, cn string, pathLen int) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{Organization: []string{"Example Corp"}, CommonName: cn},
			NotBefore: notBefore, NotAfter: notBefore.AddDate(5, 0, 0),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true, IsCA: true, MaxPathLen: pathLen, MaxPathLenZero: pathLen == 0}
	}
	sign := func(c, parent *x509.Certificate, pub any, key any) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, c, parent, pub, key)
		if err != nil {
			t.Fatal(err)
		}
		out, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	rt := tmpl(1, "Example Corp Root", -1)
	root = sign(rt, rt, rootKey.Public(), rootKey)
	policy = sign(tmpl(2, "Example Corp Policy CA", 1), root, policyKey.Public(), rootKey)
	issuing := sign(tmpl(3, "Example Corp Issuing CA", 0), policy, issuingKey.Public(), policyKey)
	keyDER, err := x509.MarshalPKCS8PrivateKey(issuingKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, blk := range []*pem.Block{{Type: "CERTIFICATE", Bytes: root.Raw}, {Type: "CERTIFICATE", Bytes: policy.Raw},
		{Type: "CERTIFICATE", Bytes: issuing.Raw}, {Type: "PRIVATE KEY", Bytes: keyDER}} {
		bundle = append(bundle, pem.EncodeToMemory(blk)...)
	}
	return bundle, root, policy
}

// TestServeWithImportedThreeTierCA: `certgate ca import` of root → policy
// CA → issuing CA (no root key), then an ACME client gets the chain leaf,
// issuing CA, policy CA, which verifies against the root alone; the
// server's TLS chain carries the policy CA too; `ca export` gives the
// bundle back.
func TestServeWithImportedThreeTierCA(t *testing.T) {
	bundle, root, policy := threeTierBundle(t)
	data := filepath.Join(t.TempDir(), "data")
	if _, _, err := runCLI(t, bundle, "ca", "import", "--data", data); err != nil {
		t.Fatalf("ca import of a three-tier bundle: %v", err)
	}
	env := testenv.NewWithOptions(t, testenv.Options{Data: data})
	_, _, chain := env.IssueHTTP01(t, "www.example.test")
	if len(chain) != 3 || !bytes.Equal(chain[2], policy.Raw) {
		t.Fatalf("chain has %d certificates, want leaf, issuing CA, policy CA", len(chain))
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, der := range chain[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		inters.AddCert(c)
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: "www.example.test"}); err != nil {
		t.Fatalf("the ACME chain does not verify against the root: %v", err)
	}

	// The server's own TLS chain, verified by the handshake with only the root.
	conn, err := tls.Dial("tcp", env.Server.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("TLS with the imported root: %v", err)
	}
	peer := conn.ConnectionState().PeerCertificates
	conn.Close()
	if len(peer) != 3 || !peer[2].Equal(policy) {
		t.Errorf("server TLS chain has %d certificates, want leaf, issuing CA, policy CA", len(peer))
	}

	exported, _, err := runCLI(t, nil, "ca", "export", "--data", data)
	if err != nil {
		t.Fatalf("ca export: %v", err)
	}
	if exported != string(bundle) {
		t.Errorf("ca export gave %d blocks, not the imported bundle", len(pemBlocks([]byte(exported))))
	}
}
