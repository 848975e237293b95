package ra_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/ocspresponder"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestImportedCertificateOfThisCARevoked: a certificate this CA's
// intermediate signed that entered the inventory by import (restored from a
// backup, issued before a database migration) and is then revoked through
// certgate is on the intermediate's CRL and answered revoked by OCSP (good
// before), on both engines. A certificate of another key that carries the
// intermediate's name as its issuer (and its authority key identifier) is
// on neither (OCSP: unauthorized, as for any serial this CA did not
// issue); RevokeSerial says the impostor's revocation is recorded in the
// inventory only (Revocation.InventoryOnly), the others' not. The former code stored the imported one under its issuer DN
// and read only the records of the issuer name "local", so the CRL left it
// out and OCSP answered unknown.
func TestImportedCertificateOfThisCARevoked(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		dir := t.TempDir()
		iss, reg := crlIssuer(t, st, dir)
		now := time.Now().UTC().Truncate(time.Second)
		clock := func() time.Time { return now }
		inter := iss.CA.Intermediate()

		ours := signedLeaf(t, iss.CA, "restored.example.test", now)
		impostor := impostorLeaf(t, inter, "impostor.example.test", now)
		inv := inventory.New(st, clock)
		for _, c := range []*x509.Certificate{ours, impostor} {
			res, err := inv.ImportCertificates(ctx, []*x509.Certificate{c})
			if err != nil || len(res.Imported) != 1 {
				t.Fatalf("import %s: %+v, %v", c.Subject.CommonName, res, err)
			}
		}
		insertIssuedRecord(t, st, iss, "155ed", "issued.example.test", now)

		before, err := ocspresponder.New(ocspresponder.Config{Path: "/ocsp", IssuerName: iss.Name(), Now: clock}, iss, st, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := askOCSP(t, before, ours, inter); err != nil || got.Status != ocsp.Good {
			t.Errorf("imported certificate of this CA before its revocation: OCSP %+v, %v; want good", got, err)
		}
		r := ra.New(ra.Config{Profiles: reg, CRLRefresh: time.Minute}, st, nil, iss, clock, slog.New(slog.DiscardHandler))
		t.Cleanup(func() { r.Shutdown(ctx) })
		for _, serial := range []string{ours.SerialNumber.Text(16), impostor.SerialNumber.Text(16), "155ed"} {
			rev, err := r.RevokeSerial(ctx, serial, ocsp.Superseded, "test")
			if err != nil {
				t.Fatalf("revoke %s: %v", serial, err)
			}
			// Only the impostor is another CA's: its revocation is
			// recorded in the inventory only.
			if want := serial == impostor.SerialNumber.Text(16); rev.InventoryOnly != want {
				t.Errorf("revoke %s: InventoryOnly %v, want %v", serial, rev.InventoryOnly, want)
			}
		}

		listed := crlReasons(t, r)
		if reason, ok := listed[ours.SerialNumber.Text(16)]; !ok || reason != ocsp.Superseded {
			t.Errorf("imported certificate of this CA: on the CRL %v with reason %d, want listed with reason %d", ok, reason, ocsp.Superseded)
		}
		if _, ok := listed["155ed"]; !ok {
			t.Error("issued certificate missing from the CRL")
		}
		if _, ok := listed[impostor.SerialNumber.Text(16)]; ok {
			t.Error("a certificate of another key with this CA's name is on the CRL")
		}
		if len(listed) != 2 {
			t.Errorf("CRL lists %d certificates, want 2: %v", len(listed), listed)
		}

		resp, err := ocspresponder.New(ocspresponder.Config{Path: "/ocsp", IssuerName: iss.Name(), Now: clock}, iss, st, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := askOCSP(t, resp, ours, inter); err != nil || got.Status != ocsp.Revoked || got.RevocationReason != ocsp.Superseded {
			t.Errorf("imported certificate of this CA: OCSP %+v, %v; want revoked, reason %d", got, err, ocsp.Superseded)
		}
		// Not this CA's: the responder is not authoritative (RFC 6960 §2.3).
		var re ocsp.ResponseError
		if got, err := askOCSP(t, resp, impostor, inter); !errors.As(err, &re) || re.Status != ocsp.Unauthorized {
			t.Errorf("certificate of another key with this CA's name: OCSP %+v, %v; want unauthorized", got, err)
		}
	})
}

// signedLeaf is a certificate for name that ca's intermediate signed.
func signedLeaf(t *testing.T, ca *local.CA, name string, now time.Time) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signedLeafKey(t, ca, name, now, key.Public())
}

// signedLeafKey is a certificate for name and pub that ca's intermediate
// signed.
func signedLeafKey(t *testing.T, ca *local.CA, name string, now time.Time, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	serial, err := local.RandomSerial()
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.SignLeaf(context.Background(), local.LeafRequest{Serial: serial, PublicKey: pub, DNSNames: []string{name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// impostorLeaf is a certificate for name whose issuer name and authority
// key identifier are those of inter but which another key signed.
func impostorLeaf(t *testing.T, inter *x509.Certificate, name string, now time.Time) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return impostorLeafWith(t, inter, name, now, key.Public())
}

// impostorLeafWith is impostorLeaf for the public key pub.
func impostorLeafWith(t *testing.T, inter *x509.Certificate, name string, now time.Time, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := local.RandomSerial()
	if err != nil {
		t.Fatal(err)
	}
	parent := *inter
	parent.PublicKey = caKey.Public()
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, &parent, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.RawIssuer, inter.RawSubject) || !bytes.Equal(c.AuthorityKeyId, inter.SubjectKeyId) {
		t.Fatal("impostor does not carry the intermediate's name and key identifier")
	}
	return c
}

// askOCSP posts an OCSP request about cert, naming inter as its issuer, to
// h and returns the response, checked against inter, or the error of
// ocsp.ParseResponseForCert (an ocsp.ResponseError for an error response).
func askOCSP(t *testing.T, h http.Handler, cert, inter *x509.Certificate) (*ocsp.Response, error) {
	t.Helper()
	req, err := ocsp.CreateRequest(cert, inter, &ocsp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/ocsp", bytes.NewReader(req)))
	body, _ := io.ReadAll(rec.Result().Body)
	return ocsp.ParseResponseForCert(body, cert, inter)
}

// crlReasons reads r's CRL and returns its entries: the reason code of each
// serial listed, by the serial's lower-case hex.
func crlReasons(t *testing.T, r *ra.RA) map[string]int {
	t.Helper()
	der, err := r.CRL(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]int{}
	for _, e := range crl.RevokedCertificateEntries {
		listed[e.SerialNumber.Text(16)] = e.ReasonCode
	}
	return listed
}
