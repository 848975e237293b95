package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// readCountingStore counts the reads the approval sweep makes of accounts
// and blocked keys: per approval (GetAccount, GetBlockedKey) or per sweep
// (AccountStatuses, BlockedKeysAmong); each is one SQL statement.
type readCountingStore struct {
	*store.Store
	mu    sync.Mutex
	reads map[string]int
}

func (s *readCountingStore) count(m string) {
	s.mu.Lock()
	s.reads[m]++
	s.mu.Unlock()
}

func (s *readCountingStore) GetAccount(ctx context.Context, id string) (*store.Account, error) {
	s.count("GetAccount")
	return s.Store.GetAccount(ctx, id)
}

func (s *readCountingStore) GetBlockedKey(ctx context.Context, h []byte) (*store.BlockedKey, error) {
	s.count("GetBlockedKey")
	return s.Store.GetBlockedKey(ctx, h)
}

func (s *readCountingStore) AccountStatuses(ctx context.Context, ids []string) (map[string]string, error) {
	s.count("AccountStatuses")
	return s.Store.AccountStatuses(ctx, ids)
}

func (s *readCountingStore) BlockedKeysAmong(ctx context.Context, hashes [][]byte) (map[string]*store.BlockedKey, error) {
	s.count("BlockedKeysAmong")
	return s.Store.BlockedKeysAmong(ctx, hashes)
}

// TestApprovalSweepBatchesReads: on both engines, with 1,000 pending
// approvals of 1,000 accounts, one approval sweep reads the accounts in
// one statement and the blocked keys of the CSRs in one statement (the
// former code: 1,000 GetAccount and 1,000 GetBlockedKey, 2,000 statements
// every SweepInterval), and still rejects, as the system and audited, the
// approval of a deactivated account (unauthorized) and the one whose CSR's
// key was revoked for keyCompromise (badPublicKey), leaving the others
// pending.
func TestApprovalSweepBatchesReads(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		if testing.Short() && st.Engine() == store.EnginePostgres {
			t.Skip("-short: storing 1,000 approvals on PostgreSQL takes half a minute")
		}
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		const n = 1000
		caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		var blockedKey *ecdsa.PrivateKey
		for i := range n {
			id := fmt.Sprintf("acct%04d", i)
			if err := st.CreateAccount(ctx, &store.Account{ID: id, KeyThumbprint: "tp-" + id, JWK: []byte("{}"), Status: acme.StatusValid, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
			o := &store.Order{ID: fmt.Sprintf("ord%04d", i), AccountID: id, Status: acme.StatusPending, Expires: now.Add(time.Hour),
				Identifiers: []acme.Identifier{{Type: acme.IdentifierDNS, Value: fmt.Sprintf("n%d.example.test", i)}}, CreatedAt: now, UpdatedAt: now}
			if err := st.CreateOrder(ctx, o, nil); err != nil {
				t.Fatal(err)
			}
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{o.Identifiers[0].Value}}, key)
			if err != nil {
				t.Fatal(err)
			}
			if i == 1 {
				blockedKey = key
			}
			if err := st.RequestApproval(ctx, &store.Approval{ID: fmt.Sprintf("ap%04d", i), OrderID: o.ID, AccountID: id, Profile: "",
				Identifiers: o.Identifiers, KeyType: "ECDSA P-256", Reason: "test", CSR: csr, Status: store.ApprovalPending, RequestedAt: now}, now); err != nil {
				t.Fatal(err)
			}
		}
		// Deactivate approval 0's account (an account that is no longer
		// valid can create no order, so after its order).
		if err := st.DeactivateAccount(ctx, "acct0000", nil); err != nil {
			t.Fatal(err)
		}
		// Block approval 1's key: a certificate with it revoked for keyCompromise.
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(0xb1), Subject: pkix.Name{CommonName: "b.example.test"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, blockedKey.Public(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.InsertCertificates(ctx, []*store.Certificate{{Serial: "b1", Issuer: "test", DER: der, ChainPEM: "chain",
			KeyType: "ECDSA P-256", FingerprintSHA256: "fp-b1", NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter, Status: acme.StatusValid,
			CreatedAt: now, Source: store.SourceIssued}}); err != nil {
			t.Fatal(err)
		}
		if err := st.RevokeCertificate(ctx, "b1", acme.ReasonKeyCompromise, now); err != nil {
			t.Fatal(err)
		}

		cs := &readCountingStore{Store: st, reads: map[string]int{}}
		r := New(Config{Audit: audit.New(st, nil)}, cs, nopVA{}, nil, func() time.Time { return now }, slog.New(slog.DiscardHandler))
		defer r.Shutdown(ctx)
		if err := r.sweepApprovals(ctx); err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, c := range cs.reads {
			total += c
		}
		t.Logf("%d pending approvals of %d accounts: %d statements for their accounts and keys in one sweep %v", n, n, total, cs.reads)
		if total != 2 {
			t.Errorf("one sweep over %d pending approvals read accounts and blocked keys with %d statements %v; want 2", n, total, cs.reads)
		}
		pending, err := st.ListApprovals(ctx, store.ApprovalPending, 2*n)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) != n-2 {
			t.Errorf("%d approvals pending after the sweep; want %d", len(pending), n-2)
		}
		for id, wantType := range map[string]acme.ProblemType{"ord0000": acme.Unauthorized, "ord0001": acme.BadPublicKey} {
			ap, err := st.GetApprovalByOrder(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			o, err := st.GetOrder(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if ap.Status != store.ApprovalRejected || ap.DecidedBy != audit.ActorSystem || o.Status != acme.StatusInvalid || o.Error == nil || o.Error.Type != wantType {
				t.Errorf("%s: approval %s by %q, order %s with %+v; want rejected by the system, order invalid with %s", id, ap.Status, ap.DecidedBy, o.Status, o.Error, wantType)
			}
		}
		evs, err := st.ListAudit(ctx, store.AuditFilter{Action: audit.ActionApprovalReject, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 {
			t.Errorf("%d approval.reject events; want 2", len(evs))
		}
	})
}
