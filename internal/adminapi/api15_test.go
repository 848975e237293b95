package adminapi

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestApprovalListIsComplete: GET /api/v1/approvals is not paginated
// (docs/api.md), so it answers every approval of the status; it stopped
// at the 1000 oldest, silently leaving out the newest requests.
func TestApprovalListIsComplete(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	const n = 1003
	for range n {
		f.approval()
	}
	for _, q := range []string{"", "?status=pending", "?status=all"} {
		r := f.do("GET", "/api/v1/approvals"+q, f.tokens[auth.RoleAuditor], nil)
		var page struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		if r.status != http.StatusOK {
			t.Fatalf("GET /api/v1/approvals%s: %d: %s", q, r.status, r.body)
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != n {
			t.Errorf("GET /api/v1/approvals%s: %d approvals, want all %d", q, len(page.Items), n)
		}
	}
}
