package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/store"
)

// tlsFeatureCSR is a CSR for dns with the given extensions requested.
func tlsFeatureCSR(t *testing.T, key *ecdsa.PrivateKey, dns []string, exts ...pkix.Extension) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: dns, ExtraExtensions: exts}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// tlsFeature is a TLS Feature extension (RFC 7633) listing features.
func tlsFeature(t *testing.T, features ...int) pkix.Extension {
	t.Helper()
	if features == nil {
		features = []int{}
	}
	v, err := asn1.Marshal(features)
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: issuer.OIDTLSFeature, Value: v}
}

// TestCheckCSRTLSFeature: a TLS Feature extension listing status_request
// (5) is accepted as a request for must-staple; one listing another
// feature, none, or malformed is badCSR naming what is wrong.
func TestCheckCSRTLSFeature(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	names := []string{"a.example.test"}
	ids := []acme.Identifier{{Type: "dns", Value: "a.example.test"}}
	for _, tc := range []struct {
		name       string
		exts       []pkix.Extension
		must       bool
		wantDetail string // "" = accepted
	}{
		{"none", nil, false, ""},
		{"status_request", []pkix.Extension{tlsFeature(t, 5)}, true, ""},
		{"status_request critical", []pkix.Extension{{Id: issuer.OIDTLSFeature, Critical: true, Value: tlsFeature(t, 5).Value}}, true, ""},
		{"status_request twice in the list", []pkix.Extension{tlsFeature(t, 5, 5)}, true, ""},
		{"status_request_v2", []pkix.Extension{tlsFeature(t, 5, 17)}, false, "17 (status_request_v2)"},
		{"unknown feature", []pkix.Extension{tlsFeature(t, 1234)}, false, "requests 1234"},
		{"empty list", []pkix.Extension{tlsFeature(t)}, false, "lists no feature"},
		{"not a SEQUENCE OF INTEGER", []pkix.Extension{{Id: issuer.OIDTLSFeature, Value: []byte{0x04, 0x01, 0x05}}}, false, "not a SEQUENCE OF INTEGER"},
		{"extension present twice", []pkix.Extension{tlsFeature(t, 5), tlsFeature(t, 5)}, false, "duplicate"},
		{"trailing bytes", []pkix.Extension{{Id: issuer.OIDTLSFeature, Value: []byte{0x30, 0x03, 0x02, 0x01, 0x05, 0x00}}}, false, "after its value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			csr, err := CheckCSR(tlsFeatureCSR(t, key, names, tc.exts...), ids, nil)
			if tc.wantDetail != "" {
				p, _ := acme.AsProblem(err)
				if p == nil || p.Type != acme.BadCSR || !strings.Contains(p.Detail, tc.wantDetail) {
					t.Fatalf("CheckCSR = %v; want badCSR naming %q", err, tc.wantDetail)
				}
				return
			}
			if err != nil {
				t.Fatalf("CheckCSR refused: %v", err)
			}
			must, err := CSRMustStaple(csr)
			if err != nil || must != tc.must {
				t.Fatalf("CSRMustStaple = %v, %v; want %v", must, err, tc.must)
			}
		})
	}
}

// plainIssuer signs without knowing must-staple (no issuer.MustStapler),
// as a connector to a CA whose protocol cannot carry it would.
type plainIssuer struct{ key *ecdsa.PrivateKey }

func (plainIssuer) Name() string { return "plain" }

func (p plainIssuer) Issue(_ context.Context, req issuer.IssueRequest) (*issuer.Issued, error) {
	return signSelf(req, p.key)
}

// TestFinalizeMustStaple: a CSR asking for must-staple gets a certificate
// with the TLS Feature extension and the OCSP responder URL from the local
// issuer with OCSP on; with OCSP off (no responder URL), or from an issuer
// that cannot issue must-staple, finalize is refused with badCSR and the
// order stays ready, with no certificate signed.
func TestFinalizeMustStaple(t *testing.T) {
	ctx := context.Background()
	ca, err := local.LoadOrCreate(filepath.Join(t.TempDir(), "ca"), local.Options{LintBeforeSign: true})
	if err != nil {
		t.Fatal(err)
	}
	const ocspURL = "http://ca.example.test/pki/ocsp"
	newLocal := func(ocsp string) issuer.Issuer {
		return &local.Issuer{CA: ca, IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl", OCSPURL: ocsp}
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name       string
		iss        issuer.Issuer
		wantDetail string // "" = issued
	}{
		{"ocsp on", newLocal(ocspURL), ""},
		{"ocsp off", newLocal(""), "needs an OCSP responder"},
		{"issuer without must-staple", plainIssuer{caKey}, "issuer plain cannot issue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newReadyOrder(t)
			r := New(Config{}, f.st, nopVA{}, tc.iss, nil, slog.New(slog.DiscardHandler))
			t.Cleanup(func() { r.Shutdown(ctx) })
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			der := tlsFeatureCSR(t, key, []string{f.id.Value}, tlsFeature(t, 5))
			got, err := r.Finalize(ctx, f.acct, f.o, []*store.Authorization{f.az}, der, nil)
			if tc.wantDetail != "" {
				p, _ := acme.AsProblem(err)
				if p == nil || p.Type != acme.BadCSR || !strings.Contains(p.Detail, tc.wantDetail) {
					t.Fatalf("finalize = %v; want badCSR naming %q", err, tc.wantDetail)
				}
				stored, err := f.st.GetOrder(ctx, f.o.ID)
				if err != nil || stored.Status != acme.StatusPending || stored.CertSerial != "" {
					t.Fatalf("order after the refusal = %+v, %v; want it still pending (ready), without a certificate", stored, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("finalize: %v", err)
			}
			cert, err := f.st.GetCertificate(ctx, got.CertSerial)
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := x509.ParseCertificate(cert.DER)
			if err != nil {
				t.Fatal(err)
			}
			var ext *pkix.Extension
			for i, e := range leaf.Extensions {
				if e.Id.Equal(issuer.OIDTLSFeature) {
					ext = &leaf.Extensions[i]
				}
			}
			if ext == nil || ext.Critical || string(ext.Value) != "\x30\x03\x02\x01\x05" {
				t.Fatalf("issued certificate's TLS Feature extension = %+v; want non-critical SEQUENCE { INTEGER 5 }", ext)
			}
			if len(leaf.OCSPServer) != 1 || leaf.OCSPServer[0] != ocspURL {
				t.Errorf("issued certificate's OCSP servers = %v, want [%s]", leaf.OCSPServer, ocspURL)
			}
		})
	}
}
