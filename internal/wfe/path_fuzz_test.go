package wfe_test

// Fuzz target for the request lines ACME clients (and anyone) send to the
// front end: paths, with profile prefixes, under /acme/ and beside it,
// with any method, through FuzzJWS's harness. Findings are kept in
// testdata/fuzz/FuzzACMEPath/ and replayed by plain `go test`.
//
//	go test -run '^$' -fuzz '^FuzzACMEPath$' -fuzztime 3m -parallel 1 ./internal/wfe/

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
)

// fuzzMethods are the methods FuzzACMEPath sends, by the input's number;
// a POST carries a JWS signed for the request's URL (kid, empty payload:
// POST-as-GET, or the fuzzed payload).
var fuzzMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions}

// FuzzACMEPath sends a request of each method to fuzzed paths ({acct},
// {order}, {authz} and {cert} standing for those of the harness): never a
// panic or 5xx; under /acme an error is an RFC 8555 problem document of
// a defined type (FuzzJWS's), its HTTP status that of the response; a
// path under /acme/ ending in "/" (a resource's URL with a "/" appended)
// is never a success; a 405 names the methods allowed (Allow), and a
// signed POST's answer carries a Replay-Nonce.
func FuzzACMEPath(f *testing.F) {
	for _, s := range []struct {
		m       uint8
		path    string
		payload string
	}{
		{0, "/acme/directory", ""}, {1, "/acme/new-nonce", ""}, {0, "/acme/default/directory", ""}, {0, "/acme/nope/directory", ""},
		{2, "/acme/new-order", `{"identifiers":[{"type":"dns","value":"a.fuzz.test"}]}`},
		{2, "/acme/default/new-order", `{"identifiers":[{"type":"dns","value":"a.fuzz.test"}]}`},
		{2, "/acme/nope/new-order", `{"identifiers":[{"type":"dns","value":"a.fuzz.test"}]}`},
		{2, "/acme/default/default/new-order", `{}`}, {2, "/acme/../acme/new-order", `{}`}, {2, "/acme//new-order", `{}`},
		{2, "/acme/new-order/", `{}`}, {2, "{acct}", ""}, {2, "{acct}/orders", ""}, {2, "{acct}/orders/x", ""}, {2, "{acct}/", ""},
		{2, "{order}", ""}, {2, "{order}/finalize", ""}, {2, "{order}/x", ""}, {2, "{authz}", ""}, {2, "{authz}/x", ""},
		{2, "{cert}", ""}, {2, "{cert}/1", ""}, {2, "{cert}/0", ""}, {2, "/acme/cert/zz", ""}, {2, "/acme/chall/nope", ""},
		{2, "/acme/order/%2e%2e", ""}, {2, "/acme/account/%00", ""}, {2, "/acme/order/%FF/finalize", ""},
		{0, "/acme/renewal-info", ""}, {0, "/acme/renewal-info/", ""}, {2, "/acme/renewal-info/x", ""}, {3, "/acme/new-order", ""},
		{4, "{acct}", ""}, {5, "/acme/directory", ""}, {0, "/acme/new-account", ""}, {0, "/acme", ""}, {0, "/acme/", ""},
		{0, "/pki/crl", ""}, {2, "/pki/crl", ""}, {0, "/pki/intermediate.crt", ""}, {0, "/pki/root.pem", ""}, {0, "/", ""},
		{2, "/acme/key-change", ""}, {2, "/acme/revoke-cert", ""}, {0, "/acme/default/renewal-info/x", ""},
	} {
		f.Add(s.m, s.path, []byte(s.payload))
	}
	e := newFuzzJWSEnv(f)
	const kidHdr = `{"alg":"ES256","kid":"$KID","nonce":"$NONCE","url":"$URL"}`
	f.Fuzz(func(t *testing.T, m uint8, path string, payload []byte) {
		path = e.paths.Replace(strings.ReplaceAll(path, "{acct}", e.acct))
		u, err := url.Parse(benchBase + path)
		if err != nil || u.Host != "localhost" || u.Path == "" || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(path, " \t\r\n#?") {
			return // not a request line a client could send
		}
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		var body []byte
		if method == http.MethodPost {
			body = e.build(t, kidHdr, benchBase+path, payload, `{"protected":"$P","payload":"$L","signature":"$S"}`, 0, 0)
		}
		req := httptest.NewRequest(method, benchBase+path, bytes.NewReader(body))
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/jose+json")
		}
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		what := method + " " + path
		if rec.Code >= 500 {
			t.Fatalf("%s: %d %s", what, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusMethodNotAllowed && rec.Header().Get("Allow") == "" {
			t.Fatalf("%s: 405 without Allow", what)
		}
		if rec.Code < 300 && strings.HasPrefix(u.Path, "/acme/") && strings.HasSuffix(u.Path, "/") {
			t.Fatalf("%s: %d; no ACME resource's URL ends in /: %.200s", what, rec.Code, rec.Body)
		}
		if method == http.MethodPost && strings.HasPrefix(u.Path, "/acme/") && rec.Header().Get("Replay-Nonce") == "" {
			t.Fatalf("%s: %d without a Replay-Nonce: %s", what, rec.Code, rec.Body)
		}
		if rec.Code < 400 || !strings.HasPrefix(u.Path, "/acme") || method == http.MethodHead {
			return
		}
		var p acme.Problem
		if rec.Header().Get("Content-Type") != "application/problem+json" || json.Unmarshal(rec.Body.Bytes(), &p) != nil {
			t.Fatalf("%s: %d without a problem document: %q", what, rec.Code, rec.Body)
		}
		if !fuzzProblemTypes[p.Type] && p.Type != acme.OrderNotReady && p.Type != acme.BadCSR {
			t.Fatalf("%s: %d problem %s (%s)", what, rec.Code, p.Type, p.Detail)
		}
		if p.Status != 0 && p.Status != rec.Code {
			t.Fatalf("%s: HTTP %d, problem status %d", what, rec.Code, p.Status)
		}
	})
}
