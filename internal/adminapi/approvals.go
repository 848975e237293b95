package adminapi

import (
	"context"
	"fmt"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
)

// ApprovalItem is an approval as GET /api/v1/approvals lists it and
// `certgate approval list --format json` prints it: the approval
// (ra.ApprovalView, as the audit log records it) with what its approver
// decides on beside the identifiers and the key type: the order's custom
// attributes and the EAB key its account was bound with.
type ApprovalItem struct {
	ra.ApprovalView
	Attributes map[string]string `json:"attributes,omitempty" doc:"the order's custom attributes (the EAB key's defaults, the account's, the order request's); absent for none"`
	EABKid     string            `json:"eab_kid,omitempty" doc:"the EAB key the order's account was bound with (RFC 8555 §7.3.4); absent for none"`
	EABOwner   string            `json:"eab_owner,omitempty" doc:"that EAB key's owner; absent for none"`
}

// ApprovalDetail is one approval as GET /api/v1/approvals/{id} shows it
// and `certgate approval show --format json` prints it: the ApprovalItem
// with its order's requested validity and expiry, its account's status,
// and its history.
type ApprovalDetail struct {
	ApprovalItem
	AccountStatus string          `json:"account_status" enum:"valid,deactivated,revoked" doc:"the account's status: only a valid account's order can be approved (RFC 8555 §7.3.6)"`
	NotBefore     *time.Time      `json:"not_before,omitempty" doc:"the notBefore the order requested (RFC 8555 §7.4); absent when not requested"`
	NotAfter      *time.Time      `json:"not_after,omitempty" doc:"the notAfter the order requested (RFC 8555 §7.4); absent when not requested: the profile's validity applies"`
	OrderExpires  *time.Time      `json:"order_expires,omitempty" doc:"when the order expires (RFC 8555 §7.1.3): it can no longer be approved after it; absent when the order is no longer stored (the server deletes an invalid order once it has expired, e.g. a rejected one), and so are attributes, not_before and not_after"`
	History       []ApprovalEvent `json:"history" doc:"what happened to the approval, oldest first"`
}

// ApprovalEvent is one step of an approval's history, with the actor its
// audit event records.
type ApprovalEvent struct {
	At      time.Time `json:"at" doc:"when, UTC"` // when, UTC
	Event   string    `json:"event" enum:"requested,escalated,approved,rejected" doc:"requested (the order was finalized), escalated (it waited longer than the profile's escalateAfter), approved or rejected"`
	Actor   string    `json:"actor" doc:"who: the ACME account (acme-account:ID) for requested, system for escalated, the approver (decided_by) for a decision"`
	Comment string    `json:"comment,omitempty" doc:"the decision's comment"`
}

// ApprovalItems returns the list views of aps, in order, reading their
// orders' attributes and their accounts' EAB keys in one statement
// (store.ApprovalContexts). An approval whose order is no longer stored
// has no attributes. Errors are the store's.
func ApprovalItems(ctx context.Context, st *store.Store, aps []*store.Approval) ([]ApprovalItem, error) {
	ids := make([]string, len(aps))
	for i, ap := range aps {
		ids[i] = ap.ID
	}
	cs, err := st.ApprovalContexts(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]ApprovalItem, len(aps))
	for i, ap := range aps {
		out[i] = approvalItem(ap, cs[ap.ID])
	}
	return out, nil
}

func approvalItem(ap *store.Approval, c *store.ApprovalContext) ApprovalItem {
	it := ApprovalItem{ApprovalView: ra.ApprovalSnapshot(ap)}
	if c != nil {
		it.Attributes, it.EABKid, it.EABOwner = c.Attributes, c.EABKid, c.EABOwner
	}
	return it
}

// ApprovalDetailOf returns the detail view of approval id:
// store.ErrNotFound (wrapped) when there is none. Errors are the store's.
func ApprovalDetailOf(ctx context.Context, st *store.Store, id string) (*ApprovalDetail, error) {
	ap, err := st.GetApproval(ctx, id)
	if err != nil {
		return nil, err
	}
	cs, err := st.ApprovalContexts(ctx, []string{ap.ID})
	if err != nil {
		return nil, err
	}
	c := cs[ap.ID]
	if c == nil {
		return nil, fmt.Errorf("approval %s: its account %s is not stored", ap.ID, ap.AccountID)
	}
	d := &ApprovalDetail{ApprovalItem: approvalItem(ap, c), AccountStatus: c.AccountStatus,
		History: []ApprovalEvent{{At: ap.RequestedAt, Event: "requested", Actor: audit.ACMEAccountActor(ap.AccountID)}}}
	if c.OrderStored {
		d.OrderExpires = &c.OrderExpires
	}
	if !c.NotBefore.IsZero() {
		d.NotBefore = &c.NotBefore
	}
	if !c.NotAfter.IsZero() {
		d.NotAfter = &c.NotAfter
	}
	if !ap.EscalatedAt.IsZero() {
		d.History = append(d.History, ApprovalEvent{At: ap.EscalatedAt, Event: "escalated", Actor: audit.ActorSystem})
	}
	if ap.Status != store.ApprovalPending {
		d.History = append(d.History, ApprovalEvent{At: ap.DecidedAt, Event: ap.Status, Actor: ap.DecidedBy, Comment: ap.Comment})
	}
	return d, nil
}
