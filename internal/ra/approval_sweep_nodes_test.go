package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestApprovalSweepTwoNodesAndAnApprover: on both engines, two nodes
// sweep at once, twice, while an approver decides some of the same
// approvals, after one account was deactivated and past escalateAfter.
// Every approval the approver or the system decides is decided once: it has exactly one approval.approve or
// approval.reject event, by whoever its row says decided it, and at most
// one approval.escalate; the deactivated account's approvals are rejected
// by the system (the approver's approvals of them are refused), and none
// of its orders gets a certificate; the valid account's undecided approvals are
// escalated once.
func TestApprovalSweepTwoNodesAndAnApprover(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		dir := t.TempDir()
		code := policy.Profile{Name: "code", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(365), EKUs: []string{"codeSigning"},
			Approval: &policy.Approval{EKUs: []string{"codeSigning"}, EscalateAfter: policy.Duration(2 * time.Hour)}}
		e := newPolicyEnvOn(t, st, dir, ra.Config{}, code)
		gone, kept := e.account("code", nil, nil), e.account("code", nil, nil)
		var orders []*store.Order
		for i, a := range []*store.Account{gone, gone, gone, gone, kept, kept, kept, kept} {
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			name := fmt.Sprintf("n%d.pre.test", i)
			o, azs := e.readyOrder(a, "code", name)
			parked, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, name), nil)
			if err != nil || parked.Status != store.OrderAwaitingApproval {
				t.Fatalf("finalize: %+v, %v; want the order awaiting approval", parked, err)
			}
			orders = append(orders, parked)
		}
		if _, err := e.ra.UpdateAccount(ctx, gone, acme.AccountUpdateRequest{Status: acme.StatusDeactivated}); err != nil {
			t.Fatal(err)
		}
		e.now = e.now.Add(3 * time.Hour) // past escalateAfter

		// Node B: another RA over the same database and CA.
		ca, err := local.LoadOrCreate(filepath.Join(dir, "ca"), local.Options{LintBeforeSign: true,
			IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl"})
		if err != nil {
			t.Fatal(err)
		}
		reg, err := policy.NewRegistry(st, ra.DefaultProfile(90*24*time.Hour, 0, false, false), time.Nanosecond, nil)
		if err != nil {
			t.Fatal(err)
		}
		nodeB := ra.New(ra.Config{Profiles: reg, CAARecheckAfter: 24 * time.Hour, Audit: audit.New(st, e.clock)}, st, nil,
			&local.Issuer{CA: ca, IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl"},
			e.clock, slog.New(slog.DiscardHandler))
		t.Cleanup(func() { nodeB.Shutdown(ctx) })

		aps := make([]*store.Approval, len(orders))
		for i, o := range orders {
			if aps[i], err = st.GetApprovalByOrder(ctx, o.ID); err != nil {
				t.Fatal(err)
			}
		}
		log := audit.New(st, e.clock)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for _, node := range []*ra.RA{e.ra, nodeB} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 2 {
					if err := node.Sweep(ctx); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Add(1)
		go func() { // the approver: approves every other approval
			defer wg.Done()
			for i := 0; i < len(aps); i += 2 {
				ev, err := log.Prepare(ctx, audit.Event{Actor: "user:alice", Action: audit.ActionApprovalApprove, ObjectType: audit.ObjectApproval,
					ObjectID: aps[i].ID, Replaced: ra.DecisionSnapshots(true, "user:alice", "ok", e.now)})
				if err != nil {
					errs <- err
					return
				}
				if _, err := st.DecideApproval(ctx, aps[i].ID, true, "user:alice", "ok", nil, e.now, ev); err != nil && !errorsIsStale(err) {
					errs <- err
				}
			}
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for i, ap := range aps {
			got, err := st.GetApproval(ctx, ap.ID)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := log.List(ctx, store.AuditFilter{ObjectType: audit.ObjectApproval, ObjectID: ap.ID, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			decisions, escalations := 0, 0
			for _, ev := range evs {
				switch ev.Action {
				case audit.ActionApprovalApprove, audit.ActionApprovalReject:
					decisions++
					if ev.Actor != got.DecidedBy {
						t.Errorf("approval %d: decision event by %s, row decided by %s", i, ev.Actor, got.DecidedBy)
					}
				case audit.ActionApprovalEscalate:
					escalations++
				}
			}
			switch {
			case ap.AccountID == kept.ID && i%2 == 1: // nobody decides it: escalated once
				if got.Status != store.ApprovalPending || decisions != 0 || escalations != 1 {
					t.Errorf("approval %d of the valid account, not decided: %s, %d decision event(s), %d escalation(s); want pending, escalated once",
						i, got.Status, decisions, escalations)
				}
			case got.Status == store.ApprovalPending || decisions != 1 || escalations > 1:
				t.Errorf("approval %d: %s by %s, %d decision event(s), %d escalation(s); want decided once, escalated at most once",
					i, got.Status, got.DecidedBy, decisions, escalations)
			}
			o, err := st.GetOrder(ctx, orders[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			if ap.AccountID == gone.ID {
				if got.Status != store.ApprovalRejected || got.DecidedBy != audit.ActorSystem {
					t.Errorf("approval %d of the deactivated account %s by %s, want rejected by %s", i, got.Status, got.DecidedBy, audit.ActorSystem)
				}
				if o.CertSerial != "" {
					t.Errorf("order %d of the deactivated account got certificate %s", i, o.CertSerial)
				}
			}
		}
	})
}

// errorsIsStale: the approval was decided meanwhile, or its account is
// deactivated (store.DecideApproval refuses to approve it).
func errorsIsStale(err error) bool {
	return errors.Is(err, store.ErrStale) || errors.Is(err, store.ErrAccountNotValid)
}
