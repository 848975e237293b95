package hsm_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/certgate/certgate/internal/hsm"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/testenv/softhsm"
)

// These tests run against a real SoftHSM2 token (softhsm.Token fails them
// when SoftHSM2 is not installed).

const tokenLabel = "certgate-test"

func config(keyLabel string) hsm.Config {
	return hsm.Config{Module: softhsm.Module, TokenLabel: tokenLabel, Slot: -1, PIN: softhsm.PIN, KeyLabel: keyLabel}
}

// open opens the token of cfg and closes it at the end of the test.
func open(t *testing.T, cfg hsm.Config) *hsm.Token {
	t.Helper()
	tok, err := hsm.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tok.Close() })
	return tok
}

// TestIssueWithTokenKey: a CA whose intermediate's key is made in the
// token keeps no key file; loaded again, as a restart does, with the key
// found by its label, it signs a leaf that verifies up to the root, a CRL
// and an OCSP response that verify with the intermediate, for an ECDSA
// and an RSA key.
func TestIssueWithTokenKey(t *testing.T) {
	for _, kt := range []string{"ecdsa-p256", "rsa-2048"} {
		t.Run(kt, func(t *testing.T) {
			softhsm.Token(t, tokenLabel)
			cfg := config("issuing-" + kt)
			key, err := open(t, cfg).GenerateKey(kt)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "ca")
			if _, err := local.Create(dir, local.Options{IntermediateKey: key, IntermediateKeyName: cfg.KeyName()}); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, local.IntermediateKeyFile)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%s on disk: %v", local.IntermediateKeyFile, err)
			}
			// A restart: a new session, the key found by its label.
			key2, err := open(t, cfg).Key()
			if err != nil {
				t.Fatal(err)
			}
			ca, err := local.LoadOrCreate(dir, local.Options{LintBeforeSign: true, IntermediateKey: key2, IntermediateKeyName: cfg.KeyName(),
				IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl"})
			if err != nil {
				t.Fatal(err)
			}
			if !key2.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(ca.Intermediate().PublicKey) {
				t.Fatal("the intermediate does not certify the token's key")
			}
			checkSigns(t, ca)
		})
	}
}

// checkSigns has ca sign a leaf, a CRL and an OCSP response and verifies
// each with the intermediate (and the leaf's chain up to the root).
func checkSigns(t *testing.T, ca *local.CA) {
	t.Helper()
	now := time.Now()
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := local.RandomSerial()
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.SignLeaf(context.Background(), local.LeafRequest{Serial: serial, PublicKey: leafKey.Public(),
		DNSNames: []string{"www.example.test"}, NotBefore: now.Add(-time.Minute), NotAfter: now.Add(24 * time.Hour)})
	if err != nil {
		t.Fatalf("sign a leaf with the token's key: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca.Root())
	inters.AddCert(ca.Intermediate())
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: "www.example.test"}); err != nil {
		t.Fatalf("the leaf's chain does not verify: %v", err)
	}
	crlDER, err := ca.SignCRL(big.NewInt(7), now, now.Add(24*time.Hour), []x509.RevocationListEntry{{SerialNumber: serial, RevocationTime: now}})
	if err != nil {
		t.Fatalf("sign a CRL with the token's key: %v", err)
	}
	crl, err := x509.ParseRevocationList(crlDER)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca.Intermediate()); err != nil {
		t.Fatalf("the CRL's signature does not verify with the intermediate: %v", err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(serial) != 0 {
		t.Fatalf("CRL entries %v", crl.RevokedCertificateEntries)
	}
	resp, err := ca.SignOCSP(ocsp.Response{Status: ocsp.Good, SerialNumber: serial, ThisUpdate: now.Add(-time.Minute).Truncate(time.Second), NextUpdate: now.Add(time.Hour)})
	if err != nil {
		t.Fatalf("sign an OCSP response with the token's key: %v", err)
	}
	if r, err := ocsp.ParseResponse(resp, ca.Intermediate()); err != nil || r.Status != ocsp.Good {
		t.Fatalf("the OCSP response does not verify with the intermediate: %v", err)
	}
}

// TestOpenErrors: each failure to reach the key is one line naming the
// setting to correct.
func TestOpenErrors(t *testing.T) {
	softhsm.Token(t, tokenLabel)
	// Closed at once: while a Token of the process is logged in, the
	// module's login is shared and another Open's PIN is not checked.
	tok, err := hsm.Open(config("present"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = tok.GenerateKey("ecdsa-p256")
	tok.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(*hsm.Config)
		want string
	}{
		{"module missing", func(c *hsm.Config) { c.Module = "/nonexistent/libpkcs11.so" }, "pkcs11-module: /nonexistent/libpkcs11.so: no such file or directory"},
		{"module not a library", func(c *hsm.Config) { c.Module = "/etc/hostname" }, "pkcs11-module: /etc/hostname could not be loaded"},
		{"no such token", func(c *hsm.Config) { c.TokenLabel = "other" }, `pkcs11-token-label: the module ` + softhsm.Module + ` has no initialised token labelled "other"`},
		{"wrong PIN", func(c *hsm.Config) { c.PIN = "9999" }, `pkcs11-pin: the token "certgate-test" refused the PIN (CKR_PIN_INCORRECT)`},
		{"wrong PIN from a file", func(c *hsm.Config) { c.PIN, c.PINSetting = "9999", "pkcs11-pin-file /etc/certgate/pin" },
			`pkcs11-pin-file /etc/certgate/pin: the token "certgate-test" refused the PIN (CKR_PIN_INCORRECT)`},
		{"no such key", func(c *hsm.Config) { c.KeyLabel = "absent" }, `pkcs11-key-label "absent": the token "certgate-test" holds no key pair by that name`},
		{"no such key ID", func(c *hsm.Config) { c.KeyLabel, c.KeyID = "", []byte{0xfe} }, `pkcs11-key-id fe: the token "certgate-test" holds no key pair by that name`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := config("present")
			c.edit(&cfg)
			tok, err := hsm.Open(cfg)
			if err == nil {
				defer tok.Close()
				_, err = tok.Key()
			}
			if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v\nwant one line starting %q", err, c.want)
			}
		})
	}
	// The key that is there is found.
	if _, err := open(t, config("present")).Key(); err != nil {
		t.Fatal(err)
	}
	// And never made twice.
	if _, err := open(t, config("present")).GenerateKey("ecdsa-p256"); !errors.Is(err, hsm.ErrKeyExists) {
		t.Fatalf("GenerateKey of an existing label: %v, want ErrKeyExists", err)
	}
}

// TestKeyNotMatchingCertificate: a token key that is not the
// intermediate's is refused at load, naming the key setting, and so is a
// CA directory that still holds intermediate.key beside a token key.
func TestKeyNotMatchingCertificate(t *testing.T) {
	softhsm.Token(t, tokenLabel)
	cfg := config("other-key")
	key, err := open(t, cfg).GenerateKey("ecdsa-p256")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ca")
	if _, err := local.Create(dir, local.Options{}); err != nil { // its intermediate key in a file
		t.Fatal(err)
	}
	_, err = local.LoadOrCreate(dir, local.Options{IntermediateKey: key, IntermediateKeyName: cfg.KeyName()})
	if !errors.Is(err, local.ErrInvalidCA) || !strings.Contains(err.Error(), "holds "+local.IntermediateKeyFile+", but the intermediate's key is to be "+cfg.KeyName()) {
		t.Fatalf("a key file beside the token's key: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, local.IntermediateKeyFile)); err != nil {
		t.Fatal(err)
	}
	_, err = local.LoadOrCreate(dir, local.Options{IntermediateKey: key, IntermediateKeyName: cfg.KeyName()})
	want := `the key pkcs11-key-label "other-key" in the token "certgate-test" does not match ` + filepath.Join(dir, local.IntermediateCertFile)
	if !errors.Is(err, local.ErrInvalidCA) || !strings.Contains(err.Error(), want) {
		t.Fatalf("a token key not matching the certificate: %v\nwant %q", err, want)
	}
	// Without the settings, the missing key file names them.
	_, err = local.LoadOrCreate(dir, local.Options{})
	if !errors.Is(err, local.ErrPartialCA) || !strings.Contains(err.Error(), "give the pkcs11-* settings") {
		t.Fatalf("no key file, no token: %v", err)
	}
}

// TestTokenReopened: a token whose objects go away while it is open (its
// store moved aside, as when an HSM restarts or a USB token is pulled)
// fails Check and signatures, naming the key; once the token is back,
// Check and the next signature reopen it and sign with the same key
// again, without a new Open.
func TestTokenReopened(t *testing.T) {
	softhsm.Token(t, tokenLabel)
	cfg := config("issuing")
	tok := open(t, cfg)
	if _, err := tok.GenerateKey("ecdsa-p256"); err != nil {
		t.Fatal(err)
	}
	key, err := tok.Key()
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("to be signed"))
	sign := func() error {
		sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err == nil && !ecdsa.VerifyASN1(key.Public().(*ecdsa.PublicKey), digest[:], sig) {
			t.Fatal("the signature does not verify with the key's public key")
		}
		return err
	}
	if err := sign(); err != nil {
		t.Fatal(err)
	}
	if err := tok.Check(); err != nil {
		t.Fatalf("Check of a well token: %v", err)
	}
	stores, err := filepath.Glob(filepath.Join(filepath.Dir(os.Getenv("SOFTHSM2_CONF")), "tokens", "*"))
	if err != nil || len(stores) != 1 {
		t.Fatalf("token stores %v: %v", stores, err)
	}
	away := func(from, to string) {
		t.Helper()
		if err := os.Rename(from, to); err != nil {
			t.Fatal(err)
		}
	}
	// Out of the token directory: SoftHSM finds a token in any directory in it.
	aside := filepath.Join(t.TempDir(), "aside")
	away(stores[0], aside)
	if err := sign(); err == nil || !strings.Contains(err.Error(), `pkcs11-key-label "issuing"`) {
		t.Errorf("sign with the token gone: %v, want an error naming the key", err)
	}
	if err := tok.Check(); err == nil {
		t.Error("Check with the token gone: no error")
	}
	away(aside, stores[0])
	if err := sign(); err != nil {
		t.Errorf("sign with the token back: %v", err)
	}

	// Once more, with Check (a readiness probe) noticing first.
	away(stores[0], aside)
	if err := tok.Check(); err == nil {
		t.Error("Check with the token gone again: no error")
	}
	away(aside, stores[0])
	if err := tok.Check(); err != nil {
		t.Errorf("Check with the token back: %v", err)
	}
	if err := sign(); err != nil {
		t.Errorf("sign after Check: %v", err)
	}
}
