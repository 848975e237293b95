package adminapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/discovery"
	"github.com/certgate/certgate/internal/store"
	"github.com/danielgtaylor/huma/v2"
)

type listScansIn struct {
	Cursor string `query:"cursor" maxLength:"64" doc:"next_cursor of the previous page"`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

type scansOut struct {
	Body *discovery.ScanPage
}

type scanIn struct {
	ID     string `path:"id" maxLength:"64" doc:"scan ID"`
	Errors bool   `query:"errors" doc:"include the endpoints that served no certificate (refused, timed out, not TLS)"`
}

type scanOut struct {
	Body *discovery.ScanView
}

type endpointsOut struct {
	Body struct {
		Items []discovery.EndpointView `json:"items"`
	}
}

type shadowIn struct {
	CertFilters
}

// scanRoutes registers the certificate discovery reads (docs/discovery.md):
// scans, their findings, where a certificate is served, and the shadow
// certificate report. Scans are run by `certgate scan run`.
func scanRoutes(a *API) {
	svc := func() *discovery.Service { return discovery.New(a.d.Store, a.d.Inventory, a.d.Now) }
	Register(a, auth.PermScansRead, huma.Operation{OperationID: "list-scans", Method: http.MethodGet, Path: Prefix + "/scans",
		Summary: "List certificate discovery scans", Tags: []string{"discovery"},
		Description: "Scans (certgate scan run), newest first, without their findings, paginated by cursor."},
		func(ctx context.Context, _ *auth.Principal, in *listScansIn) (*scansOut, error) {
			p, err := svc().List(ctx, in.Cursor, in.Limit)
			if errors.Is(err, discovery.ErrInvalid) {
				return nil, invalidField("query.cursor", "malformed cursor", in.Cursor)
			}
			if err != nil {
				return nil, a.storeError(ctx, "scans", err)
			}
			return &scansOut{Body: p}, nil
		})
	Register(a, auth.PermScansRead, huma.Operation{OperationID: "get-scan", Method: http.MethodGet, Path: Prefix + "/scans/{id}",
		Summary: "Show a certificate discovery scan", Tags: []string{"discovery"},
		Description: "A scan with its findings: each endpoint's certificate (with its inventory serial, source and shadow flag) " +
			"and the checks of the served chain; the endpoints that failed too with errors=true.",
		Errors: []int{404}},
		func(ctx context.Context, _ *auth.Principal, in *scanIn) (*scanOut, error) {
			if !store.PlainText(in.ID) {
				return nil, huma.Error404NotFound("scan " + in.ID + " not found")
			}
			v, err := svc().Show(ctx, in.ID, in.Errors)
			if errors.Is(err, discovery.ErrNotFound) {
				return nil, huma.Error404NotFound("scan " + in.ID + " not found")
			}
			if err != nil {
				return nil, a.storeError(ctx, "scan", err)
			}
			return &scanOut{Body: v}, nil
		})
	Register(a, auth.PermScansRead, huma.Operation{OperationID: "list-certificate-endpoints", Method: http.MethodGet,
		Path: Prefix + "/certificates/{ref}/endpoints", Summary: "Where a certificate is served", Tags: []string{"discovery"},
		Description: "The endpoints (address, port, SNI name) whose latest scan found them serving the certificate, " +
			"with first and last seen and the error of a later scan that failed there.",
		Errors: []int{404, 422}},
		func(ctx context.Context, _ *auth.Principal, in *certificateIn) (*endpointsOut, error) {
			c, err := a.certificateByRef(ctx, in.Ref)
			if err != nil {
				return nil, err
			}
			eps, err := svc().Endpoints(ctx, c.FingerprintSHA256)
			if err != nil {
				return nil, a.storeError(ctx, "endpoints", err)
			}
			out := &endpointsOut{}
			out.Body.Items = eps
			return out, nil
		})
	Register(a, auth.PermReportsRead, huma.Operation{OperationID: "report-shadow", Method: http.MethodGet, Path: Prefix + "/reports/shadow",
		Summary: "Report: shadow certificates", Tags: []string{"reports"},
		Description: "Certificates found on the network by scans that are neither issued by certgate nor imported " +
			"(source discovered), soonest expiry first, paginated by cursor.", Errors: []int{422}},
		func(ctx context.Context, _ *auth.Principal, in *shadowIn) (*pageOut, error) {
			q, bad := in.query()
			q.Source = store.SourceDiscovered
			if bad != nil {
				return nil, a.invalidQuery(ctx, q, bad)
			}
			p, err := a.d.Inventory.List(ctx, q)
			if err != nil {
				return nil, a.inventoryError(ctx, "report", err)
			}
			return &pageOut{Body: p}, nil
		})
}

var _ discovery.Store = (*store.Store)(nil)
