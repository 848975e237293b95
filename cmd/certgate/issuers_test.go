package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/issuer/acmeupstream"
	"github.com/certgate/certgate/internal/issuer/cmpupstream"
	"github.com/certgate/certgate/internal/issuer/vaultpki"
)

// TestIssuerConnectors: the binary builds entries of every connector type
// of the issuers file, acme, cmp and vault (docs/issuers.md).
func TestIssuerConnectors(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "cmp.secret")
	if err := os.WriteFile(secret, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "issuers.yaml")
	body := "issuers:\n  - {name: up, type: acme, directory: 'https://ca.example.test/dir'}\n" +
		"  - {name: ejbca, type: cmp, server: 'http://127.0.0.1:8080/pkix/', ref: certgate, secretFile: '" + secret + "'}\n" +
		"  - {name: vault, type: vault, address: 'https://127.0.0.1:8200', role: web, tokenFile: '" + secret + "'}\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.Load(path, issuer.Env{Data: dir}, issuerConnectors()...)
	if err != nil || len(iss) != 3 {
		t.Fatalf("load: %v, %v", iss, err)
	}
	if _, ok := iss[0].(*acmeupstream.Issuer); !ok {
		t.Errorf("issuer up is %T, want an acmeupstream.Issuer", iss[0])
	}
	if _, ok := iss[1].(*cmpupstream.Issuer); !ok {
		t.Errorf("issuer ejbca is %T, want a cmpupstream.Issuer", iss[1])
	}
	if _, ok := iss[2].(*vaultpki.Issuer); !ok {
		t.Errorf("issuer vault is %T, want a vaultpki.Issuer", iss[2])
	}
}
