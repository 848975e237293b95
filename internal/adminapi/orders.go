package adminapi

import (
	"context"
	"net/http"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store"
	"github.com/danielgtaylor/huma/v2"
)

// Order is an ACME order (RFC 8555 §7.1.3) as the admin API shows it.
type Order struct {
	ID                string            `json:"id" doc:"order ID (the last segment of the order URL)"`
	AccountID         string            `json:"account_id" doc:"ID of the ACME account that placed it"`
	Status            string            `json:"status" enum:"pending,processing,approval,valid,invalid" doc:"stored stage: pending, processing, approval (waiting for an approver; ACME clients see processing), valid or invalid (ACME clients see ready once every authorization is valid)"`
	Expires           time.Time         `json:"expires" doc:"after this time the order is invalid unless valid already (RFC 8555 §7.1.3)"`
	Identifiers       []acme.Identifier `json:"identifiers" doc:"the identifiers the certificate is for"`
	Authorizations    []string          `json:"authorizations" doc:"authorization IDs"`
	NotBefore         *time.Time        `json:"not_before,omitempty" doc:"requested notBefore of the certificate; absent for none"`
	NotAfter          *time.Time        `json:"not_after,omitempty" doc:"requested notAfter of the certificate; absent for none"`
	Error             *acme.Problem     `json:"error,omitempty" doc:"why the order is invalid (RFC 8555 §6.7 problem)"`
	CertificateSerial string            `json:"certificate_serial,omitempty" doc:"serial (hex) of the issued certificate"`
	Replaces          string            `json:"replaces,omitempty" doc:"RFC 9773 CertID of the certificate this order replaces"`
	Profile           string            `json:"profile" doc:"certificate profile (docs/profiles.md)"`
	Attributes        map[string]string `json:"attributes,omitempty" doc:"final custom attributes (EAB key, account, order)"`
	CreatedAt         time.Time         `json:"created_at" doc:"UTC"`
	UpdatedAt         time.Time         `json:"updated_at" doc:"time of the last change, UTC"`
}

func orderView(o *store.Order) Order {
	v := Order{ID: o.ID, AccountID: o.AccountID, Status: o.Status, Expires: o.Expires, Identifiers: o.Identifiers,
		Authorizations: o.AuthzIDs, Error: o.Error, CertificateSerial: o.CertSerial, Replaces: o.Replaces,
		Profile: o.Profile, Attributes: o.Attributes, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
	if v.Profile == "" {
		v.Profile = "default"
	}
	if v.Identifiers == nil {
		v.Identifiers = []acme.Identifier{}
	}
	if v.Authorizations == nil {
		v.Authorizations = []string{}
	}
	if !o.NotBefore.IsZero() {
		nb := o.NotBefore
		v.NotBefore = &nb
	}
	if !o.NotAfter.IsZero() {
		na := o.NotAfter
		v.NotAfter = &na
	}
	return v
}

type listOrdersIn struct {
	ID     string `path:"id" maxLength:"64" doc:"account ID"`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page"`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

type ordersOut struct {
	Body struct {
		Items []Order `json:"items"`
		NextPage
	}
}

type orderIn struct {
	ID string `path:"id" maxLength:"64"`
}

type orderOut struct {
	Body Order
}

func orderRoutes(a *API) {
	Register(a, auth.PermOrdersRead, huma.Operation{OperationID: "list-account-orders", Method: http.MethodGet,
		Path: Prefix + "/accounts/{id}/orders", Summary: "List an account's orders", Tags: []string{"orders"}, Errors: []int{404},
		Description: "Orders of one account, oldest first, paginated by cursor. 404 when the account does not exist."},
		func(ctx context.Context, _ *auth.Principal, in *listOrdersIn) (*ordersOut, error) {
			if _, err := a.d.Store.GetAccount(ctx, in.ID); err != nil {
				return nil, a.storeError(ctx, "account "+in.ID, err)
			}
			after, afterID, err := parseOrderCursor(in.Cursor)
			if err != nil {
				return nil, err
			}
			orders, err := a.d.Store.ListOrders(ctx, in.ID, after, afterID, in.Limit+1)
			if err != nil {
				return nil, a.storeError(ctx, "orders", err)
			}
			out := &ordersOut{}
			out.Body.Items = []Order{}
			if len(orders) > in.Limit {
				orders = orders[:in.Limit]
				out.Body.NextCursor = orderCursor(orders[len(orders)-1])
			}
			for _, o := range orders {
				out.Body.Items = append(out.Body.Items, orderView(o))
			}
			return out, nil
		})
	Register(a, auth.PermOrdersRead, huma.Operation{OperationID: "get-order", Method: http.MethodGet, Path: Prefix + "/orders/{id}",
		Summary: "Show an order", Tags: []string{"orders"}, Errors: []int{404}},
		func(ctx context.Context, _ *auth.Principal, in *orderIn) (*orderOut, error) {
			o, err := a.d.Store.GetOrder(ctx, in.ID)
			if err != nil {
				return nil, a.storeError(ctx, "order "+in.ID, err)
			}
			return &orderOut{Body: orderView(o)}, nil
		})
}
