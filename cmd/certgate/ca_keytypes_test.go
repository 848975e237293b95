package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/testenv/testca"
)

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
			if _, _, err := runCLI(t, testca.Bundle(t, time.Now(), rootKey, tc.interKey), "ca", "import", "--data", data); err != nil {
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
		_, _, err = runCLI(t, testca.Bundle(t, time.Now(), rootKey, edKey), "ca", "import", "--data", data)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "intermediate key is Ed25519; accepted: "+local.AcceptedIntermediateKeys) {
			t.Fatalf("ca import of an Ed25519 intermediate: %v", err)
		}
		if ok, _ := local.Exists(server.CADir(data)); ok {
			t.Error("the refused import wrote a CA")
		}
	})
}
