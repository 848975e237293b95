package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/store"
)

// revokingIssuer signs like cancellingIssuer, but first revokes the
// certificate serial for keyCompromise in st: a revocation of another
// certificate with the CSR's key that commits while the certificate is
// signed, after finalize checked the key.
type revokingIssuer struct {
	st     *store.Store
	serial string
	key    *ecdsa.PrivateKey
}

func (c revokingIssuer) Name() string { return "test" }

func (c revokingIssuer) Issue(ctx context.Context, req issuer.IssueRequest) (*issuer.Issued, error) {
	if err := c.st.RevokeCertificate(ctx, c.serial, acme.ReasonKeyCompromise, time.Now().UTC()); err != nil {
		return nil, err
	}
	return signSelf(req, c.key)
}

// TestFinalizeKeyBlockedWhileSigning: when the CSR's key is blocked (a
// keyCompromise revocation of another certificate with it) after finalize
// checked it and while the certificate is signed, finalize answers
// badPublicKey, the order is invalid with that problem, and the signed
// certificate is recorded revoked for keyCompromise.
func TestFinalizeKeyBlockedWhileSigning(t *testing.T) {
	ctx := context.Background()
	f := newReadyOrder(t)
	st, now, acct, o, az, id := f.st, f.now, f.acct, f.o, f.az, f.id
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	// An earlier certificate of the same key, issued here.
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x0e1d), Subject: pkix.Name{CommonName: id.Value}, DNSNames: []string{id.Value},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}
	oldDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, certKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.InsertCertificates(ctx, []*store.Certificate{{Serial: "e1d", Issuer: "test", DER: oldDER, ChainPEM: "chain", SANs: []string{id.Value},
		KeyType: "ECDSA P-256", FingerprintSHA256: "fp-e1d", NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter, Status: acme.StatusValid,
		CreatedAt: now, Source: store.SourceIssued}}); err != nil {
		t.Fatal(err)
	}
	r := New(Config{}, st, nopVA{}, revokingIssuer{st: st, serial: "e1d", key: caKey}, nil, slog.New(slog.DiscardHandler))
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{id.Value}}, certKey)
	_, err = r.Finalize(ctx, acct, o, []*store.Authorization{az}, der, nil)
	p, ok := acme.AsProblem(err)
	if !ok || p.Type != acme.BadPublicKey {
		t.Fatalf("finalize = %v; want a badPublicKey problem", err)
	}
	stored, err := st.GetOrder(ctx, "o")
	if err != nil || stored.Status != acme.StatusInvalid || stored.Error == nil || stored.Error.Type != acme.BadPublicKey {
		t.Fatalf("order after finalize = %+v, %v; want invalid with badPublicKey", stored, err)
	}
	page, err := st.SearchCertificates(ctx, store.CertQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var signed *store.Certificate
	for _, c := range page {
		if c.OrderID == "o" {
			signed = c
		}
	}
	if signed == nil || signed.Status != store.StatusRevoked || signed.RevocationReason != acme.ReasonKeyCompromise {
		t.Fatalf("the order's signed certificate = %+v; want recorded, revoked for keyCompromise", signed)
	}
}
