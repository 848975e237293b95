package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/store"
)

// slowCAAVA is a Validator whose CAA check takes long (slow or failing
// DNS servers, many identifiers): it moves the test's clock on.
type slowCAAVA struct {
	nopVA
	elapse func()
}

func (v slowCAAVA) CheckCAA(context.Context, acme.Identifier, bool, string, []string) error {
	v.elapse()
	return nil
}

// sweepingIssuer runs another node's sweep while it signs.
type sweepingIssuer struct {
	key   *ecdsa.PrivateKey
	sweep func()
}

func (s sweepingIssuer) Name() string { return "test" }

func (s sweepingIssuer) Issue(_ context.Context, req issuer.IssueRequest) (*issuer.Issued, error) {
	s.sweep()
	return signSelf(req, s.key)
}

// TestFinalizeSlowChecksNotSweptAsInterrupted: an order whose checks
// before signing (here the CAA re-check) took longer than StuckAfter
// enters processing as of the moment it does, so that the sweep of
// another node running while the certificate is signed does not take it
// for an issuance a dead node left: before, the order's updated_at was
// the time the finalize began, the sweep made the order invalid
// ("issuance was interrupted") while this node signed, and the signed
// certificate was thrown away (FinishOrder found the order no longer
// processing) with a serverInternal problem to the client.
func TestFinalizeSlowChecksNotSweptAsInterrupted(t *testing.T) {
	ctx := context.Background()
	f := newReadyOrder(t)
	var mu sync.Mutex
	now := f.now
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	log := slog.New(slog.DiscardHandler)
	other := New(Config{}, f.st, nopVA{}, nil, clock, log) // another node on the same database
	var swept bool
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	iss := sweepingIssuer{key: caKey, sweep: func() {
		if err := other.Sweep(ctx); err != nil {
			t.Errorf("the other node's sweep: %v", err)
		}
		swept = true
	}}
	va := slowCAAVA{elapse: func() { mu.Lock(); now = now.Add(2 * other.Config().StuckAfter); mu.Unlock() }}
	// CAARecheckAfter < 0: CAA is checked again at every finalize.
	r := New(Config{CAARecheckAfter: -1}, f.st, va, iss, clock, log)
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{f.id.Value}}, certKey)
	done, err := r.Finalize(ctx, f.acct, f.o, []*store.Authorization{f.az}, der, nil)
	if !swept {
		t.Fatal("the issuer was not asked to sign")
	}
	if err != nil {
		stored, _ := f.st.GetOrder(ctx, f.o.ID)
		t.Fatalf("finalize after checks longer than StuckAfter, with a sweep while signing: %v (order now %+v)", err, stored)
	}
	stored, err := f.st.GetOrder(ctx, f.o.ID)
	if err != nil || stored.Status != acme.StatusValid || stored.CertSerial != done.CertSerial {
		t.Fatalf("order after finalize = %+v, %v; want valid with the certificate", stored, err)
	}
	if _, err := f.st.GetCertificate(ctx, done.CertSerial); err != nil {
		t.Fatalf("certificate not stored: %v", err)
	}
}
