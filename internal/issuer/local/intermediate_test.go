package local

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/certgate/certgate/internal/certlint"
	"github.com/certgate/certgate/internal/testenv/testca"
)

// wantSigAlg is the signature algorithm CA/B BR §7.1.3.2 pairs with an
// intermediate key of pub's type (RSA: sha256WithRSAEncryption; ECDSA
// P-256/P-384: ecdsa-with-SHA256/SHA384).
func wantSigAlg(t testing.TB, pub crypto.PublicKey) x509.SignatureAlgorithm {
	t.Helper()
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return x509.SHA256WithRSA
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return x509.ECDSAWithSHA256
		case elliptic.P384():
			return x509.ECDSAWithSHA384
		}
	}
	t.Fatalf("no BR signature algorithm for an intermediate key %T", pub)
	return 0
}

// rsa2052 is an RSA key whose modulus is not a multiple of 8 bits,
// generated once.
var rsa2052 = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2052) })

func mustKey(t testing.TB, name string) crypto.Signer {
	t.Helper()
	k, err := testKeys[name]()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newP384(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// recordingChecker lints like the CA's linter and keeps the last
// certificate it was given.
type recordingChecker struct {
	certChecker
	last []byte
}

func (r *recordingChecker) Check(der []byte) error {
	r.last = bytes.Clone(der)
	return r.certChecker.Check(der)
}

// TestIntermediateKeyTypes imports a CA whose intermediate has each key
// type BR §6.1.5 allows and checks that leaves (with and without the
// pre-issuance lint), the server's own certificate, CRLs and OCSP responses
// are signed with the matching algorithm, verify, and are lint clean; and
// that the linted certificate has exactly the TBS that was signed.
func TestIntermediateKeyTypes(t *testing.T) {
	for _, tc := range []struct {
		name              string
		rootKey, interKey func(t testing.TB) crypto.Signer
		want              x509.SignatureAlgorithm
	}{
		{"rsa-2048", func(t testing.TB) crypto.Signer { return mustKey(t, "rsa-4096") },
			func(t testing.TB) crypto.Signer { return mustKey(t, "rsa-2048-b") }, x509.SHA256WithRSA},
		{"ecdsa-p256", newP384, func(t testing.TB) crypto.Signer {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}, x509.ECDSAWithSHA256},
		{"ecdsa-p384", newP384, newP384, x509.ECDSAWithSHA384},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ca")
			if _, err := Import(dir, testca.Bundle(t, testNow, tc.rootKey(t), tc.interKey(t))); err != nil {
				t.Fatalf("Import: %v", err)
			}
			ca, err := LoadOrCreate(dir, Options{Now: fixedClock, LintBeforeSign: true, IssuerURL: testIssuerURL, CRLURL: testCRLURL})
			if err != nil {
				t.Fatalf("LoadOrCreate: %v", err)
			}
			rec := &recordingChecker{certChecker: ca.lint}
			ca.lint = rec
			inter := ca.Intermediate()
			ctx := context.Background()

			req := goodRequest(t)
			der, err := ca.SignLeaf(ctx, req)
			if err != nil {
				t.Fatalf("SignLeaf: %v", err)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			if cert.SignatureAlgorithm != tc.want {
				t.Errorf("leaf signature algorithm = %v, want %v", cert.SignatureAlgorithm, tc.want)
			}
			checkLeafProfile(t, ca, cert, req, "a.example.test", x509.KeyUsageDigitalSignature)
			verifyLeaf(t, ca, cert, req.DNSNames, nil, false)
			if err := certlint.Check(der); err != nil {
				t.Errorf("certlint: %v", err)
			}

			// What was linted is exactly what was signed, with the
			// intermediate's algorithm and a signature of its shape.
			linted, err := x509.ParseCertificate(rec.last)
			if err != nil {
				t.Fatalf("parse the linted certificate: %v", err)
			}
			if !bytes.Equal(linted.RawTBSCertificate, cert.RawTBSCertificate) {
				t.Error("the linted TBS differs from the signed TBS")
			}
			if linted.SignatureAlgorithm != tc.want {
				t.Errorf("linted signature algorithm = %v, want %v", linted.SignatureAlgorithm, tc.want)
			}
			if tc.want == x509.SHA256WithRSA {
				if len(linted.Signature) != len(cert.Signature) {
					t.Errorf("linted RSA signature of %d octets, the real one %d", len(linted.Signature), len(cert.Signature))
				}
			} else {
				var sig struct{ R, S *big.Int }
				if rest, err := asn1.Unmarshal(linted.Signature, &sig); err != nil || len(rest) != 0 || sig.R.Sign() <= 0 || sig.S.Sign() <= 0 {
					t.Errorf("linted ECDSA signature is not an Ecdsa-Sig-Value: %v", err)
				}
			}
			// ... and the TBS x509.CreateCertificate makes with the real key.
			plain := *ca
			plain.lint = nil
			der2, err := plain.SignLeaf(ctx, req)
			if err != nil {
				t.Fatalf("SignLeaf without lint: %v", err)
			}
			if !bytes.Equal(mustTBS(t, der2), cert.RawTBSCertificate) {
				t.Error("the lint-before-sign TBS differs from x509.CreateCertificate's")
			}

			srvCert, err := ca.ServerCertificate(context.Background(), testSerial(t), []string{"localhost"}, nil, 0)
			if err != nil {
				t.Fatalf("ServerCertificate: %v", err)
			}
			if srvCert.Leaf.SignatureAlgorithm != tc.want {
				t.Errorf("server certificate signature algorithm = %v", srvCert.Leaf.SignatureAlgorithm)
			}
			verifyLeaf(t, ca, srvCert.Leaf, []string{"localhost"}, nil, false)

			crlDER, err := ca.SignCRL(big.NewInt(1), testNow, testNow.Add(7*24*time.Hour),
				[]x509.RevocationListEntry{{SerialNumber: cert.SerialNumber, RevocationTime: testNow, ReasonCode: 1}})
			if err != nil {
				t.Fatalf("SignCRL: %v", err)
			}
			crl, err := x509.ParseRevocationList(crlDER)
			if err != nil {
				t.Fatal(err)
			}
			if err := crl.CheckSignatureFrom(inter); err != nil {
				t.Errorf("CRL signature: %v", err)
			}
			if crl.SignatureAlgorithm != tc.want {
				t.Errorf("CRL signature algorithm = %v", crl.SignatureAlgorithm)
			}
			if err := certlint.CheckCRL(crlDER); err != nil {
				t.Errorf("CRL certlint: %v", err)
			}

			this := testNow.Truncate(time.Second)
			ocspDER, err := ca.SignOCSP(ocsp.Response{SerialNumber: cert.SerialNumber, Status: ocsp.Good,
				ThisUpdate: this, NextUpdate: this.Add(24 * time.Hour), IssuerHash: crypto.SHA256})
			if err != nil {
				t.Fatalf("SignOCSP: %v", err)
			}
			r, err := ocsp.ParseResponseForCert(ocspDER, cert, inter) // verifies the signature
			if err != nil {
				t.Fatalf("OCSP response: %v", err)
			}
			if r.SignatureAlgorithm != tc.want {
				t.Errorf("OCSP signature algorithm = %v", r.SignatureAlgorithm)
			}
		})
	}
}

// TestIntermediateKeyRefused: an intermediate key BR §6.1.5 does not allow
// is refused by Import and, when the files are put in place by hand, by
// LoadOrCreate, with one line naming the key and what is accepted.
func TestIntermediateKeyRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  func(t testing.TB) crypto.Signer
		want string
	}{
		{"rsa-1024", func(t testing.TB) crypto.Signer { return mustKey(t, "rsa-1024") }, "intermediate key is RSA-1024"},
		{"rsa-2052", func(t testing.TB) crypto.Signer {
			k, err := rsa2052()
			if err != nil {
				t.Fatal(err)
			}
			return k
		}, "intermediate key is RSA-2052"},
		{"ecdsa-p521", func(t testing.TB) crypto.Signer { return mustKey(t, "ecdsa-p521") }, "intermediate key is ECDSA P-521"},
		{"ed25519", func(t testing.TB) crypto.Signer { return mustKey(t, "ed25519") }, "intermediate key is Ed25519"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle := testca.Bundle(t, testNow, newP384(t), tc.key(t))
			check := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, ErrInvalidCA) {
					t.Fatalf("%s: err = %v, want ErrInvalidCA", what, err)
				}
				msg := err.Error()
				if !strings.Contains(msg, tc.want) || !strings.Contains(msg, AcceptedIntermediateKeys) || strings.Contains(msg, "\n") {
					t.Errorf("%s: error %q, want one line with %q and %q", what, msg, tc.want, AcceptedIntermediateKeys)
				}
			}

			dst := filepath.Join(t.TempDir(), "ca")
			_, err := Import(dst, bundle)
			check("Import", err)
			if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a refused import left %s behind (%v)", dst, err)
			}

			dir := filepath.Join(t.TempDir(), "ca")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			for i, blk := range bundleBlocks(t, bundle) {
				writeFile(t, dir, []string{RootCertFile, RootKeyFile, IntermediateCertFile, IntermediateKeyFile}[i], pem.EncodeToMemory(blk))
			}
			_, err = LoadOrCreate(dir, Options{LintBeforeSign: true})
			check("LoadOrCreate", err)
		})
	}
}

// BenchmarkSignLeafIntermediateKeys: SignLeaf with the pre-issuance lint
// under an imported intermediate of each accepted key type.
func BenchmarkSignLeafIntermediateKeys(b *testing.B) {
	for _, tc := range []struct {
		name     string
		interKey func(t testing.TB) crypto.Signer
	}{
		{"rsa-2048", func(t testing.TB) crypto.Signer { return mustKey(t, "rsa-2048-b") }},
		{"ecdsa-p384", newP384},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "ca")
			if _, err := Import(dir, testca.Bundle(b, testNow, newP384(b), tc.interKey(b))); err != nil {
				b.Fatal(err)
			}
			ca, err := LoadOrCreate(dir, Options{Now: fixedClock, LintBeforeSign: true})
			if err != nil {
				b.Fatal(err)
			}
			benchSignLeaf(b, ca)
		})
	}
}
