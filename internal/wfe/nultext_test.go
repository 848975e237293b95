package wfe_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv"
	jose "github.com/go-jose/go-jose/v4"
)

// TestNULInACMETextFields: a NUL character (\u0000) in a text field of an
// ACME request is an RFC 8555 problem on both engines, never a 500:
// PostgreSQL refuses such text (SQLSTATE 22021) where SQLite stored it.
func TestNULInACMETextFields(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			o := testenv.Options{Server: server.Options{ProfileTTL: time.Nanosecond}}
			if engine == "postgres" {
				o.DB = storetest.PostgresDSN(t)
			}
			env := testenv.NewWithOptions(t, o)
			// A declared attribute: NUL in its value was stored on SQLite
			// and, on PostgreSQL, refused only by the certificate's
			// record after the certificate was signed (lost, 500).
			putProfile(t, env, policy.Profile{Name: "web", Validity: policy.Duration(30 * 24 * time.Hour), Attributes: []policy.Attribute{{Name: "owner"}}})
			webNewOrder := env.BaseURL + "/acme/web/new-order"
			c := hNewClient(t, env)
			k := hNewKey(t, "p256")
			kid := c.newAccount(t, k)
			for _, tc := range []struct {
				name    string
				key     *hKey
				kid     string
				url     string
				payload string
				want    []acme.ProblemType
			}{
				{"newAccount contact", hNewKey(t, "p256"), "", c.dir.NewAccount, `{"termsOfServiceAgreed":true,"contact":["mailto:a\u0000b@example.com"]}`, []acme.ProblemType{acme.InvalidContact}},
				{"account update contact", k, kid, kid, `{"contact":["mailto:a\u0000b@example.com"]}`, []acme.ProblemType{acme.InvalidContact}},
				{"newOrder dns identifier", k, kid, c.dir.NewOrder, `{"identifiers":[{"type":"dns","value":"a\u0000.example.com"}]}`, []acme.ProblemType{acme.RejectedIdentifier, acme.Malformed}},
				{"newOrder identifier type", k, kid, c.dir.NewOrder, `{"identifiers":[{"type":"dns\u0000","value":"a.example.com"}]}`, []acme.ProblemType{acme.UnsupportedIdentifier, acme.Malformed}},
				{"newOrder ip identifier", k, kid, c.dir.NewOrder, `{"identifiers":[{"type":"ip","value":"127.0.0.1\u0000"}]}`, []acme.ProblemType{acme.RejectedIdentifier, acme.Malformed}},
				{"newOrder replaces", k, kid, c.dir.NewOrder, `{"identifiers":[{"type":"dns","value":"a.example.com"}],"replaces":"AAAA\u0000.AAAA"}`, []acme.ProblemType{acme.Malformed}},
				{"newOrder profile", k, kid, c.dir.NewOrder, `{"identifiers":[{"type":"dns","value":"a.example.com"}],"profile":"web\u0000"}`, []acme.ProblemType{acme.InvalidProfile, acme.Malformed}},
				{"newOrder attribute value", k, kid, c.dir.NewOrder, `{"identifiers":[{"type":"dns","value":"a.example.com"}],"certgate":{"attributes":{"env":"a\u0000"}}}`, []acme.ProblemType{acme.Malformed}},
				{"newOrder declared attribute value", k, kid, webNewOrder, `{"identifiers":[{"type":"dns","value":"a.example.com"}],"certgate":{"attributes":{"owner":"a\u0000b"}}}`, []acme.ProblemType{acme.Malformed}},
				{"newOrder attribute name", k, kid, c.dir.NewOrder, `{"identifiers":[{"type":"dns","value":"a.example.com"}],"certgate":{"attributes":{"e\u0000":"a"}}}`, []acme.ProblemType{acme.Malformed}},
				{"eab kid", hNewKey(t, "p256"), "", c.dir.NewAccount, "EAB", []acme.ProblemType{acme.Unauthorized, acme.Malformed}},
				{"kid", k, kid + "\u0000", c.dir.NewOrder, `{"identifiers":[{"type":"dns","value":"a.example.com"}]}`, []acme.ProblemType{acme.Malformed, acme.AccountDoesNotExist}},
			} {
				if tc.payload == "EAB" {
					tc.payload = `{"termsOfServiceAgreed":true,"externalAccountBinding":` + string(nulEAB(t, tc.key, c.dir.NewAccount)) + `}`
				}
				var r *hResp
				if tc.kid != "" && strings.Contains(tc.kid, "\x00") {
					h := c.hdr(t, tc.key, tc.kid, tc.url)
					r = c.post(t, tc.url, hBuild(t, tc.key, h, []byte(tc.payload)).bytes(t))
				} else {
					r = c.signed(t, tc.key, tc.kid, tc.url, []byte(tc.payload))
				}
				ok := r.problem != nil && r.status >= 400 && r.status < 500
				if ok {
					ok = false
					for _, w := range tc.want {
						ok = ok || r.problem.Type == w
					}
				}
				if !ok {
					t.Errorf("%s: %d %s, want a 4xx problem of type %v", tc.name, r.status, r.body, tc.want)
				}
			}
			// IDs in URL paths: %00 and %FF (invalid UTF-8) name nothing.
			for _, p := range []string{"/acme/order/%00", "/acme/order/a%FFb", "/acme/authz/%00", "/acme/chall/%FF", "/acme/cert/%00",
				"/acme/account/%00", "/acme/%00/directory", "/acme/w%FFb/new-order", "/acme/renewal-info/%00"} {
				u := env.BaseURL + p
				r := c.signed(t, k, kid, u, nil)
				if r.problem == nil || r.status != 404 || r.problem.Type != acme.Malformed {
					t.Errorf("POST %s: %d %s, want a 404 malformed problem", p, r.status, r.body)
				}
				r = hDo(t, env.HTTPClient, "GET", u, "", nil)
				if r.problem == nil || r.status != 404 || r.problem.Type != acme.Malformed {
					t.Errorf("GET %s: %d %s, want a 404 malformed problem", p, r.status, r.body)
				}
			}
			// An orders-list cursor (RFC 8555 §7.1.2.1) is the client's to
			// send back; one whose order ID holds a NUL or invalid UTF-8,
			// at a position the query compares IDs (now), names nothing.
			for _, id := range []string{"\x00abc", "a\xffb"} {
				u := kid + "/orders?cursor=" + base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d.%s", time.Now().UnixNano(), id))
				r := c.signed(t, k, kid, u, nil)
				if r.problem == nil || r.status != 400 || r.problem.Type != acme.Malformed {
					t.Errorf("orders cursor with ID %q: %d %s, want a 400 malformed problem", id, r.status, r.body)
				}
			}
			// A kid naming an account URL with %FF.
			h := c.hdr(t, k, env.BaseURL+"/acme/account/%FF", c.dir.NewOrder)
			r := c.post(t, c.dir.NewOrder, hBuild(t, k, h, []byte(`{"identifiers":[{"type":"dns","value":"a.example.com"}]}`)).bytes(t))
			if r.problem == nil || r.status >= 500 {
				t.Errorf("kid with %%FF: %d %s, want a 4xx problem", r.status, r.body)
			}
		})
	}
}

// nulEAB is an externalAccountBinding for k's key whose "kid" holds a NUL.
func nulEAB(t *testing.T, k *hKey, url string) json.RawMessage {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(strings.Repeat("k", 32))},
		&jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{"kid": "kid\x00", "url": url}})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(k.jwkJSON(t))
	if err != nil {
		t.Fatal(err)
	}
	return json.RawMessage(jws.FullSerialize())
}
