package local

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"math/big"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/certgate/certgate/internal/certlint"
)

const testOCSPURL = "http://ca.example.test:8080/pki/ocsp"

// TestLeafOCSPURL: a leaf requested with an OCSP URL carries it in its AIA
// (id-ad-ocsp) and still passes the pre-issuance lint; without one it has
// none, and the CA's own server certificate never names one.
func TestLeafOCSPURL(t *testing.T) {
	ca, _ := newTestCA(t, Options{LintBeforeSign: true, IssuerURL: testIssuerURL, CRLURL: testCRLURL})
	req := goodRequest(t)
	req.OCSPURL = testOCSPURL
	if err := ca.CheckLeaf(req); err != nil {
		t.Fatalf("CheckLeaf with an OCSP URL: %v", err)
	}
	der, err := ca.SignLeaf(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cert.OCSPServer, []string{testOCSPURL}) {
		t.Fatalf("AIA OCSP = %q", cert.OCSPServer)
	}
	if err := certlint.Check(der); err != nil {
		t.Fatalf("certlint: %v", err)
	}
	req = goodRequest(t)
	der, err = ca.SignLeaf(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if cert, _ := x509.ParseCertificate(der); len(cert.OCSPServer) != 0 {
		t.Fatalf("leaf without OCSPURL has AIA OCSP %q", cert.OCSPServer)
	}
	tc, err := ca.ServerCertificate(context.Background(), testSerial(t), []string{"localhost"}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(tc.Leaf.OCSPServer) != 0 {
		t.Fatalf("server certificate names OCSP %q", tc.Leaf.OCSPServer)
	}
}

func TestSignOCSP(t *testing.T) {
	ca, _ := newTestCA(t, Options{})
	leaf, err := ca.SignLeaf(context.Background(), goodRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(leaf)
	this := testNow.Truncate(time.Second)
	revokedAt := this.Add(-time.Hour)
	for _, tmpl := range []ocsp.Response{
		{Status: ocsp.Good, IssuerHash: crypto.SHA256},
		{Status: ocsp.Revoked, RevokedAt: revokedAt, RevocationReason: ocsp.CessationOfOperation},
		{Status: ocsp.Revoked, RevokedAt: revokedAt, RevocationReason: ocsp.Unspecified},
		{Status: ocsp.Unknown, IssuerHash: crypto.SHA512},
	} {
		tmpl.SerialNumber, tmpl.ThisUpdate, tmpl.NextUpdate = cert.SerialNumber, this, this.Add(24*time.Hour)
		der, err := ca.SignOCSP(tmpl)
		if err != nil {
			t.Fatalf("status %d: %v", tmpl.Status, err)
		}
		r, err := ocsp.ParseResponseForCert(der, cert, ca.Intermediate())
		if err != nil {
			t.Fatalf("status %d: parse/verify: %v", tmpl.Status, err)
		}
		if r.Status != tmpl.Status || !r.ThisUpdate.Equal(this) || !r.NextUpdate.Equal(this.Add(24*time.Hour)) ||
			r.SignatureAlgorithm != x509.ECDSAWithSHA256 || r.Certificate != nil {
			t.Fatalf("got status %d this %v next %v alg %v cert %v", r.Status, r.ThisUpdate, r.NextUpdate, r.SignatureAlgorithm, r.Certificate != nil)
		}
		if want := max(tmpl.IssuerHash, crypto.SHA1); r.IssuerHash != want {
			t.Fatalf("CertID hash %v, want %v", r.IssuerHash, want)
		}
		if tmpl.Status == ocsp.Revoked && (!r.RevokedAt.Equal(revokedAt) || r.RevocationReason != tmpl.RevocationReason) {
			t.Fatalf("revoked at %v reason %d, want %v %d", r.RevokedAt, r.RevocationReason, revokedAt, tmpl.RevocationReason)
		}
	}
	for name, tmpl := range map[string]ocsp.Response{
		"no serial":        {Status: ocsp.Good, ThisUpdate: this, NextUpdate: this.Add(time.Hour)},
		"bad status":       {SerialNumber: big.NewInt(1), Status: 7, ThisUpdate: this, NextUpdate: this.Add(time.Hour)},
		"next before this": {SerialNumber: big.NewInt(1), ThisUpdate: this, NextUpdate: this},
		"no thisUpdate":    {SerialNumber: big.NewInt(1), NextUpdate: this},
		"unsupported hash": {SerialNumber: big.NewInt(1), ThisUpdate: this, NextUpdate: this.Add(time.Hour), IssuerHash: crypto.MD5},
	} {
		if _, err := ca.SignOCSP(tmpl); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want ErrInvalidRequest", name, err)
		}
	}
}

// TestSignOCSPProducedAt: producedAt is the signing time on the CA's
// clock to the second (RFC 6960 §4.2.2.1), or the template's, and a
// template whose producedAt precedes its thisUpdate or revocation time is
// refused. x/crypto/ocsp alone stamps time.Now truncated to the minute,
// before the thisUpdate of a certificate revoked in the current minute.
func TestSignOCSPProducedAt(t *testing.T) {
	signedAt := testNow.Add(37*time.Second + 400*time.Millisecond)
	ca, _ := newTestCA(t, Options{Now: func() time.Time { return signedAt }})
	leaf, err := ca.SignLeaf(context.Background(), goodRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(leaf)
	revokedAt := testNow.Add(30 * time.Second)
	tmpl := ocsp.Response{SerialNumber: cert.SerialNumber, Status: ocsp.Revoked, RevokedAt: revokedAt,
		RevocationReason: ocsp.Superseded, ThisUpdate: revokedAt, NextUpdate: revokedAt.Add(24 * time.Hour)}
	for name, c := range map[string]struct {
		producedAt, want time.Time
	}{
		"CA clock":      {time.Time{}, signedAt.Truncate(time.Second)},
		"template time": {revokedAt.Add(5 * time.Second), revokedAt.Add(5 * time.Second)},
	} {
		tmpl.ProducedAt = c.producedAt
		der, err := ca.SignOCSP(tmpl)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r, err := ocsp.ParseResponseForCert(der, cert, ca.Intermediate()) // verifies the signature
		if err != nil {
			t.Fatalf("%s: parse/verify: %v", name, err)
		}
		if !r.ProducedAt.Equal(c.want) || r.ProducedAt.Before(r.ThisUpdate) || r.ProducedAt.Before(r.RevokedAt) {
			t.Errorf("%s: producedAt %v, want %v (thisUpdate %v, revoked %v)", name, r.ProducedAt, c.want, r.ThisUpdate, r.RevokedAt)
		}
		if r.Status != ocsp.Revoked || !r.RevokedAt.Equal(revokedAt) || r.RevocationReason != ocsp.Superseded ||
			!r.ThisUpdate.Equal(revokedAt) || r.SerialNumber.Cmp(cert.SerialNumber) != 0 {
			t.Errorf("%s: re-signed response changed: %+v", name, r)
		}
	}
	for name, p := range map[string]time.Time{
		"before thisUpdate":      revokedAt.Add(-time.Second),
		"before revocation time": revokedAt.Add(-time.Second),
	} {
		tmpl := tmpl
		if name == "before revocation time" {
			tmpl.ThisUpdate = revokedAt.Add(-time.Hour)
		}
		tmpl.ProducedAt = p
		if _, err := ca.SignOCSP(tmpl); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("producedAt %s: err = %v, want ErrInvalidRequest", name, err)
		}
	}
}
