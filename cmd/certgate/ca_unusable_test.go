package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
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
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv/testca"
)

// editedBundle is a four-block `ca import` bundle of an enterprise CA
// (testca.BundleEdited) whose certificate templates edit changed.
func editedBundle(t *testing.T, edit func(root, inter *x509.Certificate)) []byte {
	t.Helper()
	rootKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testca.BundleEdited(t, time.Now(), rootKey, interKey, edit)
}

// TestCAImportRefusesUnusableIntermediate: `certgate ca import` refuses,
// in one line naming the intermediate and what it lacks, an intermediate
// whose keyUsage lacks keyCertSign (its leaves fail `openssl verify`) or
// cRLSign (every GET /pki/crl would fail), and one not valid now; it
// leaves no data directory behind. The former code imported them all.
func TestCAImportRefusesUnusableIntermediate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(root, inter *x509.Certificate)
		want string
	}{
		{"no keyCertSign", func(_, inter *x509.Certificate) {
			inter.KeyUsage = x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
		}, "without keyCertSign"},
		{"no cRLSign", func(_, inter *x509.Certificate) {
			inter.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
		}, "without cRLSign"},
		{"expired", func(_, inter *x509.Certificate) { inter.NotAfter = time.Now().Add(-time.Hour) }, "expired on"},
		{"not valid yet", func(_, inter *x509.Certificate) { inter.NotBefore = time.Now().Add(time.Hour) }, "is not valid yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			_, _, err := runCLI(t, editedBundle(t, tc.edit), "ca", "import", "--data", data)
			if err == nil {
				t.Fatal("ca import accepted it")
			}
			msg := err.Error()
			if !strings.Contains(msg, `the bundle's intermediate "CN=Example Corp Issuing CA,O=Example Corp"`) || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("ca import: %q, want one line naming the intermediate and %q", msg, tc.want)
			}
			if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("ca import left %s (%v)", data, err)
			}
		})
	}
}

// TestExpiredIntermediateWayOut: a data directory whose CA's intermediate
// has expired before the first start (imported while valid, or DATA/ca
// written by hand): certgate serve refuses, naming `certgate ca rotate`
// and --no-db for a start before the first; `certgate ca rotate` without
// --no-db refuses a missing database naming --no-db, and `ca rotate
// --no-db` makes a new intermediate (the former code refused with "no
// certgate database ... start certgate serve once", while serve pointed at
// ca rotate); then serve starts with it and records it.
func TestExpiredIntermediateWayOut(t *testing.T) {
	data := t.TempDir()
	caDir := server.CADir(data)
	if err := os.MkdirAll(caDir, 0o700); err != nil {
		t.Fatal(err)
	}
	blocks := pemBlocks(editedBundle(t, func(_, inter *x509.Certificate) { inter.NotAfter = time.Now().Add(-time.Hour) }))
	for i, name := range []string{local.RootCertFile, local.RootKeyFile, local.IntermediateCertFile, local.IntermediateKeyFile} {
		if err := os.WriteFile(filepath.Join(caDir, name), pem.EncodeToMemory(blocks[i]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, err := startNode(t, data, "")
	if !errors.Is(err, local.ErrIntermediateExpired) || !strings.Contains(err.Error(), "certgate ca rotate") || !strings.Contains(err.Error(), "before the first successful start, when there is no database yet, add --no-db") {
		t.Fatalf("serve with an expired intermediate: %v, want ErrIntermediateExpired naming certgate ca rotate", err)
	}
	t.Logf("serve: %v", err)
	if _, err := os.Stat(server.DSN(data, "")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the failed start left its database (%v): the test no longer covers a rotation without one", err)
	}
	// Without --no-db a missing database is an error (it may be a
	// mistyped --db, or a cluster node's --db left out), naming --no-db,
	// and DATA/ca is left as it was.
	interBefore, err := os.ReadFile(filepath.Join(caDir, local.IntermediateCertFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, nil, "ca", "rotate", "--data", data, "--pki-url", "http://localhost:8443"); err == nil ||
		!strings.Contains(err.Error(), "no certgate database at") || !strings.Contains(err.Error(), "give --no-db") {
		t.Fatalf("ca rotate without a database and without --no-db: %v, want refused naming --no-db", err)
	}
	if b, _ := os.ReadFile(filepath.Join(caDir, local.IntermediateCertFile)); string(b) != string(interBefore) {
		t.Fatal("a refused rotation changed the intermediate")
	}
	out, _, err := runCLI(t, nil, "ca", "rotate", "--data", data, "--no-db", "--pki-url", "http://localhost:8443")
	if err != nil {
		t.Fatalf("ca rotate --no-db without a database: %v", err)
	}
	if !strings.Contains(out, "no database yet") {
		t.Errorf("ca rotate printed %q, want it to say there is no database yet", out)
	}
	cur, err := local.ReadIntermediate(caDir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := startNode(t, data, "")
	if err != nil {
		t.Fatalf("serve after the rotation: %v", err)
	}
	if !srv.CA().Intermediate().Equal(cur) {
		t.Error("the server does not sign with the new intermediate")
	}
}

// TestCARotateNoDBRefusedWithDatabase: `ca rotate --no-db` is refused when
// the database exists (a rotation is then checked against it and
// recorded), and DATA/ca is left as it was.
func TestCARotateNoDBRefusedWithDatabase(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if _, _, err := runCLI(t, nil, "init", "--data", data); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), server.DSN(data, ""))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	caDir := server.CADir(data)
	before, err := os.ReadFile(filepath.Join(caDir, local.IntermediateCertFile))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, nil, "ca", "rotate", "--data", data, "--no-db")
	if err == nil || !strings.Contains(err.Error(), "--no-db: "+server.DSN(data, "")+" holds the certgate database: rotate with it (leave out --no-db)") {
		t.Fatalf("ca rotate --no-db with a database: %v, want refused", err)
	}
	if b, _ := os.ReadFile(filepath.Join(caDir, local.IntermediateCertFile)); string(b) != string(before) {
		t.Fatal("a refused rotation changed the intermediate")
	}
}
