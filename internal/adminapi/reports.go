package adminapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/danielgtaylor/huma/v2"
)

type expiringIn struct {
	CertFilters
	Within string `query:"within" default:"30d" doc:"window from now, e.g. 30d or 12h"`
}

type weakIn struct {
	CertFilters
}

type issuedIn struct {
	By     string `query:"by" enum:"day,profile,issuer" default:"day" doc:"grouping: day (UTC), profile or issuer"`
	Since  string `query:"since" default:"30d" doc:"window ending now, e.g. 30d"`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"groups per page"`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page"`
}

type issuedOut struct {
	Body *inventory.CountPage
}

func reportRoutes(a *API) {
	Register(a, auth.PermReportsRead, huma.Operation{OperationID: "report-expiring", Method: http.MethodGet, Path: Prefix + "/reports/expiring",
		Summary: "Report: certificates expiring soon", Tags: []string{"reports"},
		Description: "Valid certificates whose notAfter lies within the window from now, soonest first, paginated by cursor.", Errors: []int{422}},
		func(ctx context.Context, _ *auth.Principal, in *expiringIn) (*pageOut, error) {
			q, bad := in.query()
			d, err := parseDuration("within", in.Within)
			if bad = errors.Join(bad, err); bad != nil {
				return nil, a.invalidQuery(ctx, q, bad)
			}
			p, err := a.d.Inventory.Expiring(ctx, d, q)
			if err != nil {
				return nil, a.inventoryError(ctx, "report", err)
			}
			return &pageOut{Body: p}, nil
		})
	Register(a, auth.PermReportsRead, huma.Operation{OperationID: "report-issued", Method: http.MethodGet, Path: Prefix + "/reports/issued",
		Summary: "Report: certificates issued per day, profile or issuer", Tags: []string{"reports"},
		Description: "Counts of the certificates whose validity began within the window (all sources), in key order, " +
			"paginated by cursor (at most limit groups a page; by day a page may hold fewer, days without certificates having no group, " +
			"but next_cursor is only given when another group follows).", Errors: []int{422}},
		func(ctx context.Context, _ *auth.Principal, in *issuedIn) (*issuedOut, error) {
			d, err := parseDuration("since", in.Since)
			if err != nil {
				return nil, invalidInventory(err, "query.since", in.Since)
			}
			p, err := a.d.Inventory.Issued(ctx, in.By, d, in.Limit, in.Cursor)
			if err != nil {
				return nil, a.inventoryError(ctx, "report", err)
			}
			return &issuedOut{Body: p}, nil
		})
	Register(a, auth.PermReportsRead, huma.Operation{OperationID: "report-weak-keys", Method: http.MethodGet, Path: Prefix + "/reports/weak-keys",
		Summary: "Report: certificates with weak keys or signatures", Tags: []string{"reports"},
		Description: "Unexpired, unrevoked certificates with an RSA key under 2048 bits or with the ROCA fingerprint (CVE-2017-15361), or a SHA-1 (or MD5) signature.", Errors: []int{422}},
		func(ctx context.Context, _ *auth.Principal, in *weakIn) (*pageOut, error) {
			q, bad := in.query()
			if bad != nil {
				q.Weak = true
				return nil, a.invalidQuery(ctx, q, bad)
			}
			p, err := a.d.Inventory.WeakKeys(ctx, q)
			if err != nil {
				return nil, a.inventoryError(ctx, "report", err)
			}
			return &pageOut{Body: p}, nil
		})
	violationRoutes(a)
}
