package main

import (
	"context"
	"fmt"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
)

// recordAudit appends the change an administrative command just made to
// the audit log, by the CLI user (cliActor). before and after are the
// object's JSON-encodable views (nil for none); they never hold secrets.
func recordAudit(ctx context.Context, st *store.Store, action, objectType, objectID string, before, after any) error {
	err := audit.New(st, nil).Record(ctx, audit.Event{Actor: cliActor(), Action: action, ObjectType: objectType, ObjectID: objectID,
		Before: before, After: after})
	if err != nil {
		return fmt.Errorf("the change is made, but recording it in the audit log failed: %w", err)
	}
	return nil
}

// eabView is an EAB key as the audit log records it: without the HMAC key.
type eabView struct {
	KID        string            `json:"kid"`
	Profile    string            `json:"profile"`
	Owner      string            `json:"owner,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Allow      []string          `json:"allow,omitempty"`
	SingleUse  bool              `json:"singleUse"`
	Status     string            `json:"status"`
	Expires    string            `json:"expires,omitempty"`
}

func eabViewOf(k *store.EABKey) eabView {
	v := eabView{KID: k.KID, Profile: k.Profile, Owner: k.Owner, Attributes: k.Attributes, Allow: k.Allow, SingleUse: k.SingleUse, Status: k.Status}
	if !k.Expires.IsZero() {
		v.Expires = k.Expires.Format("2006-01-02T15:04:05Z07:00")
	}
	return v
}
