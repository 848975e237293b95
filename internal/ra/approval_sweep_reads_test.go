package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
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
		blockedKey := seedPendingApprovals(t, st, n, now, func(int) string { return "" })[1]
		// Deactivate approval 0's account (an account that is no longer
		// valid can create no order, so after its order).
		if err := st.DeactivateAccount(ctx, "acct0000", nil); err != nil {
			t.Fatal(err)
		}
		// Block approval 1's key: a certificate with it revoked for keyCompromise.
		blockKeyOf(t, st, blockedKey, now)

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

// seedPendingApprovals stores n pending approvals ap0000…, each of its own
// valid account acct0000… and order ord0000… (one name, expiring in an
// hour), under profile profileOf(i), requested one second apart from
// now-n seconds (ap0000 the oldest), and returns their CSRs' keys.
func seedPendingApprovals(t *testing.T, st *store.Store, n int, now time.Time, profileOf func(i int) string) []*ecdsa.PrivateKey {
	t.Helper()
	ctx := context.Background()
	keys := make([]*ecdsa.PrivateKey, n)
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
		keys[i] = key
		at := now.Add(time.Duration(i-n) * time.Second)
		if err := st.RequestApproval(ctx, &store.Approval{ID: fmt.Sprintf("ap%04d", i), OrderID: o.ID, AccountID: id, Profile: profileOf(i),
			Identifiers: o.Identifiers, KeyType: "ECDSA P-256", Reason: "test", CSR: csr, Status: store.ApprovalPending, RequestedAt: at}, at); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestApprovalSweepReadsEveryPage: with more pending approvals than one
// read of the sweep takes (sweepApprovalsPage), the newest ones are swept
// too: the newest approval's account deactivated and the next newest's
// profile deleted both get their approvals rejected by the system (before,
// the sweep read only the oldest 1,000, so a newer approval was never
// escalated or cancelled while they waited), and the accounts and keys
// are read once per page.
func TestApprovalSweepReadsEveryPage(t *testing.T) {
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	n := sweepApprovalsPage + 2
	seedPendingApprovals(t, st, n, now, func(i int) string {
		if i == n-2 {
			return "gone" // a profile never stored, as after a forced deletion
		}
		return ""
	})
	if err := st.DeactivateAccount(ctx, fmt.Sprintf("acct%04d", n-1), nil); err != nil {
		t.Fatal(err)
	}
	cs := &readCountingStore{Store: st, reads: map[string]int{}}
	r := New(Config{Audit: audit.New(st, nil)}, cs, nopVA{}, nil, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	defer r.Shutdown(ctx)
	if err := r.sweepApprovals(ctx); err != nil {
		t.Fatal(err)
	}
	if cs.reads["AccountStatuses"] != 2 || cs.reads["BlockedKeysAmong"] != 2 {
		t.Errorf("reads %v over %d pending approvals; want AccountStatuses and BlockedKeysAmong once per page of %d", cs.reads, n, sweepApprovalsPage)
	}
	for i, wantType := range map[int]acme.ProblemType{n - 1: acme.Unauthorized, n - 2: acme.InvalidProfile} {
		ap, err := st.GetApproval(ctx, fmt.Sprintf("ap%04d", i))
		if err != nil {
			t.Fatal(err)
		}
		o, err := st.GetOrder(ctx, ap.OrderID)
		if err != nil {
			t.Fatal(err)
		}
		if ap.Status != store.ApprovalRejected || ap.DecidedBy != audit.ActorSystem || o.Error == nil || o.Error.Type != wantType {
			t.Errorf("approval %d of %d: %s by %q, order error %+v; want rejected by the system, %s", i+1, n, ap.Status, ap.DecidedBy, o.Error, wantType)
		}
	}
	pending, err := st.ListApprovals(ctx, store.ApprovalPending, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != n-2 {
		t.Errorf("%d approvals pending after the sweep; want %d", len(pending), n-2)
	}
}

// blockKeyOf blocks key as the revocation for keyCompromise of a
// certificate with it (serial b1) does.
func blockKeyOf(t *testing.T, st *store.Store, key *ecdsa.PrivateKey, now time.Time) {
	t.Helper()
	ctx := context.Background()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0xb1), Subject: pkix.Name{CommonName: "b.example.test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), caKey)
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
}

// TestApproveRefusedWhenItWouldIssueNothing: approving a pending approval
// whose CSR's key was blocked since (ErrKeyBlocked) or whose profile was
// deleted (ErrProfileDeleted) is refused and leaves it pending, as for a
// deactivated account; before, it was approved and its order then made
// invalid at issuance. A third approval is approved.
func TestApproveRefusedWhenItWouldIssueNothing(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		keys := seedPendingApprovals(t, st, 3, now, func(i int) string {
			if i == 1 {
				return "gone"
			}
			return ""
		})
		blockKeyOf(t, st, keys[0], now)
		for id, want := range map[string]error{"ap0000": store.ErrKeyBlocked, "ap0001": store.ErrProfileDeleted, "ap0002": nil} {
			if _, err := st.DecideApproval(ctx, id, true, "user:alice", "", nil, now); !errors.Is(err, want) {
				t.Errorf("approve %s: %v; want %v", id, err, want)
			}
			if want != nil {
				ap, err := st.GetApproval(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if ap.Status != store.ApprovalPending {
					t.Errorf("%s is %s after a refused approval; want pending", id, ap.Status)
				}
			}
		}
	})
}

// TestCheckDecisionComment: a decision's comment is at most 1,000
// characters of valid UTF-8 without control characters other than line
// breaks and tabs, whichever front end sends it.
func TestCheckDecisionComment(t *testing.T) {
	for _, ok := range []string{"", "fine", "two\nlines\r\n\tindented", strings.Repeat("é", MaxDecisionComment)} {
		if err := CheckDecisionComment(ok); err != nil {
			t.Errorf("%.20q: %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		strings.Repeat("x", MaxDecisionComment+1): "is 1001 characters long; at most 1000",
		"a\x00b":    "control character U+0000",
		"a\x1b[31m": "control character U+001B",
		"a\u0085":   "control character U+0085",
		"ab\xff":    "not valid UTF-8",
	} {
		err := CheckDecisionComment(bad)
		if !errors.Is(err, ErrInvalidComment) || !strings.Contains(err.Error(), want) {
			t.Errorf("%.20q: %v, want ErrInvalidComment saying %q", bad, err, want)
		}
	}
}
