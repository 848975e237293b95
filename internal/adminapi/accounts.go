package adminapi

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store"
	"github.com/danielgtaylor/huma/v2"
)

// Account is an ACME account (RFC 8555 §7.1.2) as the admin API shows it.
type Account struct {
	ID            string            `json:"id" doc:"account ID (the last segment of the account URL)"`
	Status        string            `json:"status" enum:"valid,deactivated,revoked" doc:"RFC 8555 §7.1.6 account status"`
	Contact       []string          `json:"contact" doc:"contact URLs (mailto:)"`
	TOSAgreed     bool              `json:"tos_agreed" doc:"the client agreed to the terms of service (RFC 8555 §7.3)"`
	KeyThumbprint string            `json:"key_thumbprint" doc:"RFC 7638 SHA-256 thumbprint of the account key, base64url"`
	CreatedAt     time.Time         `json:"created_at" doc:"when the account was created, UTC"`
	EABKid        string            `json:"eab_kid,omitempty" doc:"key ID of the external account binding key the account was created with (RFC 8555 §7.3.4); absent for none"`
	EABOwner      string            `json:"eab_owner,omitempty" doc:"owner recorded on that EAB key (team or person); absent when none"`
	Attributes    map[string]string `json:"attributes" doc:"the account's custom attributes (set from its EAB key or by account set-attributes)"`
}

// AccountView is a's admin view (GET /api/v1/accounts/{id}); owner is the
// Owner of its EAB key. The CLI records it in account.deactivate events too.
func AccountView(a *store.Account, owner string) Account {
	c := a.Contact
	if c == nil {
		c = []string{}
	}
	attrs := a.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	return Account{ID: a.ID, Status: a.Status, Contact: c, TOSAgreed: a.TOSAgreed, KeyThumbprint: a.KeyThumbprint, CreatedAt: a.CreatedAt,
		EABKid: a.EABKid, EABOwner: owner, Attributes: attrs}
}

// AccountViews returns the admin views of accts, in order, with the owner
// of the EAB key that bound each (one key lookup per distinct key ID). A
// key that no longer exists leaves EABOwner empty. Errors are the store's.
// The CLI (`certgate account list|show`) shows accounts the same way.
func AccountViews(ctx context.Context, st *store.Store, accts []*store.Account) ([]Account, error) {
	owners := map[string]string{}
	views := make([]Account, len(accts))
	for i, ac := range accts {
		if ac.EABKid != "" {
			if _, seen := owners[ac.EABKid]; !seen {
				k, err := st.GetEABKey(ctx, ac.EABKid)
				switch {
				case err == nil:
					owners[ac.EABKid] = k.Owner
				case errors.Is(err, store.ErrNotFound):
					owners[ac.EABKid] = ""
				default:
					return nil, fmt.Errorf("EAB key %s: %w", ac.EABKid, err)
				}
			}
		}
		views[i] = AccountView(ac, owners[ac.EABKid])
	}
	return views, nil
}

// NextPage holds the cursor of the next page; "" on the last page.
type NextPage struct {
	NextCursor string `json:"next_cursor" doc:"pass as cursor to get the next page; empty on the last page"`
}

type listAccountsIn struct {
	Cursor string `query:"cursor" maxLength:"64" pattern:"^[A-Za-z0-9_-]*$" doc:"next_cursor of the previous page (an account ID)"`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

type accountsOut struct {
	Body struct {
		Items []Account `json:"items"`
		NextPage
	}
}

type accountIn struct {
	ID string `path:"id" maxLength:"64"`
}

type accountOut struct {
	Body Account
}

func accountRoutes(a *API) {
	Register(a, auth.PermAccountsRead, huma.Operation{OperationID: "list-accounts", Method: http.MethodGet, Path: Prefix + "/accounts",
		Summary: "List ACME accounts", Tags: []string{"accounts"}, Description: "Accounts ordered by ID, paginated by cursor."},
		func(ctx context.Context, _ *auth.Principal, in *listAccountsIn) (*accountsOut, error) {
			accts, err := a.d.Store.ListAccounts(ctx, in.Cursor, in.Limit+1)
			if err != nil {
				return nil, a.storeError(ctx, "accounts", err)
			}
			out := &accountsOut{}
			if len(accts) > in.Limit {
				accts = accts[:in.Limit]
				out.Body.NextCursor = accts[len(accts)-1].ID
			}
			if out.Body.Items, err = AccountViews(ctx, a.d.Store, accts); err != nil {
				return nil, a.storeError(ctx, "accounts", err)
			}
			return out, nil
		})
	Register(a, auth.PermAccountsRead, huma.Operation{OperationID: "get-account", Method: http.MethodGet, Path: Prefix + "/accounts/{id}",
		Summary: "Show an ACME account", Tags: []string{"accounts"}, Errors: []int{404}},
		func(ctx context.Context, _ *auth.Principal, in *accountIn) (*accountOut, error) {
			ac, err := a.d.Store.GetAccount(ctx, in.ID)
			if err != nil {
				return nil, a.storeError(ctx, "account "+in.ID, err)
			}
			v, err := AccountViews(ctx, a.d.Store, []*store.Account{ac})
			if err != nil {
				return nil, a.storeError(ctx, "account "+in.ID, err)
			}
			return &accountOut{Body: v[0]}, nil
		})
	Register(a, auth.PermAccountsDeactivate, huma.Operation{OperationID: "deactivate-account", Method: http.MethodPost,
		Path: Prefix + "/accounts/{id}/deactivate", Summary: "Deactivate an ACME account", Tags: []string{"accounts"}, Errors: []int{404, 409},
		Description: "Moves a valid account to deactivated (RFC 8555 §7.3.6): its requests are refused from then on " +
			"(within a few seconds on every node), and in the same transaction its pending operations are cancelled: its pending " +
			"authorizations become deactivated and its pending and ready orders invalid (unauthorized). Irreversible. " +
			"Audited as account.deactivate. 409 when the account is not valid."},
		func(ctx context.Context, p *auth.Principal, in *accountIn) (*accountOut, error) {
			ac, err := a.d.Store.GetAccount(ctx, in.ID)
			if err != nil {
				return nil, a.storeError(ctx, "account "+in.ID, err)
			}
			v, err := AccountViews(ctx, a.d.Store, []*store.Account{ac})
			if err != nil {
				return nil, a.storeError(ctx, "account "+in.ID, err)
			}
			owner := v[0].EABOwner
			after := v[0]
			after.Status = acme.StatusDeactivated
			ev, err := a.d.Audit.Prepare(ctx, audit.Event{Actor: p.Actor(), Action: audit.ActionAccountDeactivate,
				ObjectType: audit.ObjectAccount, ObjectID: ac.ID,
				Replaced: audit.ReplacedRow(func(old *store.Account) (any, any) {
					before := AccountView(old, owner)
					after = before // the account as the deactivation left it
					after.Status = acme.StatusDeactivated
					return before, after
				})})
			if err != nil {
				return nil, a.storeError(ctx, "audit event", err)
			}
			if err := a.d.Store.DeactivateAccount(ctx, ac.ID, ev); err != nil {
				if errors.Is(err, store.ErrStale) {
					return nil, huma.Error409Conflict(fmt.Sprintf("account %s is %s, not valid", ac.ID, ac.Status))
				}
				return nil, a.storeError(ctx, "account "+in.ID, err)
			}
			return &accountOut{Body: after}, nil
		})
}

// orderCursor encodes the keyset position (created, id) of an order.
func orderCursor(o *store.Order) string {
	return timeIDCursor(o.CreatedAt, o.ID)
}

// timeIDCursor encodes a keyset position (time, id) as a cursor: an
// order's (created, id), an approval's (requested, id).
func timeIDCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixNano(), 10) + ":" + id))
}

// parseOrderCursor decodes timeIDCursor's output (orderCursor's, and
// approvals' cursors); "" is the start (zero time, ""). A malformed cursor
// is a 422 problem naming query.cursor.
func parseOrderCursor(c string) (time.Time, string, error) {
	if c == "" {
		return time.Time{}, "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", invalidField("query.cursor", "malformed cursor", c)
	}
	ns, id, ok := strings.Cut(string(b), ":")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || !store.PlainText(id) {
		// An ID with a NUL or invalid UTF-8 is no order's: PostgreSQL's
		// text type refuses it (a 500).
		return time.Time{}, "", invalidField("query.cursor", "malformed cursor", c)
	}
	return time.Unix(0, n).UTC(), id, nil
}
