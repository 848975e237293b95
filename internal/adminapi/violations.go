package adminapi

import (
	"context"
	"net/http"
	"time"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/policy"
	"github.com/danielgtaylor/huma/v2"
)

type violationsIn struct {
	CertFilters
}

type violationsOut struct {
	Body *inventory.ViolationPage
}

// violationRoutes registers the "certificates violating their profile's
// current rules" report (inventory.Service.Violations).
func violationRoutes(a *API) {
	Register(a, auth.PermReportsRead, huma.Operation{OperationID: "report-violations", Method: http.MethodGet, Path: Prefix + "/reports/violations",
		Summary: "Report: certificates violating their profile's current rules", Tags: []string{"reports"},
		Description: "Valid certificates issued under a profile that no longer allows their names, key, validity or EKUs, " +
			"or whose profile was deleted, each with its reasons. Keyset-paginated by cursor: a page examines at most " +
			"limit×20 certificates, so it may hold fewer than limit items (even none) and still have a next_cursor.",
		Errors: []int{422}},
		func(ctx context.Context, _ *auth.Principal, in *violationsIn) (*violationsOut, error) {
			q, bad := in.query()
			if bad != nil {
				return nil, a.invalidQuery(ctx, q, bad)
			}
			reg, err := policy.NewRegistry(a.d.Store, *a.defaultProfile(), time.Minute, a.d.Now)
			if err != nil {
				return nil, a.inventoryError(ctx, "report", err)
			}
			p, err := a.d.Inventory.Violations(ctx, reg, q)
			if err != nil {
				return nil, a.inventoryError(ctx, "report", err)
			}
			return &violationsOut{Body: p}, nil
		})
}
