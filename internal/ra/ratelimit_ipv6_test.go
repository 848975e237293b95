package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// ipSelfSigner issues self-signed leaves for IP identifiers.
type ipSelfSigner struct{ key *ecdsa.PrivateKey }

func (s ipSelfSigner) Name() string { return "test" }
func (s ipSelfSigner) Issue(_ context.Context, req issuer.IssueRequest) (*issuer.Issued, error) {
	tmpl := &x509.Certificate{SerialNumber: req.Serial, Subject: pkix.Name{CommonName: req.IPAddresses[0].String()},
		IPAddresses: req.IPAddresses, NotBefore: req.NotBefore, NotAfter: req.NotAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, req.PublicKey, s.key)
	if err != nil {
		return nil, err
	}
	return &issuer.Issued{DER: der, ChainPEM: []byte("chain")}, nil
}

// TestCertificatesPerDomainIPv6Per64: certificates-per-domain counts IPv6
// address identifiers per /64, as new-accounts-per-ip counts clients: one
// holder controls every address of its /64, and counted per address it
// could get 2^64 certificates past a limit of one. An address in another
// /64 has a bucket of its own.
func TestCertificatesPerDomainIPv6Per64(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cfg := Config{RateLimits: ratelimit.Config{CertificatesPerDomain: ratelimit.Rate{Count: 1, Period: 7 * 24 * time.Hour},
		PolicyURL: "https://ca.test/limits"}}
	r := New(cfg, st, nopVA{}, ipSelfSigner{key: caKey}, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	defer r.Shutdown(ctx)
	acct := &store.Account{ID: "acct", KeyThumbprint: "tp", JWK: []byte("{}"), Status: acme.StatusValid, CreatedAt: now}
	if err := st.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	finalize := func(ip string) error {
		id := acme.Identifier{Type: acme.IdentifierIP, Value: ip}
		az := &store.Authorization{ID: "z" + ip, AccountID: acct.ID, Identifier: id, Status: acme.StatusValid,
			Expires: now.Add(24 * time.Hour), ValidatedAt: now, CreatedAt: now}
		o := &store.Order{ID: "o" + ip, AccountID: acct.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour),
			Identifiers: []acme.Identifier{id}, AuthzIDs: []string{az.ID}, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateOrder(ctx, o, []*store.Authorization{az}); err != nil {
			t.Fatal(err)
		}
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{IPAddresses: []net.IP{net.ParseIP(ip)}}, k)
		_, err := r.Finalize(ctx, acct, o, []*store.Authorization{az}, csr, nil)
		return err
	}
	if err := finalize("2001:db8:1:2::1"); err != nil {
		t.Fatalf("first certificate in 2001:db8:1:2::/64: %v", err)
	}
	rateLimitedAfter(t, finalize("2001:db8:1:2::2"), 7*24*time.Hour)
	_, err := r.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: []acme.Identifier{{Type: acme.IdentifierIP, Value: "2001:db8:1:2:ffff::9"}}})
	rateLimitedAfter(t, err, 7*24*time.Hour)
	if err := finalize("2001:db8:1:3::1"); err != nil {
		t.Fatalf("another /64: %v", err)
	}
}
