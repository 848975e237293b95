package cmpupstream_test

import (
	"bufio"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testCA is a root CA and an intermediate CA it signed, made by the test:
// the CA whose certificates OpenSSL's mock CMP server returns.
type testCA struct {
	root, inter       *x509.Certificate
	rootKey, interKey *ecdsa.PrivateKey
	dir               string // where its files are written
}

// newKey is a fresh ECDSA P-256 key.
func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sign makes a certificate from tmpl for pub, signed by parent's key
// (tmpl itself when parent is nil: self-signed).
func sign(t *testing.T, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newTestCA makes a root and an intermediate, valid for a day.
func newTestCA(t *testing.T) *testCA {
	t.Helper()
	ca := &testCA{rootKey: newKey(t), interKey: newKey(t), dir: t.TempDir()}
	now := time.Now()
	ca.root = sign(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CMP Test Root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, nil, ca.rootKey.Public(), ca.rootKey)
	ca.inter = sign(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "CMP Test Issuing CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, ca.root, ca.interKey.Public(), ca.rootKey)
	return ca
}

// leaf issues a TLS server certificate for pub and names from the
// intermediate.
func (ca *testCA) leaf(t *testing.T, pub crypto.PublicKey, names ...string) *x509.Certificate {
	t.Helper()
	now := time.Now()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		t.Fatal(err)
	}
	return sign(t, &x509.Certificate{SerialNumber: serial.Add(serial, big.NewInt(1)), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(12 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca.inter, pub, ca.interKey)
}

// file writes certs as PEM to name in ca's directory and returns its path.
func (ca *testCA) file(t *testing.T, name string, certs ...*x509.Certificate) string {
	t.Helper()
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return writeFile(t, filepath.Join(ca.dir, name), b)
}

// writeFile writes b to path (mode 0600) and returns path.
func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// keyFile writes key as PKCS #8 PEM to path and returns path.
func keyFile(t *testing.T, path string, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// startMock runs OpenSSL's mock CMP server (`openssl cmp -port 0`) with
// args until the test ends and returns its URL on 127.0.0.1. openssl
// 3.0 cannot be told to listen on loopback only (it binds the wildcard
// address); the tests connect to 127.0.0.1 only.
func startMock(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("openssl", append([]string{"cmp", "-config", "", "-port", "0"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start openssl's mock CMP server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	r := bufio.NewReader(out)
	var seen []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("openssl's mock CMP server exited before it listened: %v\n%s", err, strings.Join(seen, ""))
		}
		seen = append(seen, line)
		if rest, ok := strings.CutPrefix(line, "ACCEPT "); ok {
			addr, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
			_, port, err := net.SplitHostPort(addr)
			if _, perr := strconv.Atoi(port); err != nil || perr != nil {
				t.Fatalf("mock CMP server: cannot read its port from %q", line)
			}
			go func() { _, _ = io.Copy(io.Discard, r) }() // keep its output flowing
			return "http://127.0.0.1:" + port + "/pkix/"
		}
	}
}

// closedPort returns the URL of a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/pkix/"
}
