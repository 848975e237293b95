package adminapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestAuditEventsSerialAsOpenSSLPrintsIt: GET /api/v1/audit/events finds
// a certificate's events by its serial as openssl prints it (upper case,
// a leading zero byte, colons) with object_type certificate; it answered
// an empty list.
func TestAuditEventsSerialAsOpenSSLPrintsIt(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	admin := f.tokens[auth.RoleAdmin]
	c := f.certificate()
	if r := f.do("POST", "/api/v1/certificates/"+c.Serial+"/revoke", admin, map[string]int{"reason": 4}); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	var pairs []string
	for i := 0; i < len(c.Serial); i += 2 {
		pairs = append(pairs, strings.ToUpper(c.Serial[i:min(i+2, len(c.Serial))]))
	}
	openssl := "00:" + strings.Join(pairs, ":")
	if len(c.Serial)%2 == 1 {
		openssl = "0" + strings.ToUpper(c.Serial)
	}
	r := f.do("GET", "/api/v1/audit/events?object_type=certificate&action=certificate.revoke&object_id="+openssl, admin, nil)
	var page struct {
		Items []struct {
			ObjectID string `json:"object_id"`
		} `json:"items"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &page) != nil || len(page.Items) != 1 || page.Items[0].ObjectID != c.Serial {
		t.Errorf("events of %s (%s): %d %s", openssl, c.Serial, r.status, r.body)
	}
}
