package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestCertRevokeKeyCompromiseImportedOfThisCA: `certgate cert revoke
// --reason keyCompromise` of an imported certificate of the data
// directory's CA also revokes the other imported certificate of this CA
// with the key, as the server does (it reads DATA/ca/intermediate.crt),
// and names it; a self-signed certificate with the key (another CA's)
// stays valid, named on a third line. The former command revoked only certificates of source
// issued with the key.
func TestCertRevokeKeyCompromiseImportedOfThisCA(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	ca, err := local.LoadOrCreate(server.CADir(data), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	files := t.TempDir()
	now := time.Now()
	write := func(name string, der []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(files, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var ours []*big.Int
	for _, name := range []string{"a.example.test", "b.example.test"} {
		serial, err := local.RandomSerial()
		if err != nil {
			t.Fatal(err)
		}
		der, err := ca.SignLeaf(context.Background(), local.LeafRequest{Serial: serial, PublicKey: key.Public(), DNSNames: []string{name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		write(name, der)
		ours = append(ours, serial)
	}
	self := &x509.Certificate{SerialNumber: big.NewInt(0x77), Subject: pkix.Name{CommonName: "self.example.test"}, DNSNames: []string{"self.example.test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, self, self, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	write("self", der)
	if _, _, err := runCLI(t, nil, "cert", "import", "--data", data, files); err != nil {
		t.Fatal(err)
	}

	a, b := ours[0].Text(16), ours[1].Text(16)
	stdout, _, err := runCLI(t, nil, "cert", "revoke", "--data", data, a, "--reason", "keyCompromise")
	want := fmt.Sprintf("revoked %s (keyCompromise)\nblocked its key and revoked 1 other certificate(s) with it for keyCompromise: %s\n"+
		"1 certificate(s) of other CAs in the inventory have the key and stay valid (revoke them with their CA): 77\n", a, b)
	if err != nil || stdout != want {
		t.Fatalf("cert revoke: %v\n%q\nwant\n%q", err, stdout, want)
	}
	st := storetest.OpenDSN(t, server.DSN(data, ""))
	for serial, status := range map[string]string{a: "revoked", b: "revoked", "77": "valid"} {
		c, err := st.GetCertificate(context.Background(), serial)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != status {
			t.Errorf("certificate %s: %s, want %s", serial, c.Status, status)
		}
	}
}
