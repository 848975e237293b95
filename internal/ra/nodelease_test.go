package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// heldIssuer signs the certificate asked for with key once release is
// closed, after sending its serial (hex) on signing: an issuance in
// flight for as long as the test wants.
type heldIssuer struct {
	key     *ecdsa.PrivateKey
	signing chan<- string
	release <-chan struct{}
}

func (h heldIssuer) Name() string { return "test" }

func (h heldIssuer) Issue(ctx context.Context, req issuer.IssueRequest) (*issuer.Issued, error) {
	h.signing <- req.Serial.Text(16)
	select {
	case <-h.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return signSelf(req, h.key)
}

// addReadyOrder stores, for account acct, a ready order orderID whose one
// authorization (valid, ID orderID+"-z") is for name.
func addReadyOrder(t *testing.T, st *store.Store, acct *store.Account, orderID, name string, now time.Time) *readyOrder {
	t.Helper()
	id := acme.Identifier{Type: "dns", Value: name}
	az := &store.Authorization{ID: orderID + "-z", AccountID: acct.ID, Identifier: id, Status: "valid", Expires: now.Add(time.Hour), ValidatedAt: now, CreatedAt: now}
	o := &store.Order{ID: orderID, AccountID: acct.ID, Status: "pending", Expires: now.Add(time.Hour), Identifiers: []acme.Identifier{id},
		AuthzIDs: []string{az.ID}, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateOrder(context.Background(), o, []*store.Authorization{az}); err != nil {
		t.Fatal(err)
	}
	return &readyOrder{st: st, now: now, acct: acct, o: o, az: az, id: id}
}

// finalizeOrder finalizes f through r with a CSR of a new key.
func finalizeOrder(ctx context.Context, r *RA, f *readyOrder) (*store.Order, error) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{f.id.Value}}, key)
	return r.Finalize(ctx, f.acct, f.o, []*store.Authorization{f.az}, der, nil)
}

// TestNodeLeaseFailsOrderOfDeadNode: two nodes share the storage (on
// both engines); each finalizes an order whose signing is held. One node
// dies while it signs (its heartbeat stops, its finalize never
// returns): its order is failed as interrupted within a few seconds,
// by the other node's heartbeat, not after StuckAfter (1 minute). The
// other node's own order, signing for longer than a lease, is not
// touched by its heartbeat or its sweep, and becomes valid when signed.
// Before node leases, a node could not tell an order of a dead node from
// one of a live node: both stayed processing until StuckAfter.
func TestNodeLeaseFailsOrderOfDeadNode(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		acct := &store.Account{ID: "a", KeyThumbprint: "tp", JWK: []byte("{}"), Status: "valid", CreatedAt: now}
		if err := st.CreateAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}
		deadOrder := addReadyOrder(t, st, acct, "o-dead", "dead.example.test", now)
		slowOrder := addReadyOrder(t, st, acct, "o-slow", "slow.example.test", now)
		const lease = time.Second
		log := slog.New(slog.DiscardHandler)
		caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		newNode := func() (*RA, <-chan string, chan struct{}) {
			signing, release := make(chan string, 1), make(chan struct{})
			r := New(Config{NodeLease: lease, SweepInterval: time.Hour}, st, nopVA{}, heldIssuer{key: caKey, signing: signing, release: release}, nil, log)
			if err := r.Start(ctx); err != nil {
				t.Fatal(err)
			}
			return r, signing, release
		}
		type result struct {
			o   *store.Order
			err error
		}
		finalize := func(r *RA, f *readyOrder) <-chan result {
			ch := make(chan result, 1)
			go func() {
				o, err := finalizeOrder(ctx, r, f)
				ch <- result{o, err}
			}()
			return ch
		}

		alive, aliveSigning, aliveRelease := newNode()
		defer func() {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			alive.Shutdown(sctx)
			cancel()
		}()
		dead, deadSigning, deadRelease := newNode()
		slowDone := finalize(alive, slowOrder)
		<-aliveSigning
		deadDone := finalize(dead, deadOrder)
		<-deadSigning
		// The kill: the dead node's heartbeat stops (Shutdown stops nothing
		// the finalize needs); its finalize stays in the issuer.
		killed := time.Now()
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		dead.Shutdown(sctx)
		cancel()
		defer func() {
			close(deadRelease)
			if res := <-deadDone; res.err == nil {
				t.Errorf("the dead node's finalize, signed after its order was failed: %+v, want an error", res.o)
			}
		}()

		deadline := killed.Add(5 * lease)
		for {
			o, err := st.GetOrder(ctx, deadOrder.o.ID)
			if err != nil {
				t.Fatal(err)
			}
			if o.Status != acme.StatusProcessing {
				if o.Status != acme.StatusInvalid || o.Error == nil || o.Error.Type != acme.ServerInternal || !strings.Contains(o.Error.Detail, "interrupted") {
					t.Fatalf("the dead node's order is %s with error %+v; want invalid, interrupted (serverInternal)", o.Status, o.Error)
				}
				t.Logf("the dead node's order failed %v after the kill (lease %v)", time.Since(killed).Round(time.Millisecond), lease)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the dead node's order is still processing %v after the kill (lease %v)", time.Since(killed).Round(time.Millisecond), lease)
			}
			time.Sleep(20 * time.Millisecond)
		}

		// The live node's order has been processing for longer than a
		// lease, through its heartbeats; a sweep leaves it alone too.
		if err := alive.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if o, err := st.GetOrder(ctx, slowOrder.o.ID); err != nil || o.Status != acme.StatusProcessing {
			t.Fatalf("the live node's slow order: %+v, %v; want processing", o, err)
		}
		close(aliveRelease)
		res := <-slowDone
		if res.err != nil {
			t.Fatalf("the live node's slow finalize: %v", res.err)
		}
		if o, err := st.GetOrder(ctx, slowOrder.o.ID); err != nil || o.Status != acme.StatusValid || o.CertSerial != res.o.CertSerial {
			t.Fatalf("the live node's order after signing: %+v, %v; want valid with its certificate", o, err)
		}
	})
}
