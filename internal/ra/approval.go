package ra

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/notify"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
)

// ApprovalStore is what approvals need from storage; *store.Store
// implements it.
type ApprovalStore interface {
	// RequestApprovalSpend requests approval for an order and spends the
	// rate buckets of spend (nil: none) in one transaction, all or
	// nothing: store.ErrStale when the order is no longer pending,
	// store.ErrRateLimited when a bucket refuses.
	RequestApprovalSpend(ctx context.Context, ap *store.Approval, now time.Time, spend *store.RateSpend, events ...*store.AuditAppend) error
	// GetApprovalByOrder returns the approval of order orderID;
	// store.ErrNotFound when none.
	GetApprovalByOrder(ctx context.Context, orderID string) (*store.Approval, error)
	// ListApprovals returns at most limit approvals in status ("" for
	// any), oldest request first; limit <= 0 returns them all.
	ListApprovals(ctx context.Context, status string, limit int) ([]*store.Approval, error)
	// ListApprovalsPage returns up to limit approvals in status after the
	// keyset position after (nil: from the first), oldest request first.
	ListApprovalsPage(ctx context.Context, status string, after *store.ApprovalKey, limit int) ([]*store.Approval, error)
	// ApprovedAwaiting returns the IDs of orders whose approval was
	// approved while issuance has not started yet.
	ApprovedAwaiting(ctx context.Context, limit int) ([]string, error)
	// MarkApprovalEscalated records that pending approval id was escalated
	// at now, with events in the same transaction; store.ErrStale when it
	// was escalated before or is no longer pending (so one node of many
	// announces it).
	MarkApprovalEscalated(ctx context.Context, id string, now time.Time, events ...*store.AuditAppend) error
	// DecideApproval records an approver's decision on pending approval id
	// (a rejection makes its order invalid with perr) with events, in one
	// transaction, and returns the approval as decided. Errors:
	// store.ErrNotFound, store.ErrStale when already decided,
	// store.ErrOrderExpired, store.ErrAccountNotValid,
	// store.ErrKeyBlocked, store.ErrProfileDeleted or
	// store.ErrAuthzNotValid when approving what would issue nothing.
	DecideApproval(ctx context.Context, id string, approve bool, by, comment string, perr *acme.Problem, now time.Time, events ...*store.AuditAppend) (*store.Approval, error)
	// PendingApprovalsExpired returns at most limit pending approvals
	// whose order expired by now (RFC 8555 §7.1.3), oldest request first.
	PendingApprovalsExpired(ctx context.Context, now time.Time, limit int) ([]*store.Approval, error)
	// AccountStatuses and BlockedKeysAmong read, for the sweep, the
	// accounts and CSR keys of all pending approvals at once.
	AccountStatuses(ctx context.Context, ids []string) (map[string]string, error)
	// BlockedKeysAmong returns, keyed by string(hash), those of hashes
	// (KeyHash: SHA-256 of a DER SubjectPublicKeyInfo, 32 bytes) that are
	// blocked; a key that is not blocked is absent.
	BlockedKeysAmong(ctx context.Context, hashes [][]byte) (map[string]*store.BlockedKey, error)
	// UnusableAuthorizations returns, keyed by order ID, an authorization
	// of each of orderIDs that makes it invalid at now (invalid,
	// deactivated, revoked, expired); an order without one is absent.
	UnusableAuthorizations(ctx context.Context, orderIDs []string, now time.Time) (map[string]*store.Authorization, error)
}

// ApprovalRetryAfter is the polling hint, in seconds, for orders waiting
// for an approver.
const ApprovalRetryAfter = 5

// requestApproval parks order o after a finalize whose profile requires
// approval: the order is stored as awaiting approval (served as
// processing, RFC 8555 §7.4) with the CSR, until DecideApproval's effects
// are picked up by ResumeApproved. certificates-per-domain is spent in the
// same transaction (limitCertificate), so that a finalize that loses a
// race to another spends nothing.
func (r *RA) requestApproval(ctx context.Context, a *store.Account, o *store.Order, csr *x509.CertificateRequest, keyType, why string, now time.Time) (*store.Order, error) {
	spend, refused, err := r.limitCertificate(ctx, a, o)
	if err != nil {
		return nil, err
	}
	ap := &store.Approval{ID: newID(), OrderID: o.ID, AccountID: a.ID, Profile: o.Profile, Identifiers: o.Identifiers, KeyType: keyType,
		Reason: why, CSR: csr.Raw, Status: store.ApprovalPending, RequestedAt: now}
	ev, err := r.auditEvent(ctx, audit.Event{Actor: audit.ACMEAccountActor(a.ID), Action: audit.ActionApprovalRequest,
		ObjectType: audit.ObjectApproval, ObjectID: ap.ID, After: ApprovalSnapshot(ap)})
	if err != nil {
		return nil, r.internal(ctx, "audit event", err)
	}
	if err := r.store.RequestApprovalSpend(ctx, ap, now, spend, ev...); err != nil {
		if p := rateRefusal(err, refused); p != nil {
			return nil, p
		}
		if errors.Is(err, store.ErrAccountNotValid) {
			// Deactivated since the account was read (a cached one).
			return nil, accountNoLongerValid()
		}
		if errors.Is(err, store.ErrStale) {
			return nil, acme.NewProblem(acme.OrderNotReady, "the order is already being finalized")
		}
		return nil, r.internal(ctx, "approval request", err)
	}
	r.log.InfoContext(ctx, "approval requested", "approval", ap.ID, "order", o.ID, "profile", o.Profile, "reason", why)
	parked := *o
	parked.Status, parked.UpdatedAt = store.OrderAwaitingApproval, now
	return &parked, nil
}

// ResumeApproved issues the certificate of order o when it awaits approval
// and its approval was approved (by `certgate approval approve`, possibly
// in another process); it returns the order as stored afterwards, or o
// unchanged when there is nothing to do. Safe to call concurrently from
// several requests and nodes: the move awaiting→processing is
// conditional, so one caller issues.
func (r *RA) ResumeApproved(ctx context.Context, o *store.Order) (*store.Order, error) {
	if o.Status != store.OrderAwaitingApproval {
		return o, nil
	}
	ap, err := r.store.GetApprovalByOrder(ctx, o.ID)
	if err != nil {
		return nil, r.internal(ctx, "approval lookup", err)
	}
	if ap.Status != store.ApprovalApproved {
		return o, nil
	}
	now := r.now()
	if err := r.store.SetOrderProcessing(ctx, o.ID, store.OrderAwaitingApproval, r.processingNode(), now); err != nil {
		if errors.Is(err, store.ErrStale) {
			return r.reload(ctx, o.ID)
		}
		return nil, r.internal(ctx, "order issuance", err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if !ap.DecidedAt.Before(o.Expires) {
		// Approved after the order expired (RFC 8555 §7.1.3: the server
		// then considers it invalid), before the sweep rejected it: by a
		// version before store.DecideApproval refused that
		// (store.ErrOrderExpired).
		return nil, r.failProcessing(ctx, o.ID, expiredAwaitingProblem())
	}
	a, err := r.store.GetAccount(ctx, o.AccountID)
	if err != nil {
		return nil, r.failProcessing(ctx, o.ID, r.internal(ctx, "account lookup", err))
	}
	csr, err := x509.ParseCertificateRequest(ap.CSR)
	if err != nil {
		return nil, r.failProcessing(ctx, o.ID, r.internal(ctx, "stored CSR", err))
	}
	prof, err := r.Profile(ctx, o.Profile)
	if err != nil {
		return nil, r.failProcessing(ctx, o.ID, err)
	}
	if err := r.recheckAtSigning(ctx, a, o, prof, now); err != nil {
		// Approved, but no longer issuable as ordered: the certificate
		// will not be issued (RFC 8555 §7.1.6 invalid).
		return nil, r.failProcessing(ctx, o.ID, err)
	}
	// The CSR against the profile as it is now, as finalize checked it:
	// keyTypes or subjectFields may have changed while the order waited.
	if err := prof.CheckKey(csr.PublicKey); err != nil {
		return nil, r.failProcessing(ctx, o.ID, err)
	}
	if err := prof.CheckSubject(csr.Subject); err != nil {
		return nil, r.failProcessing(ctx, o.ID, err)
	}
	// And against the weak-key checks as they are now: one added since
	// the approval was requested (the ROCA fingerprint) is not among the
	// issuance lint's.
	if err := r.checkWeakKey(csr.PublicKey); err != nil {
		return nil, r.failProcessing(ctx, o.ID, err)
	}
	// The key may have been revoked for keyCompromise while the order
	// waited for its approver.
	if err := r.checkKeyNotBlocked(ctx, csr.PublicKey, "the CSR's public key"); err != nil {
		return nil, r.failProcessing(ctx, o.ID, err)
	}
	// The approval may come long after finalize: the account may have been
	// deactivated since (RFC 8555 §7.3.6: no further certificates for it),
	// and the CAA check finalize relied on may be older than
	// caa-recheck-after, as at finalize (CA/B BR 3.2.2.8).
	if a.Status != acme.StatusValid {
		return nil, r.failProcessing(ctx, o.ID, AccountNotValid(a))
	}
	authzs, err := r.store.GetAuthorizations(ctx, o.AuthzIDs)
	if err != nil {
		return nil, r.failProcessing(ctx, o.ID, r.internal(ctx, "authorizations lookup", err))
	}
	// An authorization deactivated, revoked or expired while the order
	// waited makes the order invalid (RFC 8555 §7.1.6), as OrderStatus
	// does for an order not yet finalized: DecideApproval refuses to
	// approve such an order and the sweep rejects its approval, but the
	// authorization may have changed after the approval.
	if p := authzsStillValid(authzs, now); p != nil {
		r.log.WarnContext(ctx, "approved order not issued: an authorization is no longer valid", "order", o.ID, "approval", ap.ID,
			"approved_by", ap.DecidedBy, "problem", p.Detail)
		return nil, r.failProcessing(ctx, o.ID, p)
	}
	if err := r.recheckCAA(ctx, a.ID, authzs, now); err != nil {
		return nil, r.failProcessing(ctx, o.ID, err)
	}
	iss, err := r.issuerFor(prof)
	if err != nil {
		return nil, r.failProcessing(ctx, o.ID, err)
	}
	if rm, ok := iss.(issuer.Remote); ok {
		return r.startRemote(ctx, a, o, csr, prof, rm, now), nil
	}
	serial, hexSerial := newSerial(now)
	if err := r.store.ReserveSerial(ctx, hexSerial, now); err != nil {
		return nil, r.failProcessing(ctx, o.ID, r.internal(ctx, "reserve serial", err))
	}
	cert, err := r.issue(ctx, a, o, csr, prof, iss, serial, hexSerial, now)
	if err != nil {
		return nil, r.failProcessing(ctx, o.ID, err)
	}
	done := r.now()
	ev, err := r.auditEvent(ctx, issueEvent(a, cert, done))
	if err != nil {
		return nil, r.failProcessing(ctx, o.ID, r.internal(ctx, "audit event", err))
	}
	if err := r.storeIssued(ctx, o.ID, cert, done, ev); err != nil {
		var kb *store.KeyBlockedError
		if errors.As(err, &kb) {
			r.cfg.Metrics.FinalizeFailed(acme.BadPublicKey)
		}
		return nil, r.finishRefused(ctx, o.ID, err)
	}
	r.cfg.Metrics.CertificateIssued(prof.Name, cert.Issuer)
	r.log.InfoContext(ctx, "certificate issued after approval", "order", o.ID, "approval", ap.ID, "approved_by", ap.DecidedBy,
		"serial", cert.Serial, "names", cert.SANs)
	return r.reload(ctx, o.ID)
}

func (r *RA) reload(ctx context.Context, id string) (*store.Order, error) {
	o, err := r.store.GetOrder(ctx, id)
	if err != nil {
		return nil, r.internal(ctx, "order lookup", err)
	}
	return o, nil
}

// failProcessing makes processing order id invalid with err as its problem,
// counts it as a failed finalization and returns the problem.
func (r *RA) failProcessing(ctx context.Context, id string, err error) error {
	p, ok := acme.AsProblem(err)
	if !ok {
		p = r.internal(ctx, "issuance", err).(*acme.Problem)
	}
	if serr := r.store.SetOrderStatus(ctx, id, acme.StatusProcessing, acme.StatusInvalid, p, r.now()); serr != nil {
		r.log.ErrorContext(ctx, "mark order invalid", "order", id, "err", serr)
	}
	r.cfg.Metrics.FinalizeFailed(p.Type)
	return p
}

// RejectionProblem is the problem an order rejected by an approver
// carries: unauthorized, with the approver's comment in the detail.
func RejectionProblem(comment string) *acme.Problem {
	if comment == "" {
		return acme.NewProblem(acme.Unauthorized, "the certificate request was rejected by an approver")
	}
	return acme.NewProblem(acme.Unauthorized, "the certificate request was rejected by an approver: %s", comment)
}

// sweepApprovals issues approved orders that no client fetched yet,
// rejects the pending approvals whose order expired, whose account is no
// longer valid, whose CSR's key was blocked or one of whose order's
// authorizations is no longer valid (cancelApproval), and escalates pending approvals that waited
// longer than their profile's escalateAfter: once across the cluster, it
// logs an "approval escalated" event and, with Config.ApprovalWebhook,
// POSTs it as JSON there (notifyEscalations: the sweep's escalations at
// once, after the others' changes). The accounts and the blocked CSR keys of all
// pending approvals (up to 1,000) and their orders' authorizations that
// are no longer valid are read with one statement each (AccountStatuses,
// BlockedKeysAmong, UnusableAuthorizations), not one read per approval.
func (r *RA) sweepApprovals(ctx context.Context) error {
	ids, err := r.store.ApprovedAwaiting(ctx, 100)
	if err != nil {
		return fmt.Errorf("approved orders: %w", err)
	}
	for _, id := range ids {
		o, err := r.store.GetOrder(ctx, id)
		if err != nil {
			return fmt.Errorf("approved order %s: %w", id, err)
		}
		if _, err := r.ResumeApproved(ctx, o); err != nil {
			r.log.ErrorContext(ctx, "issue approved order", "order", id, "err", err)
		}
	}
	now := r.now()
	expired, err := r.store.PendingApprovalsExpired(ctx, now, 1000)
	if err != nil {
		return fmt.Errorf("approvals of expired orders: %w", err)
	}
	for _, ap := range expired {
		if err := r.cancelApproval(ctx, ap, "the order expired before a decision", expiredAwaitingProblem(), now); err != nil {
			return err
		}
	}
	// Escalations are announced after the loop, their webhooks at once
	// (notifyEscalations): one slow or unreachable webhook must not hold
	// up the rest of the sweep for 10 s per escalated approval.
	var escalated []Escalation
	defer func() { r.notifyEscalations(ctx, escalated) }()
	// Every pending approval, a page at a time: reading only the oldest
	// 1,000 left every newer one unescalated and uncancelled for as long
	// as 1,000 older ones waited.
	var after *store.ApprovalKey
	for {
		pending, err := r.store.ListApprovalsPage(ctx, store.ApprovalPending, after, sweepApprovalsPage)
		if err != nil {
			return fmt.Errorf("pending approvals: %w", err)
		}
		if len(pending) == 0 {
			return nil
		}
		if err := r.sweepPending(ctx, pending, now, &escalated); err != nil {
			return err
		}
		if len(pending) < sweepApprovalsPage {
			return nil
		}
		last := pending[len(pending)-1]
		after = &store.ApprovalKey{RequestedAt: last.RequestedAt, ID: last.ID}
	}
}

// sweepApprovalsPage is how many pending approvals one read of the sweep
// takes (sweepPending reads their accounts and keys in one statement each).
const sweepApprovalsPage = 1000

// sweepPending cancels those of pending whose account is no longer valid,
// whose CSR's key was blocked, one of whose order's authorizations is no
// longer valid (deactivated, revoked, expired) or whose profile was
// deleted, and escalates
// those that waited longer than their profile's escalateAfter, appending
// them to escalated.
func (r *RA) sweepPending(ctx context.Context, pending []*store.Approval, now time.Time, escalated *[]Escalation) error {
	// The accounts and the CSR keys of all pending approvals, each read in
	// one statement (before: one read per approval, about 200 reads a
	// second per node at 1,000 pending approvals).
	accountIDs := make([]string, 0, len(pending))
	orderIDs := make([]string, 0, len(pending))
	hashes := make([][]byte, 0, len(pending))
	keyOf := make(map[string][]byte, len(pending)) // approval ID → KeyHash of its CSR's key
	keyErr := make(map[string]error, len(pending)) // approval ID → why that key has no KeyHash
	for _, ap := range pending {
		accountIDs = append(accountIDs, ap.AccountID)
		orderIDs = append(orderIDs, ap.OrderID)
		csr, err := x509.ParseCertificateRequest(ap.CSR)
		if err != nil {
			continue // checked at finalize; nothing to look up
		}
		h, err := store.KeyHash(csr.PublicKey)
		if err != nil {
			keyErr[ap.ID] = err
			continue
		}
		keyOf[ap.ID] = h
		hashes = append(hashes, h)
	}
	statuses, err := r.store.AccountStatuses(ctx, accountIDs)
	if err != nil {
		return fmt.Errorf("accounts of pending approvals: %w", err)
	}
	blocked, err := r.store.BlockedKeysAmong(ctx, hashes)
	if err != nil {
		return fmt.Errorf("keys of pending approvals: %w", err)
	}
	unusable, err := r.store.UnusableAuthorizations(ctx, orderIDs, now)
	if err != nil {
		return fmt.Errorf("authorizations of pending approvals: %w", err)
	}
	for _, ap := range pending {
		if st, ok := statuses[ap.AccountID]; ok && st != acme.StatusValid {
			a := &store.Account{ID: ap.AccountID, Status: st}
			if err := r.cancelApproval(ctx, ap, fmt.Sprintf("the account is %s", a.Status), AccountNotValid(a), now); err != nil {
				return err
			}
			continue
		}
		// The CSR's key may have been revoked for keyCompromise since
		// (checkKeyNotBlocked, for all of them at once).
		var kp *acme.Problem
		if err := keyErr[ap.ID]; err != nil {
			kp = acme.NewProblem(acme.BadPublicKey, "the CSR's public key cannot be encoded: %v", err)
		} else if b := blocked[string(keyOf[ap.ID])]; b != nil {
			kp = blockedKeyProblem(b, "the CSR's public key")
		}
		if kp != nil {
			if err := r.cancelApproval(ctx, ap, "the CSR's public key is blocked", kp, now); err != nil {
				return err
			}
			continue
		}
		// An authorization of the order deactivated (RFC 8555 §7.5.2),
		// revoked or expired since finalize: the order is invalid (RFC
		// 8555 §7.1.6), as ResumeApproved would find.
		if az := unusable[ap.OrderID]; az != nil {
			why := fmt.Sprintf("the order's authorization for %s is %s", orderIdentifier(az.Identifier, az.Wildcard).Value, AuthorizationStatus(az, now))
			if err := r.cancelApproval(ctx, ap, why, authzsStillValid([]*store.Authorization{az}, now), now); err != nil {
				return err
			}
			continue
		}
		if !ap.EscalatedAt.IsZero() {
			continue
		}
		p, err := r.profiles.Get(ctx, ap.Profile)
		if errors.Is(err, policy.ErrUnknown) {
			// Deleted (forced): the order could not be issued, as
			// ResumeApproved would find (invalidProfile).
			if err := r.cancelApproval(ctx, ap, fmt.Sprintf("the profile %s was deleted", ap.Profile),
				acme.NewProblem(acme.InvalidProfile, "there is no profile %q", ap.Profile), now); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			// Unreadable now: escalated at a later sweep; the other
			// approvals are not held up by it.
			r.log.ErrorContext(ctx, "profile of a pending approval", "approval", ap.ID, "profile", ap.Profile, "err", err)
			continue
		}
		after := p.EscalateAfter()
		if after <= 0 || now.Sub(ap.RequestedAt) < after {
			continue
		}
		// The update below is conditional on the approval being pending
		// and not escalated, which is what ap shows: before and after are
		// the row it replaces and the row it leaves.
		marked := *ap
		marked.EscalatedAt = now
		ev, err := r.auditEvent(ctx, audit.Event{Actor: audit.ActorSystem, Action: audit.ActionApprovalEscalate,
			ObjectType: audit.ObjectApproval, ObjectID: ap.ID, Before: ApprovalSnapshot(ap), After: ApprovalSnapshot(&marked)})
		if err != nil {
			return fmt.Errorf("audit event: %w", err)
		}
		if err := r.store.MarkApprovalEscalated(ctx, ap.ID, now, ev...); err != nil {
			if errors.Is(err, store.ErrStale) {
				continue // another node did, or it was decided meanwhile
			}
			return fmt.Errorf("escalate approval %s: %w", ap.ID, err)
		}
		*escalated = append(*escalated, Escalation{Event: "approval.escalated", Approval: ap.ID, Order: ap.OrderID, Profile: p.Name,
			Identifiers: ap.Identifiers, Reason: ap.Reason, RequestedAt: ap.RequestedAt, EscalatedAt: now,
			Waiting: now.Sub(ap.RequestedAt).Round(time.Second).String()})
	}
	return nil
}

// expiredAwaitingProblem is the error of an order that expired while it
// waited for an approver (RFC 8555 §7.1.3 expires: the server then
// considers the order invalid).
func expiredAwaitingProblem() *acme.Problem {
	return acme.NewProblem(acme.Malformed, "order expired before an approver approved it; please create a new order")
}

// cancelApproval rejects the pending approval ap as the system, with
// comment, making its order invalid with problem perr: its account is no
// longer valid (RFC 8555 §7.3.6 has the server cancel the pending
// operations of a deactivated account), its CSR's key was blocked since
// it was requested (CA/B Forum BR §6.1.1.3), an authorization of its
// order is no longer valid (RFC 8555 §7.1.6), or its order expired (RFC
// 8555 §7.1.3). ResumeApproved would
// refuse its certificate, so an approver should not be asked for it, nor
// have it escalated. Audited as approval.reject; an approval decided
// meanwhile (another node) is left as it is.
func (r *RA) cancelApproval(ctx context.Context, ap *store.Approval, comment string, perr *acme.Problem, now time.Time) error {
	ev, err := r.auditEvent(ctx, audit.Event{Actor: audit.ActorSystem, Action: audit.ActionApprovalReject, ObjectType: audit.ObjectApproval,
		ObjectID: ap.ID, Replaced: DecisionSnapshots(false, audit.ActorSystem, comment, now)})
	if err != nil {
		return fmt.Errorf("audit event: %w", err)
	}
	if _, err := r.store.DecideApproval(ctx, ap.ID, false, audit.ActorSystem, comment, perr, now, ev...); err != nil {
		if errors.Is(err, store.ErrStale) {
			return nil
		}
		return fmt.Errorf("reject approval %s: %w", ap.ID, err)
	}
	r.log.InfoContext(ctx, "approval rejected by the system", "approval", ap.ID, "order", ap.OrderID, "account", ap.AccountID, "why", comment)
	return nil
}

// ApprovalView is an approval as the audit log and the CLI's JSON show it
// (without the CSR).
type ApprovalView struct {
	ID          string            `json:"id"`                                      // approval ID
	Order       string            `json:"order"`                                   // order ID
	Account     string            `json:"account"`                                 // ACME account ID
	Profile     string            `json:"profile"`                                 // profile name
	Identifiers []acme.Identifier `json:"identifiers"`                             // the order's identifiers
	KeyType     string            `json:"key_type"`                                // policy key type name, e.g. "ecdsa-p256"
	Reason      string            `json:"reason"`                                  // why approval is needed (which rule matched)
	Status      string            `json:"status" enum:"pending,approved,rejected"` // pending, approved or rejected
	RequestedAt time.Time         `json:"requested_at"`                            // UTC
	DecidedAt   time.Time         `json:"decided_at,omitzero"`                     // zero while pending
	DecidedBy   string            `json:"decided_by,omitempty"`                    // audit actor of the approver; "" while pending
	Comment     string            `json:"comment,omitempty"`                       // the approver's comment
	EscalatedAt time.Time         `json:"escalated_at,omitzero"`                   // zero unless escalated
}

// ApprovalSnapshot returns the view of ap.
func ApprovalSnapshot(ap *store.Approval) ApprovalView {
	return ApprovalView{ID: ap.ID, Order: ap.OrderID, Account: ap.AccountID, Profile: ap.Profile, Identifiers: ap.Identifiers,
		KeyType: ap.KeyType, Reason: ap.Reason, Status: ap.Status, RequestedAt: ap.RequestedAt, DecidedAt: ap.DecidedAt,
		DecidedBy: ap.DecidedBy, Comment: ap.Comment, EscalatedAt: ap.EscalatedAt}
}

// DecisionSnapshots is the audit.Event.Replaced of a decision on an
// approval (approved when approve, else rejected, by by at now with
// comment): the approval as the store reads it in the decision's
// transaction, and as the decision leaves it.
func DecisionSnapshots(approve bool, by, comment string, now time.Time) func(any) (any, any, error) {
	return audit.ReplacedRow(func(old *store.Approval) (any, any) {
		after := *old
		after.Status, after.DecidedAt, after.DecidedBy, after.Comment = store.ApprovalRejected, now, by, comment
		if approve {
			after.Status = store.ApprovalApproved
		}
		return ApprovalSnapshot(old), ApprovalSnapshot(&after)
	})
}

// ErrNoRejectionComment is the error of a rejection without a comment
// (Decide): the ACME client sees the comment, so it must say why.
var ErrNoRejectionComment = errors.New("a rejection needs a comment saying why (the ACME client sees it)")

// MaxDecisionComment is the longest comment a decision takes, in
// characters (Unicode code points), as the admin API's schema says.
const MaxDecisionComment = 1000

// ErrInvalidComment wraps every refusal of CheckDecisionComment.
var ErrInvalidComment = errors.New("invalid comment")

// CheckDecisionComment returns an error wrapping ErrInvalidComment, saying
// what is wrong, when comment is not valid UTF-8, holds a control
// character other than line feed, carriage return or tab (NUL, which
// PostgreSQL cannot store in text, ESC, …), or is longer than
// MaxDecisionComment characters; nil otherwise. The admin API, the
// dashboard and the CLI decide through Decide, which checks it.
func CheckDecisionComment(comment string) error {
	if !utf8.ValidString(comment) {
		return fmt.Errorf("%w: the comment is not valid UTF-8", ErrInvalidComment)
	}
	if i := strings.IndexFunc(comment, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(comment[i:])
		return fmt.Errorf("%w: the comment holds the control character %U", ErrInvalidComment, r)
	}
	if n := utf8.RuneCountInString(comment); n > MaxDecisionComment {
		return fmt.Errorf("%w: the comment is %d characters long; at most %d", ErrInvalidComment, n, MaxDecisionComment)
	}
	return nil
}

// Decider is what Decide needs from storage; *store.Store implements it.
type Decider interface {
	// DecideApproval is ApprovalStore.DecideApproval.
	DecideApproval(ctx context.Context, id string, approve bool, by, comment string, perr *acme.Problem, now time.Time, events ...*store.AuditAppend) (*store.Approval, error)
}

// Decide records approver actor's decision on pending approval id at now
// (approved when approve, else rejected with comment, which the order's
// unauthorized problem carries: RejectionProblem), audited as
// approval.approve or approval.reject in the same transaction (log nil:
// not audited), and returns the approval as the decision left it. The
// admin API and the web dashboard decide through it. Errors:
// ErrNoRejectionComment, ErrInvalidComment (CheckDecisionComment), store.ErrNotFound, store.ErrStale (already
// decided), store.ErrAccountNotValid, store.ErrOrderExpired,
// store.ErrKeyBlocked, store.ErrProfileDeleted and store.ErrAuthzNotValid
// (approving what would issue nothing), or a storage error.
func Decide(ctx context.Context, st Decider, log *audit.Log, id string, approve bool, actor, comment string, now time.Time) (*store.Approval, error) {
	if !approve && strings.TrimSpace(comment) == "" {
		return nil, ErrNoRejectionComment
	}
	if err := CheckDecisionComment(comment); err != nil {
		return nil, err
	}
	action := audit.ActionApprovalReject
	var perr *acme.Problem
	if approve {
		action = audit.ActionApprovalApprove
	} else {
		perr = RejectionProblem(comment)
	}
	var events []*store.AuditAppend
	if log != nil {
		ev, err := log.Prepare(ctx, audit.Event{Actor: actor, Action: action, ObjectType: audit.ObjectApproval, ObjectID: id,
			Replaced: DecisionSnapshots(approve, actor, comment, now)})
		if err != nil {
			return nil, fmt.Errorf("audit event: %w", err)
		}
		events = append(events, ev)
	}
	return st.DecideApproval(ctx, id, approve, actor, comment, perr, now, events...)
}

// Escalation is the JSON event of an escalated approval, logged and POSTed
// to the approval webhook.
type Escalation struct {
	Event       string            `json:"event"`        // "approval.escalated"
	Approval    string            `json:"approval"`     // approval ID
	Order       string            `json:"order"`        // order ID
	Profile     string            `json:"profile"`      // profile name
	Identifiers []acme.Identifier `json:"identifiers"`  // the order's identifiers
	Reason      string            `json:"reason"`       // why approval is needed
	RequestedAt time.Time         `json:"requested_at"` // UTC
	EscalatedAt time.Time         `json:"escalated_at"` // UTC
	Waiting     string            `json:"waiting"`      // Go duration text, whole seconds ("4h0m4s")
}

// webhookParallel bounds how many escalation webhooks one sweep sends at
// a time.
const webhookParallel = 8

// notifyEscalations logs a "approval escalated" warning for each of evs
// and, with Config.ApprovalWebhook, POSTs each there as JSON, up to
// webhookParallel at a time, each within 10 s (WebhookClient's own
// timeout may be shorter). It returns when every POST has ended: an
// unreachable webhook delays the sweep by one timeout, not by one per
// escalation. A failed POST is logged and not retried.
func (r *RA) notifyEscalations(ctx context.Context, evs []Escalation) {
	for _, ev := range evs {
		r.log.WarnContext(ctx, "approval escalated", "approval", ev.Approval, "order", ev.Order, "profile", ev.Profile, "waiting", ev.Waiting)
	}
	if r.cfg.ApprovalWebhook == "" || len(evs) == 0 {
		return
	}
	sem := make(chan struct{}, webhookParallel)
	var wg sync.WaitGroup
	for _, ev := range evs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r.postEscalation(ctx, ev)
		})
	}
	wg.Wait()
}

// postEscalation POSTs ev to Config.ApprovalWebhook, within 10 s; a
// failure is logged.
func (r *RA) postEscalation(ctx context.Context, ev Escalation) {
	body, _ := json.Marshal(ev)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.ApprovalWebhook, bytes.NewReader(body))
	if err != nil {
		r.log.ErrorContext(ctx, "approval webhook", "approval", ev.Approval, "err", notify.WithoutURL(err))
		return
	}
	req.Header.Set("Content-Type", "application/json")
	client := r.cfg.WebhookClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		r.log.ErrorContext(ctx, "approval webhook", "approval", ev.Approval, "url", notify.Redact(r.cfg.ApprovalWebhook), "err", notify.WithoutURL(err))
		return
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		r.log.ErrorContext(ctx, "approval webhook", "approval", ev.Approval, "url", notify.Redact(r.cfg.ApprovalWebhook), "status", resp.StatusCode)
	}
}
