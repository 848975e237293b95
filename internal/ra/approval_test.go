package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
)

// TestApprovals: an order of a profile with an approval rule stays
// processing after finalize until approved, then issues; a rejected one
// becomes invalid with the comment; an approval waiting longer than
// escalateAfter is escalated once (log + webhook), driven by an injected
// clock.
func TestApprovals(t *testing.T) {
	var mu sync.Mutex
	var hooks []ra.Escalation
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var ev ra.Escalation
		if err := json.Unmarshal(b, &ev); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook body %s: %v", b, err)
		}
		mu.Lock()
		hooks = append(hooks, ev)
		mu.Unlock()
	}))
	defer hook.Close()
	code := policy.Profile{Name: "code", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(365), EKUs: []string{"codeSigning"},
		Approval: &policy.Approval{EKUs: []string{"codeSigning"}, EscalateAfter: policy.Duration(2 * time.Hour)}}
	e := newPolicyEnvWith(t, ra.Config{ApprovalWebhook: hook.URL}, code)
	ctx := context.Background()
	a := e.account("code", nil, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	finalize := func(name string) *store.Order {
		t.Helper()
		o, azs := e.readyOrder(a, "code", name)
		parked, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, name), nil)
		if err != nil {
			t.Fatal(err)
		}
		if parked.Status != store.OrderAwaitingApproval || ra.OrderStatus(parked, azs, e.now) != acme.StatusProcessing {
			t.Fatalf("after finalize: stored %q served %q; want approval/processing", parked.Status, ra.OrderStatus(parked, azs, e.now))
		}
		return parked
	}
	approvalOf := func(o *store.Order) *store.Approval {
		ap, err := e.st.GetApprovalByOrder(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		return ap
	}

	// Approve.
	o1 := finalize("a.pre.test")
	ap1 := approvalOf(o1)
	if ap1.Status != store.ApprovalPending || !strings.Contains(ap1.Reason, "codeSigning") || ap1.KeyType != policy.KeyECDSAP256 {
		t.Errorf("approval %+v", ap1)
	}
	if same, err := e.ra.ResumeApproved(ctx, o1); err != nil || same.Status != store.OrderAwaitingApproval {
		t.Fatalf("before the decision: %v, %v", same, err)
	}
	if _, err := e.st.DecideApproval(ctx, ap1.ID, true, "alice", "ok", nil, e.now); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.DecideApproval(ctx, ap1.ID, false, "bob", "no", ra.RejectionProblem("no"), e.now); err == nil {
		t.Error("a second decision was accepted")
	}
	done, err := e.ra.ResumeApproved(ctx, o1)
	if err != nil || done.Status != acme.StatusValid || done.CertSerial == "" {
		t.Fatalf("after approval: %+v, %v", done, err)
	}
	if ap := approvalOf(o1); ap.DecidedBy != "alice" || ap.DecidedAt.IsZero() {
		t.Errorf("decision not recorded: %+v", ap)
	}

	// Reject.
	o2 := finalize("b.pre.test")
	if _, err := e.st.DecideApproval(ctx, approvalOf(o2).ID, false, "bob", "not for production", ra.RejectionProblem("not for production"), e.now); err != nil {
		t.Fatal(err)
	}
	got, _ := e.st.GetOrder(ctx, o2.ID)
	if got.Status != acme.StatusInvalid || got.Error == nil || got.Error.Type != acme.Unauthorized || !strings.Contains(got.Error.Detail, "not for production") {
		t.Errorf("rejected order %+v (error %+v)", got, got.Error)
	}

	// Escalation with the injected clock.
	finalize("c.pre.test")
	start := e.now
	e.now = start.Add(time.Hour)
	if err := e.ra.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := len(hooks)
	mu.Unlock()
	if n != 0 {
		t.Fatalf("escalated after 1h of 2h")
	}
	e.now = start.Add(2*time.Hour + time.Second)
	for range 2 {
		if err := e.ra.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hooks) != 1 || hooks[0].Event != "approval.escalated" || hooks[0].Profile != "code" || hooks[0].Identifiers[0].Value != "c.pre.test" {
		t.Fatalf("webhook calls %+v, want one escalation of c.pre.test", hooks)
	}
	aps, _ := e.st.ListApprovals(ctx, store.ApprovalPending, 10)
	if len(aps) != 1 || aps[0].EscalatedAt.IsZero() {
		t.Errorf("pending approvals %+v, want the escalated one", aps)
	}
	// The audit log has the requests, the issuance after approval and the
	// escalation, in the transactions that made them.
	evs, err := audit.New(e.st, nil).List(ctx, store.AuditFilter{ObjectType: audit.ObjectApproval, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ev := range evs {
		count[ev.Action]++
	}
	if count[audit.ActionApprovalRequest] != 3 || count[audit.ActionApprovalEscalate] != 1 {
		t.Errorf("approval audit events %v", count)
	}
	issued, _ := audit.New(e.st, nil).List(ctx, store.AuditFilter{Action: audit.ActionCertificateIssue, Limit: 100})
	if len(issued) != 1 || issued[0].ObjectID != done.CertSerial {
		t.Errorf("issue events %d, want one for %s", len(issued), done.CertSerial)
	}
}

// TestApprovalSweepIssues: an approved order that no client polls is
// issued by the sweep.
func TestApprovalSweepIssues(t *testing.T) {
	p := policy.Profile{Name: "gated", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30), Approval: &policy.Approval{Always: true}}
	e := newPolicyEnv(t, p)
	ctx := context.Background()
	a := e.account("gated", nil, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	o, azs := e.readyOrder(a, "gated", "s.pre.test")
	if _, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "s.pre.test"), nil); err != nil {
		t.Fatal(err)
	}
	ap, _ := e.st.GetApprovalByOrder(ctx, o.ID)
	if _, err := e.st.DecideApproval(ctx, ap.ID, true, "carol", "", nil, e.now); err != nil {
		t.Fatal(err)
	}
	if err := e.ra.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := e.st.GetOrder(ctx, o.ID)
	if got.Status != acme.StatusValid || got.CertSerial == "" {
		t.Errorf("order after sweep: %+v", got)
	}
}

// TestApprovalAfterAccountDeactivation: an account deactivated after its
// order was approved, before the certificate was issued, gets no
// certificate (RFC 8555 §7.3.6); the order becomes invalid instead. The sweep issued
// it, since the account's own requests are refused but the sweep's are not
// the account's.
func TestApprovalAfterAccountDeactivation(t *testing.T) {
	code := policy.Profile{Name: "code", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30),
		Approval: &policy.Approval{Always: true}}
	e := newPolicyEnv(t, code)
	ctx := context.Background()
	a := e.account("code", nil, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	o, azs := e.readyOrder(a, "code", "gone.pre.test")
	parked, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "gone.pre.test"), nil)
	if err != nil || parked.Status != store.OrderAwaitingApproval {
		t.Fatalf("finalize: %+v, %v", parked, err)
	}
	// Approved while the account was valid (an approval after the
	// deactivation is refused: store.ErrAccountNotValid), deactivated
	// before the certificate is issued.
	ap, err := e.st.GetApprovalByOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.DecideApproval(ctx, ap.ID, true, "alice", "ok", nil, e.now); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ra.UpdateAccount(ctx, a, acme.AccountUpdateRequest{Status: acme.StatusDeactivated}); err != nil {
		t.Fatal(err)
	}
	_, err = e.ra.ResumeApproved(ctx, parked)
	if p, ok := acme.AsProblem(err); !ok || p.Type != acme.Unauthorized {
		t.Errorf("resume for a deactivated account: %v, want unauthorized", err)
	}
	got, err := e.st.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != acme.StatusInvalid || got.CertSerial != "" {
		t.Errorf("order %s with certificate %q, want invalid without one", got.Status, got.CertSerial)
	}
}

// TestEscalationRecordsAfter: the approval.escalate audit event records
// the approval before and after the escalation (escalated_at set), as
// the decisions' events do (it had no after), and the webhook's waiting
// is whole seconds ("2h0m2s", as docs/profiles.md shows it), not
// nanoseconds ("2h0m1.500000123s").
func TestEscalationRecordsAfter(t *testing.T) {
	var mu sync.Mutex
	var hooks []ra.Escalation
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var ev ra.Escalation
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		mu.Lock()
		hooks = append(hooks, ev)
		mu.Unlock()
	}))
	defer hook.Close()
	p := policy.Profile{Name: "gated", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30),
		Approval: &policy.Approval{Always: true, EscalateAfter: policy.Duration(2 * time.Hour)}}
	e := newPolicyEnvWith(t, ra.Config{ApprovalWebhook: hook.URL}, p)
	ctx := context.Background()
	a := e.account("gated", nil, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	o, azs := e.readyOrder(a, "gated", "e.pre.test")
	if _, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "e.pre.test"), nil); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(2*time.Hour + 1500*time.Millisecond + 123)
	if err := e.ra.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := audit.New(e.st, nil).List(ctx, store.AuditFilter{Action: audit.ActionApprovalEscalate, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d escalate events, want 1", len(evs))
	}
	var before, after ra.ApprovalView
	if err := json.Unmarshal([]byte(evs[0].Before), &before); err != nil {
		t.Fatalf("before %q: %v", evs[0].Before, err)
	}
	if err := json.Unmarshal([]byte(evs[0].After), &after); err != nil {
		t.Fatalf("after %q: %v", evs[0].After, err)
	}
	if !before.EscalatedAt.IsZero() || !after.EscalatedAt.Equal(e.now) || after.Status != store.ApprovalPending || after.ID != before.ID {
		t.Errorf("escalate event before %+v after %+v, want escalated_at %s set in after only", before, after, e.now)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hooks) != 1 || hooks[0].Waiting != "2h0m2s" {
		t.Errorf("webhook calls %+v, want one with waiting 2h0m2s", hooks)
	}
}

// TestEscalationWebhooksAtOnce: the webhooks of the approvals one sweep
// escalates are sent at the same time, so an unresponsive webhook holds
// the sweep (which also resumes validations and issues approved orders)
// for one timeout, not one per escalation as when they were sent one
// after the other.
func TestEscalationWebhooksAtOnce(t *testing.T) {
	var mu sync.Mutex
	got := 0
	release := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got++
		mu.Unlock()
		select { // never answers: the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hook.Close()
	defer close(release) // before Close, which waits for the handlers
	const timeout = time.Second
	p := policy.Profile{Name: "gated", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30),
		Approval: &policy.Approval{Always: true, EscalateAfter: policy.Duration(time.Hour)}}
	e := newPolicyEnvWith(t, ra.Config{ApprovalWebhook: hook.URL, WebhookClient: &http.Client{Timeout: timeout}}, p)
	ctx := context.Background()
	a := e.account("gated", nil, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	const n = 3
	for i := range n {
		name := fmt.Sprintf("w%d.pre.test", i)
		o, azs := e.readyOrder(a, "gated", name)
		if _, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, name), nil); err != nil {
			t.Fatal(err)
		}
	}
	e.now = e.now.Add(2 * time.Hour)
	start := time.Now()
	if err := e.ra.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= (n-1)*timeout {
		t.Errorf("sweep with %d escalations and an unresponsive webhook took %s, want under %s (about one timeout, not %d)", n, took, (n-1)*timeout, n)
	}
	mu.Lock()
	defer mu.Unlock()
	if got != n {
		t.Errorf("webhook received %d requests, want %d", got, n)
	}
}
