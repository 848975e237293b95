package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// cancellingIssuer cancels the request's context as it signs, as a client
// that drops its connection mid-finalize does.
type cancellingIssuer struct {
	cancel context.CancelFunc
	key    *ecdsa.PrivateKey
}

func (c cancellingIssuer) Name() string { return "test" }

func (c cancellingIssuer) Issue(ctx context.Context, req issuer.IssueRequest) (*issuer.Issued, error) {
	c.cancel()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return signSelf(req, c.key)
}

// signSelf signs the certificate req asks for with key, as its own
// issuer: enough for the RA, which stores what the issuer returns.
func signSelf(req issuer.IssueRequest, key *ecdsa.PrivateKey) (*issuer.Issued, error) {
	tmpl := &x509.Certificate{SerialNumber: req.Serial, Subject: pkix.Name{CommonName: req.DNSNames[0]}, DNSNames: req.DNSNames,
		NotBefore: req.NotBefore, NotAfter: req.NotAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, req.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &issuer.Issued{DER: der, ChainPEM: []byte("chain")}, nil
}

// readyOrder is a SQLite store holding account "a" with order "o", ready:
// its one authorization "z" for x.example.test is valid.
type readyOrder struct {
	st   *store.Store
	now  time.Time
	acct *store.Account
	o    *store.Order
	az   *store.Authorization
	id   acme.Identifier
}

func newReadyOrder(t *testing.T) *readyOrder {
	t.Helper()
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	now := time.Now().UTC()
	acct := &store.Account{ID: "a", KeyThumbprint: "tp", JWK: []byte("{}"), Status: "valid", CreatedAt: now}
	id := acme.Identifier{Type: "dns", Value: "x.example.test"}
	az := &store.Authorization{ID: "z", AccountID: "a", Identifier: id, Status: "valid", Expires: now.Add(time.Hour), ValidatedAt: now, CreatedAt: now}
	o := &store.Order{ID: "o", AccountID: "a", Status: "pending", Expires: now.Add(time.Hour), Identifiers: []acme.Identifier{id},
		AuthzIDs: []string{"z"}, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateOrder(ctx, o, []*store.Authorization{az}); err != nil {
		t.Fatal(err)
	}
	return &readyOrder{st: st, now: now, acct: acct, o: o, az: az, id: id}
}

// TestFinalizeSurvivesClientDisconnect: once an order is processing, the
// issuance finishes and is stored although the request's context ends.
func TestFinalizeSurvivesClientDisconnect(t *testing.T) {
	ctx := context.Background()
	f := newReadyOrder(t)
	st, acct, o, az, id := f.st, f.acct, f.o, f.az, f.id
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	reqCtx, cancel := context.WithCancel(ctx)
	r := New(Config{}, st, nopVA{}, cancellingIssuer{cancel: cancel, key: caKey}, nil, slog.New(slog.DiscardHandler))
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{id.Value}}, certKey)
	done, err := r.Finalize(reqCtx, acct, o, []*store.Authorization{az}, der, nil)
	if err != nil {
		t.Fatalf("finalize failed after the client went away: %v", err)
	}
	stored, err := st.GetOrder(ctx, "o")
	if err != nil || stored.Status != acme.StatusValid || stored.CertSerial != done.CertSerial {
		t.Fatalf("order after finalize = %+v, %v; want valid with the certificate", stored, err)
	}
	if _, err := st.GetCertificate(ctx, done.CertSerial); err != nil {
		t.Fatalf("certificate not stored: %v", err)
	}
}
