package main

import (
	"context"
	"fmt"
	"time"

	"github.com/certgate/certgate/internal/adminapi"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
)

// prepareAudit turns the change an administrative command is about to make
// into an audit event by the CLI user (cliActor), for the store method that
// makes the change to append in the same transaction. before and after are
// the object's JSON-encodable views (nil for none); they never hold
// secrets. Errors: a view that cannot be encoded or is over 64 KiB.
func prepareAudit(ctx context.Context, st *store.Store, action, objectType, objectID string, before, after any) (*store.AuditAppend, error) {
	return prepareAuditEvent(ctx, st, audit.Event{Action: action, ObjectType: objectType, ObjectID: objectID, Before: before, After: after})
}

// prepareAuditReplaced is prepareAudit for a change to an existing row
// whose before and after the store method that makes the change computes,
// inside its transaction, from the row it replaces (audit.Event.Replaced).
func prepareAuditReplaced(ctx context.Context, st *store.Store, action, objectType, objectID string, replaced func(any) (any, any, error)) (*store.AuditAppend, error) {
	return prepareAuditEvent(ctx, st, audit.Event{Action: action, ObjectType: objectType, ObjectID: objectID, Replaced: replaced})
}

// prepareAuditEvent prepares ev by the CLI user (cliActor).
func prepareAuditEvent(ctx context.Context, st *store.Store, ev audit.Event) (*store.AuditAppend, error) {
	ev.Actor = cliActor()
	a, err := audit.New(st, nil).Prepare(ctx, ev)
	if err != nil {
		return nil, fmt.Errorf("audit event (nothing was changed): %w", err)
	}
	return a, nil
}

// eabViewOf is k as eab_key.create and eab_key.revoke events record it:
// the admin API's view (adminapi.EABKeyOf, what GET /api/v1/eab-keys and
// eab list --format json show), never the HMAC key, as the API's events.
func eabViewOf(k *store.EABKey) adminapi.EABKeyView {
	return adminapi.EABKeyOf(k, time.Now())
}
