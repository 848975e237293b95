package adminapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestApprovalListPaginated, on both engines: GET /api/v1/approvals is
// paginated as the other lists (docs/api.md): limit (1..1000, default
// 100), cursor, next_cursor. Walked by cursor, its pages (any read-only
// role, the auditor's here) give every approval of the status exactly
// once, oldest request first, ties by ID; the default page holds 100 and
// has a next_cursor; a limit out of range and a tampered cursor are 422
// problems naming the parameter. The list answered every approval ever
// made in one page, each with its CSR.
func TestApprovalListPaginated(t *testing.T) {
	eachEngine(t, func(t *testing.T, f *fixture) {
		const n = 103
		var want []string
		for range n {
			want = append(want, f.approval()) // all requested at f.now: order by ID
		}
		slices.Sort(want)
		type page struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
			NextCursor *string `json:"next_cursor"`
		}
		tok := f.tokens[auth.RoleAuditor]
		get := func(q string) (page, response) {
			t.Helper()
			r := f.do("GET", "/api/v1/approvals"+q, tok, nil)
			var p page
			if r.status != http.StatusOK {
				t.Fatalf("GET /api/v1/approvals%s: %d: %s", q, r.status, r.body)
			}
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatal(err)
			}
			return p, r
		}
		for _, q := range []string{"?", "?status=pending&", "?status=all&"} {
			first, r := get(q)
			if len(first.Items) != 100 || first.NextCursor == nil || *first.NextCursor == "" {
				t.Fatalf("GET /api/v1/approvals%s: %d items, next_cursor %v, want the default 100 and a next_cursor: %s", q, len(first.Items), first.NextCursor, r.body)
			}
			var got []string
			cursor := ""
			for pages := 1; ; pages++ {
				p, r := get(q + "limit=7&cursor=" + url.QueryEscape(cursor))
				if len(p.Items) > 7 || pages > 20 || p.NextCursor == nil {
					t.Fatalf("GET /api/v1/approvals%s page %d: %s", q, pages, r.body)
				}
				for _, it := range p.Items {
					got = append(got, it.ID)
				}
				if cursor = *p.NextCursor; cursor == "" {
					break
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("GET /api/v1/approvals%s by pages of 7: %d approvals %v, want each of the %d once in order", q, len(got), got, n)
			}
		}
		if p, r := get("?status=approved&limit=1000"); len(p.Items) != 0 || p.NextCursor == nil || *p.NextCursor != "" {
			t.Errorf("approved: %s", r.body)
		}
		for q, param := range map[string]string{
			"limit=0":    "query.limit",
			"limit=1001": "query.limit",
			"cursor=" + base64.RawURLEncoding.EncodeToString([]byte("1:ap\x00")):     "query.cursor",
			"cursor=" + base64.RawURLEncoding.EncodeToString([]byte("x:ap")):         "query.cursor",
			"cursor=" + base64.RawURLEncoding.EncodeToString([]byte("12345")):        "query.cursor",
			"cursor=" + base64.RawURLEncoding.EncodeToString([]byte{'1', ':', 0xff}): "query.cursor",
		} {
			r := f.do("GET", "/api/v1/approvals?status=all&"+q, tok, nil)
			if err := isProblem(r, 422); err != nil || !strings.Contains(string(r.body), `"location":"`+param+`"`) {
				t.Errorf("approvals?%s: %v %s, want 422 naming %s", q, err, r.body, param)
			}
		}
	})
}

// TestIfMatchSeveralFieldLines: an If-Match sent as several field lines is
// one list (RFC 9110 §5.3), as when sent comma-separated on one line: the
// PUT or DELETE goes ahead when any line names the stored version. Only the
// first line was read, so a tag on a later line was a 412.
func TestIfMatchSeveralFieldLines(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	admin := f.tokens[auth.RoleAdmin]
	body := map[string]any{"name": "lines", "validity": "30d", "wildcard": true}
	if r := f.do("POST", "/api/v1/profiles", admin, body); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	tag := f.profileETag(t, "lines")
	stale := http.Header{"If-Match": {`"stale"`, `"older"`}}
	want412(t, "PUT with two stale lines", f.doWith("PUT", "/api/v1/profiles/lines", admin, stale, body))
	body["description"] = "second line matched"
	if r := f.doWith("PUT", "/api/v1/profiles/lines", admin, http.Header{"If-Match": {`"stale"`, tag}}, body); r.status != http.StatusOK {
		t.Fatalf("PUT with the stored tag on the second If-Match line: %d %s", r.status, r.body)
	}
	tag = f.profileETag(t, "lines")
	want412(t, "DELETE with two stale lines", f.doWith("DELETE", "/api/v1/profiles/lines", admin, stale, nil))
	if r := f.doWith("DELETE", "/api/v1/profiles/lines", admin, http.Header{"If-Match": {`"stale"`, tag}}, nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE with the stored tag on the second If-Match line: %d %s", r.status, r.body)
	}
}

// TestAccountPageSizeAsCLI: accounts and an account's orders take a limit
// of up to 1000, as `certgate account list --limit` and the other lists
// do (docs/api.md); they refused more than 500 with a 422, so a page size
// the CLI takes was refused by the API.
func TestAccountPageSizeAsCLI(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	acct, _ := f.account()
	tok := f.tokens[auth.RoleAuditor]
	for _, p := range []string{"/api/v1/accounts", "/api/v1/accounts/" + acct + "/orders"} {
		if r := f.do("GET", p+"?limit=1000", tok, nil); r.status != http.StatusOK {
			t.Errorf("GET %s?limit=1000: %d %s", p, r.status, r.body)
		}
		if r := f.do("GET", p+"?limit=1001", tok, nil); r.status != http.StatusUnprocessableEntity {
			t.Errorf("GET %s?limit=1001: %d %s, want 422", p, r.status, r.body)
		}
	}
}

// TestResponseEnums: the OpenAPI document names the values of the closed
// sets the answers use (a generated client gets an enum, not a bare
// string): a certificate's status and source, an approval's status, an
// order's stored status. They were plain strings, listed only in prose.
func TestResponseEnums(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	doc, _ := f.loadDoc()
	for _, c := range []struct {
		schema, prop string
		want         []string
	}{
		{"Certificate", "status", []string{store.StatusValid, store.StatusRevoked, store.StatusExpired}},
		{"RevokedCertificate", "status", []string{store.StatusValid, store.StatusRevoked, store.StatusExpired}},
		{"Certificate", "source", store.Sources()},
		{"ApprovalView", "status", []string{store.ApprovalPending, store.ApprovalApproved, store.ApprovalRejected}},
		{"Order", "status", []string{acme.StatusPending, acme.StatusProcessing, store.OrderAwaitingApproval, acme.StatusValid, acme.StatusInvalid}},
	} {
		s := doc.Components.Schemas[c.schema]
		if s == nil || s.Value.Properties[c.prop] == nil {
			t.Errorf("no schema %s.%s", c.schema, c.prop)
			continue
		}
		var got []string
		for _, v := range s.Value.Properties[c.prop].Value.Enum {
			got = append(got, fmt.Sprint(v))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s.%s: enum %q, want %q", c.schema, c.prop, got, c.want)
		}
	}
}

// TestRevokeEventsOneShape: a certificate.revoke event records the
// certificate in one shape (audit.Certificate: sans, the reason's RFC 5280
// code) whether the API (through the RA) or `certgate cert revoke`
// (through the inventory) revoked it, so `audit list` and GET
// /api/v1/audit/events show the same fields for the same change. The CLI's
// events had the inventory's view instead (names, profile, source, ...,
// and the reason by name).
func TestRevokeEventsOneShape(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	ctx := context.Background()
	api, cli := f.certificate(), f.certificate()
	if r := f.do("POST", "/api/v1/certificates/"+api.Serial+"/revoke", f.tokens[auth.RoleAdmin], map[string]any{"reason": 4}); r.status != http.StatusOK {
		t.Fatalf("API revoke: %d %s", r.status, r.body)
	}
	if _, err := f.inv.WithAudit(f.log, "cli:test").Revoke(ctx, cli.Serial, 4); err != nil {
		t.Fatalf("inventory (CLI) revoke: %v", err)
	}
	shape := func(serial string) (keys [2][]string, reason any) {
		evs, err := f.st.ListAudit(ctx, store.AuditFilter{Action: "certificate.revoke", ObjectID: serial, Limit: 10})
		if err != nil || len(evs) != 1 {
			t.Fatalf("revoke events of %s: %d, %v", serial, len(evs), err)
		}
		for i, raw := range []string{evs[0].Before, evs[0].After} {
			var m map[string]any
			if err := json.Unmarshal([]byte(raw), &m); err != nil {
				t.Fatal(err)
			}
			for k := range m {
				keys[i] = append(keys[i], k)
			}
			slices.Sort(keys[i])
			if i == 1 {
				reason = m["revocation_reason"]
			}
		}
		return keys, reason
	}
	apiKeys, apiReason := shape(api.Serial)
	cliKeys, cliReason := shape(cli.Serial)
	if fmt.Sprint(apiKeys) != fmt.Sprint(cliKeys) || apiReason != cliReason || apiReason != float64(4) {
		t.Errorf("certificate.revoke before/after fields and reason:\nAPI %v %v\nCLI %v %v", apiKeys, apiReason, cliKeys, cliReason)
	}
}

// TestJSONMediaTypeAnyCase: a media type is case-insensitive, with
// optional white space around its parameters (RFC 9110 §8.3.1, §5.6.6), so
// a body sent as "Application/JSON" or "application/json ; charset=utf-8"
// is JSON; both were refused with 415. Another type is still a 415 problem.
func TestJSONMediaTypeAnyCase(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	admin := f.tokens[auth.RoleAdmin]
	for i, ct := range []string{"Application/JSON", "APPLICATION/JSON; CHARSET=UTF-8", "application/json ; charset=utf-8", "application/json;charset=\"utf-8\""} {
		body := fmt.Sprintf(`{"name":"ct%d","role":"auditor"}`, i)
		if r := f.rawDo("POST", "/api/v1/tokens", admin, ct, []byte(body)); r.status != http.StatusCreated {
			t.Errorf("Content-Type %q: %d %s, want 201", ct, r.status, r.body)
		}
	}
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/jsonx"} {
		r := f.rawDo("POST", "/api/v1/tokens", admin, ct, []byte(`{"name":"no","role":"auditor"}`))
		if err := isProblem(r, http.StatusUnsupportedMediaType); err != nil {
			t.Errorf("Content-Type %q: %v", ct, err)
		}
	}
}
