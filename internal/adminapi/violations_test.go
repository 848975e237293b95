package adminapi

import (
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestViolationsReport: the fixture's certificate (default profile, no
// EKU, 90 days and a minute) violates the built-in default profile (90
// days, serverAuth) and is listed with both reasons; the page, full but
// the last (no certificate follows), has no next_cursor (it used to have
// one leading to an empty page).
func TestViolationsReport(t *testing.T) {
	f := newFixture(t, storetest.OpenSQLite(t))
	c := f.certificate()
	r := f.do("GET", "/api/v1/reports/violations?limit=1", f.tokens[auth.RoleAuditor], nil)
	if r.status != 200 {
		t.Fatalf("GET violations: %d %s", r.status, r.body)
	}
	p := decode[inventory.ViolationPage](t, r)
	if len(p.Items) != 1 || p.Items[0].Certificate.Serial != c.Serial || p.Scanned != 1 {
		t.Fatalf("violations page %+v", p)
	}
	reasons := strings.Join(p.Items[0].Reasons, "; ")
	if !strings.Contains(reasons, "exceeds the maximum 90d") || !strings.Contains(reasons, "EKUs [] differ from the profile's [serverAuth]") {
		t.Errorf("reasons %q", reasons)
	}
	if p.NextCursor != "" {
		t.Fatalf("the last page has next_cursor %q", p.NextCursor)
	}
	if err := isProblem(f.do("GET", "/api/v1/reports/violations?cursor=%25%25", f.tokens[auth.RoleAuditor], nil), 422); err != nil {
		t.Errorf("bad cursor: %v", err)
	}
}
