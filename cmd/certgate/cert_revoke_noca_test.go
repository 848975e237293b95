package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv"
	"github.com/certgate/certgate/internal/wfe"
)

// TestCertRevokeKeyCompromiseNeedsTheCA: `certgate cert revoke --db URL`
// run with a --data that lacks the server's CA (another machine) refuses
// --reason keyCompromise in one line naming the missing file, and
// records nothing: it revoked the certificate and left the other imported
// certificate of this CA with the key valid, naming it among the
// certificates of "other CAs" to revoke "with their CA". So is a --data
// holding another CA than the database's refused. Other reasons need no
// CA: the revocation is recorded, and the server's CRL, signed from the
// database, lists it; with the server's --data, keyCompromise revokes both
// certificates of this CA with the key.
func TestCertRevokeKeyCompromiseNeedsTheCA(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	env := testenv.NewWithOptions(t, testenv.Options{DB: dsn})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	files := t.TempDir()
	now := time.Now()
	var serials []string
	for i, k := range []*ecdsa.PrivateKey{key, key, other} {
		serial, err := local.RandomSerial()
		if err != nil {
			t.Fatal(err)
		}
		der, err := env.Server.CA().SignLeaf(context.Background(), local.LeafRequest{Serial: serial, PublicKey: k.Public(),
			DNSNames: []string{fmt.Sprintf("n%d.example.test", i)}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(files, serial.Text(16)+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
			t.Fatal(err)
		}
		serials = append(serials, serial.Text(16))
	}
	a, b, c := serials[0], serials[1], serials[2]
	noCA := t.TempDir() // another machine's data directory: no CA
	if _, _, err := runCLI(t, nil, "cert", "import", files, "--db", dsn, "--data", noCA); err != nil {
		t.Fatal(err)
	}
	st := env.Server.Store()
	status := func(serial string) string {
		t.Helper()
		cs, err := st.CertificatesWithSerial(context.Background(), serial)
		if err != nil || len(cs) != 1 {
			t.Fatalf("certificate %s: %v, %v", serial, cs, err)
		}
		return cs[0].Status
	}

	_, _, err = runCLI(t, nil, "cert", "revoke", a, "--reason", "keyCompromise", "--db", dsn, "--data", noCA)
	want := "--reason keyCompromise also revokes the imported certificates of this server's CA that have the key, which needs the CA's certificate, and " +
		filepath.Join(noCA, "ca", "intermediate.crt") + " does not exist: pass the server's --data (ca/root.crt and ca/intermediate.crt are read, no key)"
	if err == nil || err.Error() != want {
		t.Fatalf("keyCompromise without the CA: %v\nwant %s", err, want)
	}
	another := t.TempDir()
	if _, err := local.LoadOrCreate(server.CADir(another), local.Options{}); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, nil, "cert", "revoke", a, "--reason", "keyCompromise", "--db", dsn, "--data", another)
	if err == nil || !strings.Contains(err.Error(), "holds another CA") || !strings.Contains(err.Error(), "than the database's") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("keyCompromise with another CA: %v, want one line refusing", err)
	}
	if s1, s2 := status(a), status(b); s1 != "valid" || s2 != "valid" {
		t.Fatalf("after the refusals: %s %s, %s %s; want both valid", a, s1, b, s2)
	}
	h, err := store.KeyHash(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetBlockedKey(context.Background(), h); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused revocations blocked the key: %v", err)
	}

	// Another reason needs no CA.
	out, _, err := runCLI(t, nil, "cert", "revoke", c, "--reason", "superseded", "--db", dsn, "--data", noCA)
	issuerDN := env.Server.CA().Intermediate().Subject.String()
	// Without the CA the command cannot tell this CA's imported certificate
	// from another CA's, and says so.
	note := "if another CA issued it (issuer " + issuerDN + "; " + filepath.Join(noCA, "ca") +
		" has no CA certificate to tell), the revocation is recorded in the inventory only: only that CA can revoke it\n"
	if err != nil || out != "revoked "+c+" (superseded)\n"+note || status(c) != "revoked" {
		t.Fatalf("superseded without the CA: %v %q", err, out)
	}
	// With the server's data directory, both certificates of this CA with
	// the key are revoked.
	out, _, err = runCLI(t, nil, "cert", "revoke", a, "--reason", "keyCompromise", "--db", dsn, "--data", env.Config.Data)
	if err != nil || out != "revoked "+a+" (keyCompromise)\nblocked its key and revoked 1 other certificate(s) with it for keyCompromise: "+b+"\n" {
		t.Fatalf("keyCompromise with the CA: %v\n%q", err, out)
	}
	// The server's CRL (signed on its first request, from the database)
	// lists the three.
	res, err := env.HTTPClient.Get(env.BaseURL + wfe.CRLPath)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	der, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("CRL: %v", err)
	}
	listed := map[string]bool{}
	for _, e := range crl.RevokedCertificateEntries {
		listed[e.SerialNumber.Text(16)] = true
	}
	for _, s := range []string{a, b, c} {
		if !listed[s] {
			t.Errorf("the CRL does not list %s (listed: %v)", s, listed)
		}
	}
}
