package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
)

// corporateBundle returns a `ca import` bundle (local.BundleOrder) of an
// enterprise's own CA made outside certgate: a self-signed root with
// rootKey and an issuing intermediate with interKey.
func corporateBundle(t *testing.T, rootKey, interKey crypto.Signer) []byte {
	t.Helper()
	notBefore := time.Now().Add(-24 * time.Hour)
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{Organization: []string{"Example Corp"}, CommonName: "Example Corp Root"},
		NotBefore: notBefore, NotAfter: notBefore.AddDate(10, 0, 0), KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		t.Fatal(err)
	}
	interTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{Organization: []string{"Example Corp"}, CommonName: "Example Corp Issuing CA"},
		NotBefore: notBefore, NotAfter: notBefore.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true}
	interDER, err := x509.CreateCertificate(rand.Reader, interTmpl, root, interKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	rootKeyDER, err := x509.MarshalPKCS8PrivateKey(rootKey)
	if err != nil {
		t.Fatal(err)
	}
	interKeyDER, err := x509.MarshalPKCS8PrivateKey(interKey)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, blk := range []*pem.Block{{Type: "CERTIFICATE", Bytes: rootDER}, {Type: "PRIVATE KEY", Bytes: rootKeyDER},
		{Type: "CERTIFICATE", Bytes: interDER}, {Type: "PRIVATE KEY", Bytes: interKeyDER}} {
		b.Write(pem.EncodeToMemory(blk))
	}
	return b.Bytes()
}

// TestServeWithImportedRSAAndP384CA: `certgate ca import` of a corporate CA
// whose intermediate is RSA-2048 or ECDSA P-384 (with an RSA root), then
// `certgate serve` starts, and its own TLS certificate is signed by that
// intermediate with the matching algorithm and chains to the root.
// An Ed25519 intermediate is refused at import with one line.
func TestServeWithImportedRSAAndP384CA(t *testing.T) {
	rootKey, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		t.Fatal(err)
	}
	rsaInter, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384Inter, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		interKey crypto.Signer
		want     x509.SignatureAlgorithm
	}{
		{"rsa-2048", rsaInter, x509.SHA256WithRSA},
		{"ecdsa-p384", p384Inter, x509.ECDSAWithSHA384},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			if _, _, err := runCLI(t, corporateBundle(t, rootKey, tc.interKey), "ca", "import", "--data", data); err != nil {
				t.Fatalf("ca import: %v", err)
			}
			// The CLI as the operator runs it: it starts and serves.
			if err := serveCLI(t, "--data", data, "--listen", "127.0.0.1:0"); err != nil {
				t.Fatalf("serve: %v", err)
			}
			// And its HTTPS certificate, checked over TLS.
			srv, err := startNode(t, data, filepath.Join(data, "certgate.db"))
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			roots := x509.NewCertPool()
			roots.AddCert(srv.CA().Root())
			conn, err := tls.Dial("tcp", srv.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "localhost"})
			if err != nil {
				t.Fatalf("TLS with the imported root: %v", err)
			}
			leaf := conn.ConnectionState().PeerCertificates[0]
			conn.Close()
			if leaf.SignatureAlgorithm != tc.want {
				t.Errorf("server certificate signed %v, want %v", leaf.SignatureAlgorithm, tc.want)
			}
			if err := leaf.CheckSignatureFrom(srv.CA().Intermediate()); err != nil || !srv.CA().Intermediate().PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(tc.interKey.Public()) {
				t.Errorf("server certificate not signed by the imported intermediate: %v", err)
			}
		})
	}

	t.Run("ed25519 refused", func(t *testing.T) {
		_, edKey, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		data := filepath.Join(t.TempDir(), "data")
		_, _, err = runCLI(t, corporateBundle(t, rootKey, edKey), "ca", "import", "--data", data)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "intermediate key is Ed25519; accepted: "+local.AcceptedIntermediateKeys) {
			t.Fatalf("ca import of an Ed25519 intermediate: %v", err)
		}
		if ok, _ := local.Exists(server.CADir(data)); ok {
			t.Error("the refused import wrote a CA")
		}
	})
}
