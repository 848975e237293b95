package server

import (
	"bytes"
	"context"
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
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestTLSCA is a CA that issues tls-cert pairs in tests (exported for the
// external tests of this package).
type TestTLSCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	// Pool trusts the CA; PEM is its certificate.
	Pool *x509.CertPool
	PEM  []byte
}

// NewTestTLSCA makes a CA for tls-cert tests.
func NewTestTLSCA(t testing.TB) *TestTLSCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Enterprise Test Root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &TestTLSCA{cert: c, key: key, Pool: pool, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Pair issues a leaf for localhost, 127.0.0.1 and ::1 valid from nb to
// na, with a key of kind (ecdsa-sec1, ecdsa-pkcs8, rsa-pkcs1, rsa-pkcs8,
// ed25519), and returns the chain (leaf, CA) and the key in PEM, and the
// leaf.
func (ca *TestTLSCA) Pair(t testing.TB, kind string, nb, na time.Time) (certPEM, keyPEM []byte, leaf *x509.Certificate) {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	return ca.pairSerial(t, kind, serial, nb, na)
}

// pairSerial is Pair with the leaf's serial given.
func (ca *TestTLSCA) pairSerial(t testing.TB, kind string, serial *big.Int, nb, na time.Time) (certPEM, keyPEM []byte, leaf *x509.Certificate) {
	t.Helper()
	var key crypto.Signer
	var keyBlock *pem.Block
	var err error
	switch kind {
	case "ecdsa-sec1", "ecdsa-pkcs8":
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		key = k
		if kind == "ecdsa-sec1" {
			b, _ := x509.MarshalECPrivateKey(k)
			keyBlock = &pem.Block{Type: "EC PRIVATE KEY", Bytes: b}
		}
	case "rsa-pkcs1", "rsa-pkcs8":
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		key = k
		if kind == "rsa-pkcs1" {
			keyBlock = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
		}
	case "ed25519":
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		key = k
	default:
		t.Fatalf("key kind %q", kind)
	}
	if keyBlock == nil {
		b, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		keyBlock = &pem.Block{Type: "PRIVATE KEY", Bytes: b}
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore: nb, NotAfter: na, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ = x509.ParseCertificate(der)
	certPEM = append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.PEM...)
	return certPEM, pem.EncodeToMemory(keyBlock), leaf
}

// ValidPair is Pair of an ECDSA (SEC 1) key valid from an hour ago for a day.
func (ca *TestTLSCA) ValidPair(t testing.TB) (certPEM, keyPEM []byte, leaf *x509.Certificate) {
	return ca.Pair(t, "ecdsa-sec1", time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
}

func writeTestFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLoadOwnCertKeyTypes: tls-key may hold an RSA key (PKCS#1 or
// PKCS#8), an ECDSA key (SEC 1 or PKCS#8) or an Ed25519 key (PKCS#8); the
// pair keeps the whole chain of tls-cert.
func TestLoadOwnCertKeyTypes(t *testing.T) {
	ca := NewTestTLSCA(t)
	dir := t.TempDir()
	for _, kind := range []string{"ecdsa-sec1", "ecdsa-pkcs8", "rsa-pkcs1", "rsa-pkcs8", "ed25519"} {
		certPEM, keyPEM, leaf := ca.Pair(t, kind, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		cf := writeTestFile(t, filepath.Join(dir, kind+".crt"), certPEM)
		kf := writeTestFile(t, filepath.Join(dir, kind+".key"), keyPEM)
		o, err := loadOwnCert(cf, kf, time.Now())
		if err != nil {
			t.Errorf("%s: %v", kind, err)
			continue
		}
		if !o.cert.Leaf.Equal(leaf) || len(o.cert.Certificate) != 2 {
			t.Errorf("%s: loaded leaf %s with %d certificates, want the given leaf and its CA", kind, o.cert.Leaf.Subject, len(o.cert.Certificate))
		}
		// The key and certificate in one file serve as both.
		both := writeTestFile(t, filepath.Join(dir, kind+".pem"), append(append([]byte{}, keyPEM...), certPEM...))
		if _, err := loadOwnCert(both, both, time.Now()); err != nil {
			t.Errorf("%s, key and chain in one file: %v", kind, err)
		}
	}
}

// TestLoadOwnCertErrors: each problem with tls-cert or tls-key is one line
// naming the setting, the file and what is wrong, without Go internals. A
// chain cut short (the leaf whole, the intermediate being written) was
// served without its intermediate.
func TestLoadOwnCertErrors(t *testing.T) {
	ca := NewTestTLSCA(t)
	dir := t.TempDir()
	now := time.Now()
	certPEM, keyPEM, _ := ca.ValidPair(t)
	_, otherKey, _ := ca.ValidPair(t)
	expired, expiredKey, _ := ca.Pair(t, "ecdsa-sec1", now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	future, futureKey, _ := ca.Pair(t, "ecdsa-sec1", now.Add(24*time.Hour), now.Add(48*time.Hour))
	cert := writeTestFile(t, filepath.Join(dir, "cert.pem"), certPEM)
	key := writeTestFile(t, filepath.Join(dir, "key.pem"), keyPEM)
	encrypted := writeTestFile(t, filepath.Join(dir, "enc.key"), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0}}))
	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"cert missing", filepath.Join(dir, "nope.pem"), key, "tls-cert: " + dir + "/nope.pem does not exist"},
		{"key missing", cert, filepath.Join(dir, "nope.key"), "tls-key: " + dir + "/nope.key does not exist"},
		{"cert a directory", dir, key, "tls-cert: " + dir + " is a directory, not a PEM file"},
		{"cert not a path", cert + "/x", key, "tls-cert: " + cert + "/x cannot be read: not a directory"},
		{"no certificate", key, key, "tls-cert: " + key + " holds no certificate (a PEM block \"BEGIN CERTIFICATE\")"},
		{"empty cert file", writeTestFile(t, filepath.Join(dir, "empty.pem"), nil), key, "tls-cert: " + dir + "/empty.pem holds no certificate"},
		{"no key", cert, cert, "tls-key: " + cert + " holds no private key"},
		{"key of another certificate", cert, writeTestFile(t, filepath.Join(dir, "other.key"), otherKey),
			"tls-key: " + dir + "/other.key is not the key of the certificate in tls-cert " + cert + " (localhost, sha256 "},
		{"expired", writeTestFile(t, filepath.Join(dir, "expired.pem"), expired), writeTestFile(t, filepath.Join(dir, "expired.key"), expiredKey),
			"tls-cert: " + dir + "/expired.pem: the certificate (localhost, sha256 "},
		{"not yet valid", writeTestFile(t, filepath.Join(dir, "future.pem"), future), writeTestFile(t, filepath.Join(dir, "future.key"), futureKey),
			"is not valid before"},
		{"encrypted key", cert, encrypted, "tls-key: " + encrypted + " holds an encrypted private key: give it unencrypted"},
		{"leaf not first", writeTestFile(t, filepath.Join(dir, "reversed.pem"), reversePEM(t, certPEM)), key,
			"tls-cert: " + dir + "/reversed.pem: the key of tls-key " + key + " is that of certificate 2 (localhost, sha256 "},
		{"chain cut short", writeTestFile(t, filepath.Join(dir, "cut.pem"), certPEM[:len(certPEM)-100]), key,
			"tls-cert: " + dir + "/cut.pem ends in an incomplete PEM block"},
		{"garbage certificate", writeTestFile(t, filepath.Join(dir, "bad.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})), key,
			"tls-cert: " + dir + "/bad.pem: certificate 1 is not a valid X.509 certificate"},
	} {
		_, err := loadOwnCert(tc.cert, tc.key, now)
		if err == nil {
			t.Errorf("%s: loaded", tc.name)
			continue
		}
		msg := err.Error()
		if strings.HasSuffix(tc.want, "does not exist") && msg != tc.want {
			t.Errorf("%s: error %q, want %q", tc.name, msg, tc.want)
		}
		if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") || strings.Contains(msg, "*") || strings.Contains(msg, "open ") {
			t.Errorf("%s: error %q, want one line containing %q", tc.name, msg, tc.want)
		}
	}
	if _, err := loadOwnCert(filepath.Join(dir, "nope.pem"), key, now); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v does not wrap os.ErrNotExist", err)
	}
	if _, err := loadOwnCert(filepath.Join(dir, "expired.pem"), filepath.Join(dir, "expired.key"), now); err == nil || !strings.Contains(err.Error(), "expired on ") {
		t.Errorf("expired: %v", err)
	}
}

// TestNewRefusesBadTLSFiles: a tls-cert/tls-key pair that fails its checks
// stops the start with that one line, before anything is created.
func TestNewRefusesBadTLSFiles(t *testing.T) {
	ca := NewTestTLSCA(t)
	dir := t.TempDir()
	certPEM, _, _ := ca.ValidPair(t)
	_, otherKey, _ := ca.ValidPair(t)
	cfg := testServeConfig(filepath.Join(dir, "data"))
	cfg.TLSCert = writeTestFile(t, filepath.Join(dir, "cert.pem"), certPEM)
	cfg.TLSKey = writeTestFile(t, filepath.Join(dir, "key.pem"), otherKey)
	_, err := New(context.Background(), cfg, Options{}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.HasPrefix(err.Error(), "tls-key: "+cfg.TLSKey+" is not the key of the certificate in tls-cert") {
		t.Fatalf("New: %v", err)
	}
	if _, err := os.Stat(cfg.Data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data directory after the refused start: %v", err)
	}
}

// logBuffer collects log output.
type logBuffer struct{ bytes.Buffer }

// TestServerCertRenewalFailureKeepsCurrent: when renewing the built-in
// CA's listener certificate fails, handshakes went on failing (each one
// trying again) although the current certificate had two weeks left. The
// server now logs an ERROR, serves the current certificate until it
// expires, and tries again after renewRetryDelay; then it renews.
func TestServerCertRenewalFailureKeepsCurrent(t *testing.T) {
	ca := NewTestTLSCA(t)
	clock := time.Now()
	var fail bool
	calls := 0
	issue := func(_ context.Context, serial *big.Int, dns []string, ips []net.IP, validity time.Duration) (tls.Certificate, error) {
		calls++
		if fail {
			return tls.Certificate{}, errors.New("local CA: server certificate: the signing key is unavailable")
		}
		certPEM, keyPEM, _ := ca.pairSerial(t, "ecdsa-sec1", serial, clock.Add(-time.Minute), clock.Add(validity-time.Minute))
		return tls.X509KeyPair(certPEM, keyPEM)
	}
	var logs logBuffer
	s := &Server{cfg: &config.Serve{Hostname: "localhost", Data: t.TempDir()}, log: slog.New(slog.NewTextHandler(&logs, nil)),
		store: storetest.Engines()[0].Open(t), now: func() time.Time { return clock }, issueServerCert: issue}
	if err := s.startListenerCert(context.Background()); err != nil {
		t.Fatal(err)
	}
	first, err := s.certificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	// A third of its life left: renewal is due, and fails.
	clock = clock.Add(serverCertValidity - serverCertValidity/3 + time.Hour)
	fail = true
	for i := range 3 {
		c, err := s.certificate(nil)
		if err != nil {
			t.Fatalf("handshake %d with renewal failing: %v", i, err)
		}
		if c != first {
			t.Fatalf("handshake %d: not the current certificate", i)
		}
	}
	if calls != 2 {
		t.Errorf("renewal tried %d times for 3 handshakes within %s, want once", calls-1, renewRetryDelay)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "the signing key is unavailable") {
		t.Errorf("no ERROR line naming the failure:\n%s", logs.String())
	}
	// After the retry delay, the next handshake tries again and renews.
	clock = clock.Add(renewRetryDelay)
	fail = false
	c, err := s.certificate(nil)
	if err != nil || c == first || !c.Leaf.NotAfter.After(first.Leaf.NotAfter) {
		t.Fatalf("after the retry delay: %v, renewed %v", err, c != first)
	}
	if !strings.Contains(logs.String(), "renewed the server TLS certificate") {
		t.Errorf("no line on the renewal:\n%s", logs.String())
	}
	// Expired and not renewable: the handshake fails, and is not retried at
	// each handshake.
	clock = clock.Add(serverCertValidity)
	fail = true
	calls = 0
	for range 3 {
		if _, err := s.certificate(nil); err == nil {
			t.Fatal("an expired certificate served")
		}
	}
	if calls != 1 {
		t.Errorf("renewal tried %d times for 3 handshakes within %s, want once", calls, renewRetryDelay)
	}
}

// reversePEM returns the PEM blocks of b in the opposite order.
func reversePEM(t *testing.T, b []byte) []byte {
	t.Helper()
	var blocks []*pem.Block
	for rest := b; ; {
		var p *pem.Block
		if p, rest = pem.Decode(rest); p == nil {
			break
		}
		blocks = append([]*pem.Block{p}, blocks...)
	}
	var out []byte
	for _, p := range blocks {
		out = append(out, pem.EncodeToMemory(p)...)
	}
	return out
}
