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
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestCertRevokeKeyCompromiseLeavesUpstreamCertificates: on both engines,
// `certgate cert revoke --reason keyCompromise` of a certificate of the
// built-in CA leaves the key's certificate issued through an upstream CA
// (source issued under the upstream's name) valid and names it on the line
// of other CAs' certificates, not among those revoked with it: the
// revocation would not reach the upstream. Raising an upstream
// certificate's earlier reason to keyCompromise without the server's
// --issuers-file is refused like any revocation of it, and changes
// nothing. The former command recorded both in the inventory only.
func TestCertRevokeKeyCompromiseLeavesUpstreamCertificates(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, e storetest.Engine) {
		data := filepath.Join(t.TempDir(), "data")
		dsn, db := server.DSN(data, ""), []string{"--data", data}
		if e.Name == store.EnginePostgres {
			dsn = storetest.PostgresDSN(t)
			db = append(db, "--db", dsn)
		}
		st := storetest.OpenDSN(t, dsn)
		ctx := context.Background()
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		record := func(serial int64, issuer string) *store.Certificate {
			t.Helper()
			name := fmt.Sprintf("n%x.example.test", serial)
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
				NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour)}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			c := inventory.Record(leaf, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), store.SourceIssued)
			c.Issuer, c.CreatedAt = issuer, now
			return c
		}
		ours, up, upSuperseded := record(0xa1, "local"), record(0xb1, "upstream-pebble"), record(0xb2, "upstream-pebble")
		if err := st.InsertCertificates(ctx, []*store.Certificate{ours, up, upSuperseded}); err != nil {
			t.Fatal(err)
		}
		if err := st.RevokeCertificate(ctx, "b2", 4, now); err != nil { // superseded, as the upstream was told
			t.Fatal(err)
		}

		stdout, _, err := runCLI(t, nil, append([]string{"cert", "revoke", "a1", "--reason", "keyCompromise"}, db...)...)
		want := "revoked a1 (keyCompromise)\nblocked its key; no other valid certificate issued here has it\n" +
			"1 certificate(s) of other CAs in the inventory have the key and stay valid (revoke them with their CA): b1\n"
		if err != nil || stdout != want {
			t.Fatalf("cert revoke a1: %v\n%q\nwant\n%q", err, stdout, want)
		}
		_, _, err = runCLI(t, nil, append([]string{"cert", "revoke", "b2", "--reason", "keyCompromise"}, db...)...)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "was issued by upstream CA upstream-pebble, which --issuers-file does not configure") {
			t.Errorf("keyCompromise of the superseded upstream certificate without --issuers-file: %v; want refused naming the upstream", err)
		}
		for serial, want := range map[string]struct {
			status string
			reason int
		}{"a1": {"revoked", 1}, "b1": {"valid", 0}, "b2": {"revoked", 4}} {
			c, err := st.GetCertificate(ctx, serial)
			if err != nil {
				t.Fatal(err)
			}
			if c.Status != want.status || c.RevocationReason != want.reason {
				t.Errorf("certificate %s (issuer %s): %s reason %d, want %s reason %d", serial, c.Issuer, c.Status, c.RevocationReason, want.status, want.reason)
			}
		}
	})
}
