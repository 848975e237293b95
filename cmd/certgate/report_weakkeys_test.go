package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/csv"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/testenv/testca"
)

// TestReportWeakKeysSaysWhy: `certgate report weak-keys` lists certificates
// for a short RSA key, an RSA key with the ROCA fingerprint (CVE-2017-15361;
// not listed by the former code) or a SHA-1 signature, and its table and
// CSV now say which (column WEAKNESS). They showed only the KEY column, so a CA root
// with an RSA 2048 key and a SHA-1 signature (an imported system bundle
// has dozens) looked listed by mistake.
func TestReportWeakKeysSaysWhy(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	files := t.TempDir()
	writeSelfSigned(t, filepath.Join(files, "weak.pem"), 0x53, 20, 1024, "legacy.example.org")
	writeSelfSigned(t, filepath.Join(files, "fine.pem"), 0x54, 20, 0, "fine.example.org")
	// An RSA 2048 certificate with a SHA-1 signature.
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x55), Subject: pkix.Name{CommonName: "sha1.example.org"},
		DNSNames: []string{"sha1.example.org"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(30 * 24 * time.Hour),
		SignatureAlgorithm: x509.SHA1WithRSA}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(files, "sha1.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	// An RSA 2048 certificate whose key has the ROCA fingerprint.
	roca := testca.ROCAKey(t)
	tmpl = &x509.Certificate{SerialNumber: big.NewInt(0x56), Subject: pkix.Name{CommonName: "roca.example.org"},
		DNSNames: []string{"roca.example.org"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(30 * 24 * time.Hour)}
	if der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &roca.PublicKey, roca); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(files, "roca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, nil, "cert", "import", "--data", data, files); err != nil {
		t.Fatal(err)
	}

	stdout, _, err := runCLI(t, nil, "report", "weak-keys", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 4 || !strings.HasSuffix(lines[0], "WEAKNESS") {
		t.Fatalf("weak-keys table:\n%s", stdout)
	}
	for _, want := range []string{"53 .*RSA key of 1024 bits \\(under 2048\\)$", "55 .*SHA1-RSA signature$",
		"56 .*RSA key with the ROCA fingerprint \\(CVE-2017-15361\\)$"} {
		found := false
		for _, l := range lines[1:] {
			if regexp.MustCompile(want).MatchString(l) {
				found = true
			}
		}
		if !found {
			t.Errorf("no line matching %q in\n%s", want, stdout)
		}
	}

	stdout, _, err = runCLI(t, nil, "report", "weak-keys", "--data", data, "--format", "csv")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil || len(recs) != 4 || recs[0][len(recs[0])-1] != "weakness" {
		t.Fatalf("weak-keys csv: %v\n%s", err, stdout)
	}

	// cert list keeps its columns.
	stdout, _, err = runCLI(t, nil, "cert", "list", "--data", data)
	if err != nil || strings.Contains(stdout, "WEAKNESS") {
		t.Fatalf("cert list: %v\n%s", err, stdout)
	}
}
