package adminapi

// Fuzz target for what admin API clients put in query strings: filters,
// limits, durations and the cursors of every listing, driven through the
// handler of the fixture (SQLite store, three accounts, three
// certificates, one token per role). Findings are kept in
// testdata/fuzz/FuzzAdminQuery/ and replayed by plain `go test`.
//
//	go test -run '^$' -fuzz '^FuzzAdminQuery$' -fuzztime 3m -parallel 1 ./internal/adminapi/

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store/storetest"
)

// fuzzQueryPaths are the GET operations FuzzAdminQuery sends query
// strings to; {acct} stands for an account with an order, {serial} for a
// certificate's serial.
var fuzzQueryPaths = []string{
	"/accounts", "/accounts/{acct}/orders", "/audit/events", "/certificates", "/certificates/{serial}/download",
	"/approvals", "/reports/expiring", "/reports/issued", "/reports/weak-keys", "/reports/violations",
	"/tokens", "/eab-keys", "/profiles",
}

// FuzzAdminQuery sends fuzzed query strings to the admin API's GET
// operations with an admin token. Whatever the query, the answer is a
// success with a JSON body or an RFC 9457 problem (application/problem+
// json, its status that of the response) of 4xx, never a 5xx or a panic.
// A page with a next_cursor (next_before for the audit log) leads, with
// the same query and that cursor, to a page that succeeds and repeats no
// item of the first.
func FuzzAdminQuery(f *testing.F) {
	b64 := base64.RawURLEncoding.EncodeToString
	for _, s := range []struct {
		ep uint8
		q  string
	}{
		{0, "limit=1"}, {0, "limit=0"}, {0, "limit=1001"}, {0, "cursor=acct001&limit=1"}, {0, "cursor=a%00b"}, {0, "limit=1x"},
		{1, "limit=1"}, {1, "cursor=" + b64([]byte("1:a\x00b"))}, {1, "cursor=%FF"}, {1, "cursor=MTph"},
		{2, "limit=2"}, {2, "before=3&limit=1"}, {2, "before=-1"}, {2, "action=token.create&limit=1"}, {2, "object_type=certificate&object_id=0A:0B"},
		{2, "before=9223372036854775807"}, {2, "before=9223372036854775808"},
		{3, "limit=1"}, {3, "sort=serial&limit=1"}, {3, "sort=-not_after&limit=1"}, {3, "sort=bogus"},
		{3, "attr=team=web&attr=env"}, {3, "expiring_within=30d&limit=1"}, {3, "expiring_within=-1d"}, {3, "expiring_within=106752d"},
		{3, "suffix=*.example.com"}, {3, "serial=0a:0B"}, {3, "fingerprint=zz"}, {3, "status=revoked&source=imported"},
		{3, "cursor=" + b64([]byte(`{"o":"serial","n":0,"s":"a"}`))}, {3, "cursor=" + b64([]byte(`{"o":"not_after","n":-1,"s":""}`))},
		{3, "issuer=local&profile=default"}, {3, "profile=nope"},
		{4, "chain=false"}, {4, "chain=maybe"},
		{5, "status=all&limit=1"}, {5, "status=bogus"}, {5, "cursor=" + b64([]byte("x"))},
		{6, "within=30d&limit=1"}, {6, "within=0"}, {6, "within=1w3d&sort=serial"},
		{7, "by=day&limit=1"}, {7, "by=profile&limit=1"}, {7, "by=issuer&since=1w"}, {7, "cursor=" + b64([]byte(`{"b":"profile","k":""}`))},
		{7, "by=issuer&cursor=" + b64([]byte(`{"b":"profile","k":"x"}`))},
		{8, "limit=1"}, {9, "limit=1"}, {9, "cursor=" + b64([]byte(`{}`))},
		{10, "all=true"}, {10, "all=1"}, {11, ""}, {12, "x=y"}, {12, "%zz"}, {3, "limit=1&limit=2"}, {3, "limit=%2B1"},
	} {
		f.Add(s.ep, s.q)
	}
	fx := newFixture(f, storetest.Engines()[0].Open(f))
	acct, _ := fx.account()
	fx.account()
	var serial string
	for range 3 {
		serial = fx.certificate().Serial
	}
	tok := fx.tokens[auth.RoleAdmin]
	h := fx.srv.Config.Handler
	get := func(t *testing.T, target string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		u, err := url.Parse(target)
		if err != nil {
			t.Fatalf("%q: %v", target, err)
		}
		req.URL, req.RequestURI = u, target
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	f.Fuzz(func(t *testing.T, ep uint8, query string) {
		if strings.ContainsAny(query, "# \t\r\n") {
			return // not part of a query string a client could send
		}
		path := Prefix + strings.NewReplacer("{acct}", acct, "{serial}", serial).Replace(fuzzQueryPaths[int(ep)%len(fuzzQueryPaths)])
		target := path + "?" + query
		if _, err := url.ParseRequestURI(target); err != nil {
			return
		}
		rec := get(t, target)
		checkQueryAnswer(t, target, rec)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			return
		}
		var page map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
			return // not an object: a listing has one
		}
		param, next := "cursor", ""
		if json.Unmarshal(page["next_cursor"], &next) != nil || next == "" {
			var before int64
			if json.Unmarshal(page["next_before"], &before) != nil || before == 0 {
				return
			}
			param, next = "before", strconv.FormatInt(before, 10)
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			return // the handler read what it could; the next page's query would differ
		}
		q.Set(param, next)
		target2 := path + "?" + q.Encode()
		rec2 := get(t, target2)
		if rec2.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s\nthe next page of GET %s", target2, rec2.Code, rec2.Body, target)
		}
		var page2 map[string]json.RawMessage
		if err := json.Unmarshal(rec2.Body.Bytes(), &page2); err != nil {
			t.Fatalf("GET %s: %v", target2, err)
		}
		for k, v := range page {
			var a, b []json.RawMessage
			if json.Unmarshal(v, &a) != nil || json.Unmarshal(page2[k], &b) != nil {
				continue
			}
			for _, x := range a {
				for _, y := range b {
					if bytes.Equal(x, y) {
						t.Fatalf("GET %s repeats %s of GET %s", target2, x, target)
					}
				}
			}
		}
	})
}

// checkQueryAnswer fails t unless rec is a 2xx or an RFC 9457 problem of
// 4xx whose status is the response's.
func checkQueryAnswer(t *testing.T, target string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code < 300 {
		return
	}
	if rec.Code >= 500 {
		t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
	}
	if err := isProblem(response{rec.Code, rec.Header(), rec.Body.Bytes()}, rec.Code); err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
}
