package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/ocspresponder"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestOCSPImportedOfThisCASerialTaken: on both engines, an imported
// certificate of this CA whose serial another CA's certificate held in the
// inventory already (so it is stored under "SERIAL-FINGERPRINT16") is
// answered by OCSP for itself: good, then revoked once revoked through the
// RA, whose OnRevoke drops the cached good response at once. The former
// responder read the record of the bare serial, the other CA's, and
// answered unauthorized; and OnRevoke's key "SERIAL-FINGERPRINT16" matched
// no cached response.
func TestOCSPImportedOfThisCASerialTaken(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		iss, reg := crlIssuer(t, st, t.TempDir())
		now := time.Now().UTC().Truncate(time.Second)
		clock := func() time.Time { return now }
		inter := iss.CA.Intermediate()

		ours := signedLeaf(t, iss.CA, "taken.example.test", now)
		foreign := foreignLeafSerial(t, "foreign.example.test", ours.SerialNumber, now)
		inv := inventory.New(st, clock)
		for _, c := range []*x509.Certificate{foreign, ours} {
			if res, err := inv.ImportCertificates(ctx, []*x509.Certificate{c}); err != nil || len(res.Imported) != 1 {
				t.Fatalf("import %s: %+v, %v", c.Subject.CommonName, res, err)
			}
		}
		serial := ours.SerialNumber.Text(16)
		keys, err := st.CertificatesWithSerial(ctx, serial)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 2 || keys[0].Serial != serial || !strings.HasPrefix(keys[1].Serial, serial+"-") || keys[1].Issuer != inter.Subject.String() {
			t.Fatalf("records of serial %s: %d, want the foreign one under %s and ours under %s-FINGERPRINT16", serial, len(keys), serial, serial)
		}

		resp, err := ocspresponder.New(ocspresponder.Config{Path: "/ocsp", IssuerName: iss.Name(), Now: clock}, iss, st, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := askOCSP(t, resp, ours, inter); err != nil || got.Status != ocsp.Good {
			t.Fatalf("imported certificate of this CA stored under %s: OCSP %v, %v; want good", keys[1].Serial, ocspStatus(got), err)
		}
		r := ra.New(ra.Config{Profiles: reg, CRLRefresh: time.Minute, OnRevoke: resp.Invalidate}, st, nil, iss, clock, slog.New(slog.DiscardHandler))
		t.Cleanup(func() { r.Shutdown(ctx) })
		if _, err := r.RevokeSerial(ctx, keys[1].Serial, ocsp.Superseded, "test"); err != nil {
			t.Fatal(err)
		}
		if got, err := askOCSP(t, resp, ours, inter); err != nil || got.Status != ocsp.Revoked || got.RevocationReason != ocsp.Superseded {
			t.Errorf("after its revocation: OCSP %v, %v; want revoked (superseded), not the cached good", ocspStatus(got), err)
		}
	})
}

// foreignLeafSerial is a certificate for name with serial under a CA of
// its own.
func foreignLeafSerial(t *testing.T, name string, serial *big.Int, now time.Time) *x509.Certificate {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Foreign CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
