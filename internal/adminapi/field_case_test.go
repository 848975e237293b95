package adminapi

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestBodyFieldOtherCaseRefused: a body field spelt in another case than
// declared ("ROLE" for "role") is an unexpected property (422) naming the
// field. huma's validation matched names case-insensitively but checked
// only the exactly spelt field when both were sent, while encoding/json
// filled the struct from whichever came last: {"role":"auditor",
// "ROLE":"admin"} passed as an auditor token and created an admin token,
// and an approver's rejection comment escaped its 1000-character limit.
func TestBodyFieldOtherCaseRefused(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	admin, approver := f.tokens[auth.RoleAdmin], f.tokens[auth.RoleApprover]
	ap := f.approval()
	long := strings.Repeat("x", 1001)
	for _, tc := range []struct {
		path, token, body, location, field string
	}{
		{"/api/v1/tokens", admin, `{"name":"ci","role":"auditor","ROLE":"admin"}`, "body.ROLE", "role"},
		{"/api/v1/tokens", admin, `{"Name":"ci","role":"auditor"}`, "body.Name", "name"},
		{"/api/v1/approvals/" + ap + "/reject", approver, `{"comment":"no","Comment":"` + long + `"}`, "body.Comment", "comment"},
		{"/api/v1/eab-keys", admin, `{"profile":"default","Single_Use":true}`, "body.Single_Use", "single_use"},
	} {
		r := f.rawDo(http.MethodPost, tc.path, tc.token, "application/json", []byte(tc.body))
		want := `"location":"` + tc.location + `"`
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), want) ||
			!strings.Contains(string(r.body), `the field is \"`+tc.field+`\"`) {
			t.Errorf("POST %s %s: %d %.300s, want 422 naming %s and the field %q", tc.path, tc.body, r.status, r.body, tc.location, tc.field)
		}
	}
	// Nothing was created or decided.
	recs, err := f.toks.List(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.Name == "ci" {
			t.Errorf("token %s created with role %s", rec.Name, rec.Role)
		}
	}
	if a, err := f.st.GetApproval(context.Background(), ap); err != nil || a.Status != "pending" {
		t.Errorf("approval after the refused rejection: %+v %v", a, err)
	}
	// The declared spelling works.
	if r := f.do(http.MethodPost, "/api/v1/tokens", admin, map[string]string{"name": "ci", "role": "auditor"}); r.status != http.StatusCreated ||
		!strings.Contains(string(r.body), `"role":"auditor"`) {
		t.Errorf("create: %d %s", r.status, r.body)
	}
}
