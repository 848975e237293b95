package adminapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store"
	"github.com/danielgtaylor/huma/v2"
)

// AuditEvent is one audit log event as the admin API shows it.
type AuditEvent struct {
	Seq        int64     `json:"seq" doc:"position in the chain, from 1 without gaps"`
	ID         string    `json:"id" doc:"random event ID"`
	Time       time.Time `json:"time" doc:"when the change was made, UTC"`
	Actor      string    `json:"actor" doc:"token:NAME#ID (token:NAME in events recorded before the ID was), cli:USER, acme-account:ID, certificate-key or system"`
	Action     string    `json:"action" example:"certificate.revoke" doc:"what was done"`
	ObjectType string    `json:"object_type" example:"certificate" doc:"the kind of object changed"`
	ObjectID   string    `json:"object_id" doc:"ID of the object changed (a serial for a certificate)"`
	Source     string    `json:"source" doc:"client address, empty when unknown"`
	Before     any       `json:"before,omitempty" doc:"the object before the change"`
	After      any       `json:"after,omitempty" doc:"the object after the change"`
	PrevHash   string    `json:"prev_hash" doc:"hash of the previous event (hex SHA-256)"`
	Hash       string    `json:"hash" doc:"hex SHA-256 over prev_hash and this event's canonical content"`
}

func auditEventView(r *store.AuditRecord) AuditEvent {
	v := AuditEvent{Seq: r.Seq, ID: r.ID, Time: r.Time, Actor: r.Actor, Action: r.Action, ObjectType: r.ObjectType,
		ObjectID: r.ObjectID, Source: r.Source, PrevHash: r.PrevHash, Hash: r.Hash}
	if r.Before != "" {
		_ = json.Unmarshal([]byte(r.Before), &v.Before)
	}
	if r.After != "" {
		_ = json.Unmarshal([]byte(r.After), &v.After)
	}
	return v
}

type listAuditIn struct {
	Before     int64  `query:"before" minimum:"0" doc:"list events with a seq below this (the next_before of the previous page)"`
	Action     string `query:"action" doc:"only this action (the operation's description lists them; another is a 422)"`
	ObjectType string `query:"object_type" doc:"only this object type"`
	ObjectID   string `query:"object_id" doc:"only this object ID; a certificate serial may be written as openssl prints it (upper case, colons, leading zeros) with object_type certificate, or with colons or upper case without it"`
	Limit      int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

type auditOut struct {
	Body struct {
		Items      []AuditEvent `json:"items"`
		NextBefore int64        `json:"next_before" doc:"pass as before to get the next (older) page; 0 on the last page"`
	}
}

type verifyOut struct {
	Body audit.VerifyResult
}

func auditRoutes(a *API) {
	Register(a, auth.PermAuditRead, huma.Operation{OperationID: "list-audit-events", Method: http.MethodGet, Path: Prefix + "/audit/events",
		Summary: "List audit events", Tags: []string{"audit"}, Errors: []int{422},
		Description: "Newest first, paginated by seq. The actions: " + strings.Join(audit.Actions(), ", ") +
			". The object types: " + strings.Join(audit.ObjectTypes(), ", ") + "."},
		func(ctx context.Context, _ *auth.Principal, in *listAuditIn) (*auditOut, error) {
			if in.Action != "" {
				if err := audit.CheckAction(in.Action); err != nil {
					return nil, invalidField("query.action", err.Error(), in.Action)
				}
			}
			if in.ObjectType != "" {
				if err := audit.CheckObjectType(in.ObjectType); err != nil {
					return nil, invalidField("query.object_type", err.Error(), in.ObjectType)
				}
			}
			if err := inventory.CheckAuditObjectID(in.ObjectType, in.ObjectID); err != nil {
				return nil, invalidInventory(err, "query.object_id", in.ObjectID)
			}
			evs, err := a.d.Audit.List(ctx, store.AuditFilter{Newest: true, BeforeSeq: in.Before, Action: in.Action,
				ObjectType: in.ObjectType, ObjectID: inventory.AuditObjectID(in.ObjectType, in.ObjectID), Limit: in.Limit})
			if err != nil {
				return nil, a.storeError(ctx, "audit events", err)
			}
			out := &auditOut{}
			out.Body.Items = make([]AuditEvent, 0, len(evs))
			for _, e := range evs {
				out.Body.Items = append(out.Body.Items, auditEventView(e))
			}
			if len(evs) == in.Limit && evs[len(evs)-1].Seq > 1 {
				out.Body.NextBefore = evs[len(evs)-1].Seq
			}
			return out, nil
		})
	Register(a, auth.PermAuditRead, huma.Operation{OperationID: "verify-audit-log", Method: http.MethodGet, Path: Prefix + "/audit/verify",
		Summary: "Verify the audit log's hash chain", Tags: []string{"audit"},
		Description: "Walks the whole chain; ok is false and broken_seq/broken_id name the first modified or missing event when it is broken."},
		func(ctx context.Context, _ *auth.Principal, _ *struct{}) (*verifyOut, error) {
			res, err := a.d.Audit.Verify(ctx)
			if err != nil {
				return nil, a.storeError(ctx, "audit log", err)
			}
			return &verifyOut{Body: *res}, nil
		})
}
