package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
)

// parkedForApproval returns a policy environment whose profile "code"
// requires approval (escalated after 2 hours to a webhook that counts its
// calls in escalations), an account, and its order for name finalized with
// a CSR of key, awaiting approval.
func parkedForApproval(t *testing.T, name string) (e *policyEnv, a *store.Account, o *store.Order, key *ecdsa.PrivateKey, escalations *atomic.Int32) {
	t.Helper()
	escalations = new(atomic.Int32)
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { escalations.Add(1) }))
	t.Cleanup(hook.Close)
	code := policy.Profile{Name: "code", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(365), EKUs: []string{"codeSigning"},
		Approval: &policy.Approval{EKUs: []string{"codeSigning"}, EscalateAfter: policy.Duration(2 * time.Hour)}}
	e = newPolicyEnvWith(t, ra.Config{ApprovalWebhook: hook.URL}, code)
	a = e.account("code", nil, nil)
	key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	o, azs := e.readyOrder(a, "code", name)
	if parked, err := e.ra.Finalize(context.Background(), a, o, azs, csrFor(t, key, name), nil); err != nil || parked.Status != store.OrderAwaitingApproval {
		t.Fatalf("finalize: %+v, %v; want the order awaiting approval", parked, err)
	}
	return e, a, o, key, escalations
}

// sweptApproval runs e's sweep 3 hours on (past the escalateAfter of
// parkedForApproval) and returns the approval of order o, which it checks
// was rejected by the system; what names o in the failure message.
func sweptApproval(t *testing.T, e *policyEnv, o *store.Order, what string) *store.Approval {
	t.Helper()
	ctx := context.Background()
	e.now = e.now.Add(3 * time.Hour)
	if err := e.ra.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	ap, err := e.st.GetApprovalByOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ap.Status != store.ApprovalRejected || ap.DecidedBy != audit.ActorSystem || ap.DecidedAt.IsZero() {
		t.Errorf("approval of %s after the sweep: %s by %q at %s; want rejected by %s", what, ap.Status, ap.DecidedBy, ap.DecidedAt, audit.ActorSystem)
	}
	return ap
}

// TestDeactivatedAccountApprovalCancelled: the pending approval of an
// order whose account is deactivated while it waits is rejected by the
// sweep, as the system and audited, its order invalid with the
// unauthorized problem of a deactivated account (RFC 8555 §7.3.6: cancel
// the account's pending operations), and it is not escalated to an
// approver. The former code left it pending, in the approvers' queue and
// escalated, for a certificate ResumeApproved would refuse anyway.
func TestDeactivatedAccountApprovalCancelled(t *testing.T) {
	e, a, o, _, escalations := parkedForApproval(t, "d.pre.test")
	ctx := context.Background()
	if _, err := e.ra.UpdateAccount(ctx, a, acme.AccountUpdateRequest{Status: acme.StatusDeactivated}); err != nil {
		t.Fatal(err)
	}
	ap := sweptApproval(t, e, o, "the deactivated account's order")
	got, err := e.st.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != acme.StatusInvalid || got.Error == nil || got.Error.Type != acme.Unauthorized {
		t.Errorf("order after the sweep: %s, error %+v; want invalid, unauthorized", got.Status, got.Error)
	}
	if n := escalations.Load(); n != 0 {
		t.Errorf("%d escalation(s) of the deactivated account's approval", n)
	}
	evs, err := audit.New(e.st, nil).List(ctx, store.AuditFilter{ObjectType: audit.ObjectApproval, ObjectID: ap.ID, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	rejected := false
	for _, ev := range evs {
		rejected = rejected || ev.Action == audit.ActionApprovalReject && ev.Actor == audit.ActorSystem
	}
	if !rejected {
		t.Errorf("audit events of the approval: %+v; want its rejection by %s", evs, audit.ActorSystem)
	}
}

// TestBlockedKeyApprovalCancelled: the pending approval of an order whose
// CSR's key is blocked while it waits (a keyCompromise revocation of a
// certificate with that key) is rejected by the sweep, as the system and
// audited, its order invalid with badPublicKey, and it is not escalated;
// the former code left it to the approvers, for a certificate
// ResumeApproved would refuse.
func TestBlockedKeyApprovalCancelled(t *testing.T) {
	e, _, o, key, escalations := parkedForApproval(t, "k.pre.test")
	ctx := context.Background()
	// Another certificate with the CSR's key, revoked for keyCompromise.
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x0b10c), Subject: pkix.Name{CommonName: "old.example.test"},
		NotBefore: e.now.Add(-time.Hour), NotAfter: e.now.Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.InsertCertificates(ctx, []*store.Certificate{{Serial: "0b10c", Issuer: "elsewhere", DER: der, SANs: []string{"old.example.test"},
		KeyType: "ECDSA P-256", FingerprintSHA256: "fp-0b10c", NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter, Status: acme.StatusValid,
		CreatedAt: e.now, Source: store.SourceImported}}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.RevokeCertificate(ctx, "0b10c", acme.ReasonKeyCompromise, e.now); err != nil {
		t.Fatal(err)
	}
	sweptApproval(t, e, o, "the order with the blocked key")
	got, err := e.st.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != acme.StatusInvalid || got.Error == nil || got.Error.Type != acme.BadPublicKey {
		t.Errorf("order after the sweep: %s, error %+v; want invalid, badPublicKey", got.Status, got.Error)
	}
	if n := escalations.Load(); n != 0 {
		t.Errorf("%d escalation(s) of the approval with the blocked key", n)
	}
}

// TestExpiredOrderApprovalCancelled: an order still waiting for an
// approver when it expires is invalid (RFC 8555 §7.1.3: after expires the
// server considers the order invalid; the ACME orders list leaves it out
// then, store.MaxOrderLifetime): the sweep rejects its pending approval
// as the system, and an approval given after the expiry is refused
// (store.ErrOrderExpired) and issues nothing.
// The former code kept the approval pending and issued the certificate of
// an order approved days after it expired.
func TestExpiredOrderApprovalCancelled(t *testing.T) {
	code := policy.Profile{Name: "code", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(365), EKUs: []string{"codeSigning"},
		Approval: &policy.Approval{EKUs: []string{"codeSigning"}}}
	// Orders expire before caa-recheck-after (24 h) asks for CAA again.
	e := newPolicyEnvWith(t, ra.Config{OrderLifetime: time.Hour}, code)
	ctx := context.Background()
	a := e.account("code", nil, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	park := func(name string) *store.Order {
		t.Helper()
		o, azs := e.readyOrder(a, "code", name)
		parked, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, name), nil)
		if err != nil || parked.Status != store.OrderAwaitingApproval {
			t.Fatalf("finalize: %+v, %v; want the order awaiting approval", parked, err)
		}
		return parked
	}
	swept, late := park("s.pre.test"), park("l.pre.test")
	e.now = swept.Expires.Add(time.Second)

	// An approval after the expiry, before a sweep, is refused
	// (store.ErrOrderExpired) and issues nothing.
	lateAp, err := e.st.GetApprovalByOrder(ctx, late.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.DecideApproval(ctx, lateAp.ID, true, "alice", "ok", nil, e.now); !errors.Is(err, store.ErrOrderExpired) {
		t.Errorf("approval after the order expired: %v, want store.ErrOrderExpired", err)
	}
	if o, err := e.ra.ResumeApproved(ctx, late); err != nil || o.CertSerial != "" {
		t.Errorf("order whose approval was refused after it expired: %+v, %v; want no certificate", o, err)
	}

	// Still pending at the sweep: rejected.
	if err := e.ra.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	ap, err := e.st.GetApprovalByOrder(ctx, swept.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ap.Status != store.ApprovalRejected || ap.DecidedBy != audit.ActorSystem {
		t.Errorf("approval of the expired order after the sweep: %s by %q; want rejected by %s", ap.Status, ap.DecidedBy, audit.ActorSystem)
	}
	for _, o := range []*store.Order{swept, late} {
		if got, err := e.st.GetOrder(ctx, o.ID); err != nil || got.Status != acme.StatusInvalid || got.Error == nil || got.CertSerial != "" {
			t.Errorf("expired order after the sweep: %+v, %v; want invalid with an error, without a certificate", got, err)
		}
	}
}

// TestFinalizeForApprovalDeactivatedAccount: a finalize with a cached
// account (still valid in memory) deactivated meanwhile, by another node
// or the CLI, of an order whose profile requires approval is refused
// unauthorized, as one that issues at once is (StartIssuanceKey), and
// requests no approval. It was orderNotReady "the order is already being
// finalized".
func TestFinalizeForApprovalDeactivatedAccount(t *testing.T) {
	code := policy.Profile{Name: "code", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(365), EKUs: []string{"codeSigning"},
		Approval: &policy.Approval{EKUs: []string{"codeSigning"}}}
	e := newPolicyEnv(t, code)
	ctx := context.Background()
	a := e.account("code", nil, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	o, azs := e.readyOrder(a, "code", "c.pre.test")
	if err := e.st.DeactivateAccount(ctx, a.ID, nil); err != nil {
		t.Fatal(err)
	}
	_, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "c.pre.test"), nil)
	if p := wantProblem(t, err, acme.Unauthorized, "the account is no longer valid"); p.HTTPStatus() != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", p.HTTPStatus())
	}
	if _, err := e.st.GetApprovalByOrder(ctx, o.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("approval of the refused finalize: %v, want none", err)
	}
}
