package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv"
	"golang.org/x/crypto/acme"
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
	b := pemBlocks(corporateBundle(t, rootKey, interKey))
	if len(b) != 4 {
		t.Fatalf("corporateBundle gave %d blocks", len(b))
	}
	root, err := x509.ParseCertificate(b[0].Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return append(append(pem.EncodeToMemory(b[0]), pem.EncodeToMemory(b[2])...), pem.EncodeToMemory(b[3])...), root
}

// issueHTTP01 registers an account and gets a certificate for name over
// http-01 with x/crypto/acme; it returns the chain the server sent.
func issueHTTP01(t *testing.T, env *testenv.Env, name string) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c := &acme.Client{Key: key, DirectoryURL: env.DirectoryURL, HTTPClient: env.HTTPClient}
	if _, err := c.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatal(err)
	}
	o, err := c.AuthorizeOrder(ctx, acme.DomainIDs(name))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range o.AuthzURLs {
		z, err := c.GetAuthorization(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range z.Challenges {
			if ch.Type != "http-01" {
				continue
			}
			ka, _ := c.HTTP01ChallengeResponse(ch.Token)
			env.SetHTTP01(ch.Token, ka)
			if _, err := c.Accept(ctx, ch); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.WaitAuthorization(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if o, err = c.WaitOrder(ctx, o.URI); err != nil {
		t.Fatal(err)
	}
	ck, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}}, ck)
	chain, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	if err != nil {
		t.Fatal(err)
	}
	return chain
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
	chain := issueHTTP01(t, env, "www.example.test")
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
	if !strings.Contains(stderr, "3 blocks, no root key") || !strings.Contains(stderr, local.Fingerprint(root)) {
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
