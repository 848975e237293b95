package store_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv/testca"
)

// rsaCert is an imported certificate record with serial s whose DER is a
// self-signed certificate for key (RSA 2048, SHA256-RSA).
func rsaCert(t *testing.T, s string, key *rsa.PrivateKey) *store.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: s + ".example.test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 24 * time.Hour), DNSNames: []string{s + ".example.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c := invCert(s, 10, s+".example.test")
	c.DER, c.KeyType, c.KeyBits, c.SignatureAlgorithm = der, "RSA 2048", 2048, "SHA256-RSA"
	return c
}

// TestWeakKeysROCA: on both engines, the weak-keys query (CertQuery.Weak)
// lists a certificate whose RSA 2048 key has the ROCA fingerprint
// (CVE-2017-15361) and reads it back as KeyROCA, and leaves out one with a
// sound RSA 2048 key; a row stored before the Go migration 23 (key_roca
// NULL) is checked by it when the database is next opened. The
// former query selected RSA keys under 2048 bits and SHA-1/MD5 signatures
// only, so the ROCA key was not reported.
func TestWeakKeysROCA(t *testing.T) {
	roca := testca.ROCAKey(t)
	sound, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		dsn := e.NewDSN(t)
		s, err := store.Open(ctx, dsn)
		must(t, err)
		must(t, s.InsertCertificates(ctx, []*store.Certificate{rsaCert(t, "0a", roca), rsaCert(t, "0b", sound), invCert("0c", 10, "ec.example.test")}))
		wantSerials(t, "weak", search(t, s, store.CertQuery{Weak: true}), "0a")
		for serial, want := range map[string]bool{"0a": true, "0b": false, "0c": false} {
			if c, err := s.GetCertificate(ctx, serial); err != nil || c.KeyROCA != want {
				t.Fatalf("certificate %s: KeyROCA %v, %v; want %v", serial, c.KeyROCA, err, want)
			}
		}

		must(t, store.ForgetKeyROCA(ctx, s))
		wantSerials(t, "weak before the backfill", search(t, s, store.CertQuery{Weak: true}))
		must(t, s.Close())
		s = storetest.OpenDSN(t, dsn) // applies migration 23
		wantSerials(t, "weak after the backfill", search(t, s, store.CertQuery{Weak: true}), "0a")
	})
}
