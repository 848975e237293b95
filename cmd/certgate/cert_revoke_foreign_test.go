package main

import (
	"path/filepath"
	"testing"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
)

// TestCertRevokeSaysAnotherCAsCertificateStaysValidThere: `cert revoke` of
// an imported certificate that the built-in CA did not sign says that the
// revocation is recorded in the inventory only (certgate cannot revoke at
// another CA; its CRL leaves the certificate out and OCSP answers
// unauthorized). It printed "revoked SERIAL (REASON)" alone, as for a
// certificate it had revoked.
func TestCertRevokeSaysAnotherCAsCertificateStaysValidThere(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if _, err := local.LoadOrCreate(server.CADir(data), local.Options{}); err != nil {
		t.Fatal(err)
	}
	initDataDir(t, data)
	files := t.TempDir()
	writeSelfSigned(t, filepath.Join(files, "other.pem"), 0x71, 30, 0, "other.example.com")
	if _, _, err := runCLI(t, nil, "cert", "import", "--data", data, files); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, nil, "cert", "revoke", "--data", data, "71", "--reason", "superseded")
	want := "revoked 71 (superseded)\n" +
		"recorded in the inventory only: another CA (issuer CN=other.example.com) issued it, and only that CA can revoke it\n"
	if err != nil || out != want {
		t.Fatalf("cert revoke: %v\n%q\nwant %q", err, out, want)
	}
}
