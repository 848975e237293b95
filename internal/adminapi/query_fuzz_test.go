package adminapi

// Fuzz target for what admin API clients put in query strings: filters,
// limits, durations and the cursors of every listing, driven through the
// handler of the fixture, one on each storage engine (five accounts,
// three of them with a certificate, one token per role). Findings are
// kept in testdata/fuzz/FuzzAdminQuery/ and replayed by plain `go test`.
//
//	go test -run '^$' -fuzz '^FuzzAdminQuery$' -fuzztime 3m -parallel 1 ./internal/adminapi/

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math/big"
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
	"/accounts", "/accounts/{acct}/orders", "/audit/events", "/certificates", "/certificates/{serial}/pem",
	"/approvals", "/reports/expiring", "/reports/issued", "/reports/weak-keys", "/reports/violations",
	"/tokens", "/eab-keys", "/profiles", "/certificates/{serial}",
}

// FuzzAdminQuery sends fuzzed query strings to the admin API's GET
// operations with an admin token, on SQLite and on PostgreSQL (the same
// accounts and as many certificates on each), which must answer with the
// same status. Whatever the query, the answer is a success or an RFC 9457
// problem (application/problem+json, its status that of the response) of
// 4xx, never a 5xx or a panic.
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
	envs := newFuzzQueryEnvs(f)
	f.Fuzz(func(t *testing.T, ep uint8, query string) {
		if strings.ContainsAny(query, "# \t\r\n") {
			return // not part of a query string a client could send
		}
		if _, err := url.ParseRequestURI(Prefix + "/x?" + query); err != nil {
			return
		}
		status := map[string]int{}
		for _, env := range envs {
			status[env.engine] = env.check(t, fuzzQueryPaths[int(ep)%len(fuzzQueryPaths)], query)
		}
		if len(envs) == 2 && status[envs[0].engine] != status[envs[1].engine] {
			t.Fatalf("%s?%s: %v; the engines disagree", fuzzQueryPaths[int(ep)%len(fuzzQueryPaths)], query, status)
		}
	})
}

// fuzzQueryEnv is FuzzAdminQuery's API on one storage engine.
type fuzzQueryEnv struct {
	engine       string
	h            http.Handler
	tok          string // an admin token
	acct, serial string // an account with an order, a certificate
	order        string // the account's order
}

// newFuzzQueryEnvs builds the API of FuzzAdminQuery and FuzzAdminRef on
// each storage engine, with the same accounts and certificates (serials
// included; keys differ).
func newFuzzQueryEnvs(f testing.TB) []*fuzzQueryEnv {
	storetest.RequirePostgres(f)
	var envs []*fuzzQueryEnv
	for _, e := range storetest.Engines() {
		fx := newFixture(f, e.Open(f))
		// The same serials on both engines, so that a reference
		// written from one ($SERIAL) is the same text on both.
		fx.serial = new(big.Int).Lsh(big.NewInt(0x5e7a1), 100)
		env := &fuzzQueryEnv{engine: e.Name, h: fx.srv.Config.Handler, tok: fx.tokens[auth.RoleAdmin]}
		env.acct, env.order = fx.account()
		fx.account()
		for range 3 {
			env.serial = fx.certificate().Serial
		}
		envs = append(envs, env)
	}
	return envs
}

func (e *fuzzQueryEnv) get(t *testing.T, target string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("%q: %v", target, err)
	}
	req.URL, req.RequestURI = u, target
	req.Header.Set("Authorization", "Bearer "+e.tok)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// check sends GET op?query (op a fuzzQueryPaths entry), checks the answer
// and, for a page with a next cursor, the next page; it returns the
// first answer's status.
func (e *fuzzQueryEnv) check(t *testing.T, op, query string) int {
	path := Prefix + strings.NewReplacer("{acct}", e.acct, "{serial}", e.serial).Replace(op)
	target := path + "?" + query
	rec := e.get(t, target)
	checkQueryAnswer(t, e.engine, target, rec)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		return rec.Code
	}
	var page map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		return rec.Code // not an object: a listing has one
	}
	param, next := "cursor", ""
	if json.Unmarshal(page["next_cursor"], &next) != nil || next == "" {
		var before int64
		if json.Unmarshal(page["next_before"], &before) != nil || before == 0 {
			return rec.Code
		}
		param, next = "before", strconv.FormatInt(before, 10)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return rec.Code // the handler read what it could; the next page's query would differ
	}
	q.Set(param, next)
	target2 := path + "?" + q.Encode()
	rec2 := e.get(t, target2)
	if rec2.Code != http.StatusOK {
		t.Fatalf("%s: GET %s: %d %s\nthe next page of GET %s", e.engine, target2, rec2.Code, rec2.Body, target)
	}
	var page2 map[string]json.RawMessage
	if err := json.Unmarshal(rec2.Body.Bytes(), &page2); err != nil {
		t.Fatalf("%s: GET %s: %v", e.engine, target2, err)
	}
	for k, v := range page {
		var a, b []json.RawMessage
		if json.Unmarshal(v, &a) != nil || json.Unmarshal(page2[k], &b) != nil {
			continue
		}
		for _, x := range a {
			for _, y := range b {
				if bytes.Equal(x, y) {
					t.Fatalf("%s: GET %s repeats %s of GET %s", e.engine, target2, x, target)
				}
			}
		}
	}
	return rec.Code
}

// checkQueryAnswer fails t unless rec is a 2xx or an RFC 9457 problem of
// 4xx whose status is the response's.
func checkQueryAnswer(t *testing.T, engine, target string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code < 300 {
		return
	}
	if rec.Code >= 500 {
		t.Fatalf("%s: GET %s: %d %s", engine, target, rec.Code, rec.Body)
	}
	if err := isProblem(response{rec.Code, rec.Header(), rec.Body.Bytes()}, rec.Code); err != nil {
		t.Fatalf("%s: GET %s: %v", engine, target, err)
	}
}

// fuzzRefPaths are the GET operations FuzzAdminRef names objects in; {}
// stands for the fuzzed reference.
var fuzzRefPaths = []string{"/certificates/{}", "/certificates/{}/pem", "/accounts/{}", "/accounts/{}/orders", "/orders/{}",
	"/profiles/{}", "/approvals/{}"}

// FuzzAdminRef names objects in the paths of the admin API's GET
// operations with fuzzed references (a certificate's serial, written in
// any of the ways the API takes, or an ID or name), in which $SERIAL
// stands for a certificate's serial (lower-case hex), $SERIALUC for it in
// upper case, $SERIALCOLONS for it as openssl prints it, $ACCT for an
// account's ID and $ORDER for its order's. The answer, on each engine, is
// a success or an RFC 9457 problem of 4xx, never a 5xx or a panic, and
// the engines answer with the same status.
func FuzzAdminRef(f *testing.F) {
	for _, s := range []struct {
		op  uint8
		ref string
	}{
		{0, "$SERIAL"}, {0, "$SERIALUC"}, {0, "$SERIALCOLONS"}, {0, "00$SERIAL"}, {0, "0x$SERIAL"}, {0, "$SERIAL:"}, {0, ":"},
		{0, "%09$SERIAL"}, {0, "$SERIAL%C2%A0"}, {0, "zz"}, {0, "%00"}, {0, "%FF"}, {0, "a%2Fb"}, {0, ".."}, {0, "0"}, {0, ""},
		{1, "$SERIAL"}, {1, "$SERIALCOLONS"}, {1, "nope"},
		{2, "$ACCT"}, {2, "$ACCT%00"}, {2, "nope"}, {3, "$ACCT"}, {3, "$ACCT%2F"}, {3, "nope"},
		{4, "$ORDER"}, {4, "order-nope"}, {5, "default"}, {5, "DEFAULT"}, {5, "nope"}, {5, "a%00"}, {6, "nope"}, {6, "1"},
	} {
		f.Add(s.op, s.ref)
	}
	envs := newFuzzQueryEnvs(f)
	f.Fuzz(func(t *testing.T, op uint8, ref string) {
		if strings.ContainsAny(ref, "# \t\r\n") {
			return // not part of a URL a client could send
		}
		status := map[string]int{}
		for _, env := range envs {
			colons := strings.ToUpper(env.serial)
			if len(colons)%2 == 1 {
				colons = "0" + colons
			}
			var pairs []string
			for i := 0; i < len(colons); i += 2 {
				pairs = append(pairs, colons[i:i+2])
			}
			r := strings.NewReplacer("$SERIALUC", strings.ToUpper(env.serial), "$SERIALCOLONS", strings.Join(pairs, ":"),
				"$SERIAL", env.serial, "$ACCT", env.acct, "$ORDER", env.order).Replace(ref)
			target := Prefix + strings.Replace(fuzzRefPaths[int(op)%len(fuzzRefPaths)], "{}", r, 1)
			if _, err := url.ParseRequestURI(target); err != nil {
				return
			}
			rec := env.get(t, target)
			checkQueryAnswer(t, env.engine, target, rec)
			status[env.engine] = rec.Code
		}
		if len(envs) == 2 && status[envs[0].engine] != status[envs[1].engine] {
			t.Fatalf("%s with %q: %v; the engines disagree", fuzzRefPaths[int(op)%len(fuzzRefPaths)], ref, status)
		}
	})
}
