package wfe_test

// Fuzz target for account key rollover (RFC 8555 §7.3.5): the inner JWS a
// client nests in the payload of a keyChange request, through the front
// end of FuzzJWS's harness. Findings are kept in
// testdata/fuzz/FuzzKeyChange/ and replayed by plain `go test`.
//
//	go test -run '^$' -fuzz '^FuzzKeyChange$' -fuzztime 3m -parallel 1 ./internal/wfe/

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// FuzzKeyChange sends keyChange requests whose outer JWS the harness signs
// correctly with the account key and whose inner JWS (the payload) is
// fuzzed: its protected header and payload are templates ($NEWJWK and
// $OLDJWK the new and current public JWKs, $URL the keyChange URL, $ACCT
// the account URL), signed with the new key, then placed in the body
// template ($P, $L, $S). Never a panic or 5xx; a refusal is a 4xx problem
// of a defined type; a request whose inner signature was changed (tamper
// != 0) is never accepted; an accepted one leaves the account reachable
// with the new key only.
func FuzzKeyChange(f *testing.F) {
	const hdr = `{"alg":"ES256","jwk":$NEWJWK,"url":"$URL"}`
	const pl = `{"account":"$ACCT","oldKey":$OLDJWK}`
	const flat = `{"protected":"$P","payload":"$L","signature":"$S"}`
	for _, s := range []struct {
		hdr, payload, body string
		tamper             uint16
	}{
		{hdr, pl, flat, 0},
		{hdr, pl, flat, 0x0101},
		{`{"alg":"ES256","jwk":$NEWJWK,"url":"$URL","nonce":"x"}`, pl, flat, 0},
		{`{"alg":"ES256","jwk":$OLDJWK,"url":"$URL"}`, pl, flat, 0},
		{`{"alg":"ES256","kid":"$ACCT","url":"$URL"}`, pl, flat, 0},
		{`{"alg":"ES256","jwk":$NEWJWK,"url":"$URL/"}`, pl, flat, 0},
		{`{"alg":"RS256","jwk":$NEWJWK,"url":"$URL"}`, pl, flat, 0},
		{`{"alg":"none","jwk":$NEWJWK,"url":"$URL"}`, pl, flat, 0},
		{hdr, `{"account":"$ACCT/","oldKey":$OLDJWK}`, flat, 0},
		{hdr, `{"account":"$ACCT","oldKey":$NEWJWK}`, flat, 0},
		{hdr, `{"account":"$ACCT"}`, flat, 0},
		{hdr, `{"account":1,"oldKey":$OLDJWK}`, flat, 0},
		{hdr, `{"account":"$ACCT","oldKey":{"kty":"EC"}}`, flat, 0},
		{hdr, `{"account":"$ACCT","oldKey":$OLDJWK,"x":1}`, flat, 0},
		{hdr, `{"account":"$ACCT","oldKey":$OLDJWK,"account":"$ACCT"}`, flat, 0},
		{hdr, ``, flat, 0},
		{hdr, pl, `{"payload":"$L","signatures":[{"protected":"$P","signature":"$S"}]}`, 0},
		{hdr, pl, `$P.$L.$S`, 0},
		{hdr, pl, `{"protected":"$P","payload":"$L","signature":"$S","header":{"kid":"x"}}`, 0},
		{hdr, pl, `"x"`, 0},
	} {
		f.Add(s.hdr, []byte(s.payload), s.body, s.tamper)
	}
	e := newFuzzJWSEnv(f)
	const outerHdr = `{"alg":"ES256","kid":"$KID","nonce":"$NONCE","url":"$URL"}`
	path := "/acme/key-change"
	f.Fuzz(func(t *testing.T, innerHdr string, innerPayload []byte, body string, tamper uint16) {
		newKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		r := strings.NewReplacer("$NEWJWK", jwkJSON(t, &newKey.PublicKey), "$OLDJWK", e.jwk, "$URL", benchBase+path, "$ACCT", e.kid)
		p := base64.RawURLEncoding.EncodeToString([]byte(r.Replace(innerHdr)))
		l := base64.RawURLEncoding.EncodeToString([]byte(r.Replace(string(innerPayload))))
		sig := esSign(t, newKey, p+"."+l)
		if x := byte(tamper); x != 0 {
			sig[int(tamper>>8)%len(sig)] ^= x
		}
		inner := strings.NewReplacer("$P", p, "$L", l, "$S", base64.RawURLEncoding.EncodeToString(sig)).Replace(body)
		req := e.build(t, outerHdr, benchBase+path, []byte(inner), `{"protected":"$P","payload":"$L","signature":"$S"}`, 0, 0)
		rec := e.serve(req, path)
		checkRefusal(t, rec, req)
		checkReplayNonce(t, rec, req)
		if rec.Code >= 300 {
			return
		}
		if byte(tamper) != 0 {
			t.Fatalf("keyChange accepted with inner signature byte %d changed: %d %s\ninner: %s", int(tamper>>8)%len(sig), rec.Code, rec.Body, inner)
		}
		// The account now answers to the new key only.
		oldKey := e.key
		e.key = newKey
		e.setJWK(t)
		get := func() int {
			req := e.build(t, outerHdr, e.kid, nil, `{"protected":"$P","payload":"$L","signature":"$S"}`, 0, 0)
			return e.serve(req, e.acct).Code
		}
		if c := get(); c != http.StatusOK {
			t.Fatalf("after keyChange, POST-as-GET of the account with the new key: %d\ninner: %s", c, inner)
		}
		e.key = oldKey
		e.setJWK(t)
		if c := get(); c < 400 {
			t.Fatalf("after keyChange, POST-as-GET of the account with the old key: %d\ninner: %s", c, inner)
		}
		e.key = newKey
		e.setJWK(t)
	})
}
