package wfe_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/testenv"
	jose "github.com/go-jose/go-jose/v4"
)

// hUnauthorizedStatus is the HTTP status of an "unauthorized" problem.
// ACME does not use HTTP authentication, and RFC 9110 §15.5.2 requires a
// 401 to carry WWW-Authenticate, so 403 Forbidden is the fitting status
// (Boulder and Pebble use 403 too). The exception is a request by a
// deactivated account's key, answered 401 (ra.AccountNotValid), as
// certgate's ACME acceptance criteria ask.
const hUnauthorizedStatus = http.StatusForbidden

// hState is what the table rows share: accounts, orders in known states
// and an issued certificate, all created once before the rows run.
type hState struct {
	c *hClient

	acct, other, dead *hKey  // account keys (P-256); dead is deactivated
	kid, otherKid     string // account URLs
	deadKid           string
	rsa2048, rsa1024  *hKey
	p521              *hKey

	pendingURL    string     // a pending order of acct
	readyURL      string     // a ready order of acct for hReadyNames
	ready         acme.Order //
	otherOrderURL string     // a pending order of other
	certURL       string     // a certificate of acct
	certDER       []byte
	interDER      []byte // the intermediate that signed certDER
}

var hReadyNames = []string{"a.hostile.test", "b.hostile.test"}

func hSetup(t *testing.T) *hState {
	t.Helper()
	env := testenv.New(t)
	c := hNewClient(t, env)
	s := &hState{c: c, acct: hNewKey(t, "p256"), other: hNewKey(t, "p256"), dead: hNewKey(t, "p256"),
		rsa2048: hNewKey(t, "rsa2048"), rsa1024: hNewKey(t, "rsa1024"), p521: hNewKey(t, "p521")}
	s.kid = c.newAccount(t, s.acct)
	s.otherKid = c.newAccount(t, s.other)
	s.deadKid = c.newAccount(t, s.dead)
	c.mustOK(t, http.StatusOK, s.dead, s.deadKid, s.deadKid, []byte(`{"status":"deactivated"}`))

	s.pendingURL, _ = c.newOrder(t, s.acct, s.kid, "pending.hostile.test")
	s.otherOrderURL, _ = c.newOrder(t, s.other, s.otherKid, "other.hostile.test")
	var o acme.Order
	s.readyURL, o = c.newOrder(t, s.acct, s.kid, hReadyNames...)
	s.ready = c.authorize(t, s.acct, s.kid, s.readyURL, o)

	// A second order for the same names reuses the valid authorizations,
	// is ready at once and is finalized to get a certificate.
	_, co := c.newOrder(t, s.acct, s.kid, hReadyNames...)
	if co.Status != acme.StatusReady {
		t.Fatalf("second order is %s, want ready (authorization reuse)", co.Status)
	}
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	r := c.mustOK(t, http.StatusOK, s.acct, s.kid, co.Finalize, hFinalizePayload(hCSR(t, certKey, "", hReadyNames...)))
	var done acme.Order
	if err := json.Unmarshal(r.body, &done); err != nil || done.Certificate == "" {
		t.Fatalf("finalize: %v: %s", err, r.body)
	}
	s.certURL = done.Certificate
	pemChain := c.mustOK(t, http.StatusOK, s.acct, s.kid, s.certURL, nil).body
	blk, rest := pem.Decode(pemChain)
	ib, _ := pem.Decode(rest)
	if blk == nil || ib == nil {
		t.Fatalf("certificate chain is not two PEM certificates: %q", pemChain)
	}
	s.certDER, s.interDER = blk.Bytes, ib.Bytes
	return s
}

// req builds a well-formed request by hand (fresh nonce, signed by acct
// via kid), after letting mod change the protected header.
func (s *hState) req(t *testing.T, url string, payload []byte, mod func(h map[string]any)) hJWS {
	t.Helper()
	h := s.c.hdr(t, s.acct, s.kid, url)
	if mod != nil {
		mod(h)
	}
	return hBuild(t, s.acct, h, payload)
}

// send posts a hand-built request as application/jose+json.
func (s *hState) send(t *testing.T, url string, payload []byte, mod func(h map[string]any)) *hResp {
	t.Helper()
	return s.c.post(t, url, s.req(t, url, payload, mod).bytes(t))
}

// sendMap posts a hand-built request after letting edit change its
// top-level JSON members.
func (s *hState) sendMap(t *testing.T, url string, payload []byte, edit func(m map[string]any)) *hResp {
	t.Helper()
	m := s.req(t, url, payload, nil).hMap()
	edit(m)
	return s.c.post(t, url, hJSON(t, m))
}

// newAcct posts a newAccount request for key k (jwk) with payload.
func (s *hState) newAcct(t *testing.T, k *hKey, payload string, mod func(h map[string]any)) *hResp {
	t.Helper()
	u := s.c.dir.NewAccount
	h := s.c.hdr(t, k, "", u)
	if mod != nil {
		mod(h)
	}
	return s.c.post(t, u, hBuild(t, k, h, []byte(payload)).bytes(t))
}

// order posts a newOrder payload signed by acct.
func (s *hState) order(t *testing.T, payload string) *hResp {
	t.Helper()
	return s.send(t, s.c.dir.NewOrder, []byte(payload), nil)
}

func (s *hState) orderDNS(t *testing.T, names ...string) *hResp {
	t.Helper()
	var ids []acme.Identifier
	for _, n := range names {
		ids = append(ids, acme.Identifier{Type: acme.IdentifierDNS, Value: n})
	}
	return s.order(t, string(hJSON(t, acme.NewOrderRequest{Identifiers: ids})))
}

// finalize posts payload to the ready order's finalize URL.
func (s *hState) finalize(t *testing.T, payload []byte) *hResp {
	t.Helper()
	return s.send(t, s.ready.Finalize, payload, nil)
}

func (s *hState) finalizeCSR(t *testing.T, der []byte) *hResp {
	t.Helper()
	return s.finalize(t, hFinalizePayload(der))
}

func hP256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// hRow is one hostile request and the answer it must get.
type hRow struct {
	name   string
	send   func(t *testing.T, s *hState) *hResp
	status int
	ptype  acme.ProblemType // "" for rows that must succeed
	// alt, when set, is a second acceptable (status, type) for rows where
	// RFC 8555 leaves two equally correct answers.
	alt   *hRow
	check func(t *testing.T, s *hState, r *hResp)
}

// hWantAlgorithms checks the "algorithms" member of badSignatureAlgorithm
// (RFC 8555 §6.2): present, and not offering the refused algorithm.
func hWantAlgorithms(refused string) func(t *testing.T, s *hState, r *hResp) {
	return func(t *testing.T, s *hState, r *hResp) {
		t.Helper()
		if r.problem == nil || len(r.problem.Algorithms) == 0 {
			t.Errorf("badSignatureAlgorithm without \"algorithms\": %s", r.body)
			return
		}
		if slices.Contains(r.problem.Algorithms, refused) {
			t.Errorf("\"algorithms\" %v offers the refused %q", r.problem.Algorithms, refused)
		}
	}
}

// hWantIdentifier checks that a per-identifier problem names it (RFC 8555
// §6.7.1).
func hWantIdentifier(value string) func(t *testing.T, s *hState, r *hResp) {
	return func(t *testing.T, s *hState, r *hResp) {
		t.Helper()
		if r.problem == nil || r.problem.Identifier == nil || r.problem.Identifier.Value != value {
			t.Errorf("problem does not name identifier %q: %s", value, r.body)
		}
	}
}

// hWantDetail checks that the problem's detail contains want.
func hWantDetail(want string) func(t *testing.T, s *hState, r *hResp) {
	return func(t *testing.T, s *hState, r *hResp) {
		t.Helper()
		if r.problem == nil || !strings.Contains(r.problem.Detail, want) {
			t.Errorf("problem detail does not contain %q: %s", want, r.body)
		}
	}
}

func TestHostileRequests(t *testing.T) {
	s := hSetup(t)
	c := s.c
	const malformed, badNonce, badSigAlg = acme.Malformed, acme.BadNonce, acme.BadSignatureAlgorithm
	const unauthorized, rejected = acme.Unauthorized, acme.RejectedIdentifier
	validOrder := `{"identifiers":[{"type":"dns","value":"ok.hostile.test"}]}`

	rows := []hRow{
		// ---- JWS shape (RFC 8555 §6.2) ----
		{name: "compact serialization", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			j := s.req(t, c.dir.NewOrder, []byte(validOrder), nil)
			return c.post(t, c.dir.NewOrder, []byte(j.Protected+"."+j.Payload+"."+j.Signature))
		}},
		{name: "general serialization with signatures", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			j := s.req(t, c.dir.NewOrder, []byte(validOrder), nil)
			return c.post(t, c.dir.NewOrder, hJSON(t, map[string]any{"payload": j.Payload,
				"signatures": []map[string]string{{"protected": j.Protected, "signature": j.Signature}}}))
		}},
		{name: "unprotected header present", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.sendMap(t, c.dir.NewOrder, []byte(validOrder), func(m map[string]any) { m["header"] = map[string]any{"kid": s.kid} })
		}},
		{name: "payload null on a POST-as-GET", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			// Signed over the empty payload, sent with null in its place:
			// null is not a string (RFC 7515 §7.2.1); it used to be read as
			// the empty payload and the request answered.
			return s.sendMap(t, s.kid, nil, func(m map[string]any) { m["payload"] = nil })
		}, check: hWantDetail(`"payload" must be a string`)},
		{name: "protected header nonce a number", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			// Was "not a JSON object with distinct member names".
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { h["nonce"] = 12345 })
		}, check: hWantDetail(`member "nonce" has the wrong type`)},
		{name: "protected null", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.sendMap(t, c.dir.NewOrder, []byte(validOrder), func(m map[string]any) { m["protected"] = nil })
		}, check: hWantDetail(`"protected" must be a string`)},
		{name: "several faults: signatures first", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			// Members were looked at in the map's random order, so which
			// fault was named changed from request to request.
			return s.sendMap(t, c.dir.NewOrder, []byte(validOrder), func(m map[string]any) {
				m["signatures"] = []any{}
				m["header"] = map[string]any{}
				m["payload"] = 5
				m["signature"] = true
			})
		}, check: hWantDetail(`general serialization ("signatures") is not allowed`)},
		{name: "several faults: header before non-string members", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.sendMap(t, c.dir.NewOrder, []byte(validOrder), func(m map[string]any) {
				m["header"] = map[string]any{}
				m["protected"] = 1
				m["payload"] = 5
			})
		}, check: hWantDetail("unprotected header is not allowed")},
		{name: "several non-string members: protected named", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.sendMap(t, c.dir.NewOrder, []byte(validOrder), func(m map[string]any) {
				m["protected"] = 1
				m["payload"] = 5
				m["signature"] = false
			})
		}, check: hWantDetail(`"protected" must be a string`)},
		{name: "missing protected", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.sendMap(t, c.dir.NewOrder, []byte(validOrder), func(m map[string]any) { delete(m, "protected") })
		}},
		{name: "missing payload", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.sendMap(t, c.dir.NewOrder, []byte(validOrder), func(m map[string]any) { delete(m, "payload") })
		}},
		{name: "missing signature", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.sendMap(t, c.dir.NewOrder, []byte(validOrder), func(m map[string]any) { delete(m, "signature") })
		}},
		{name: "protected not base64url", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.sendMap(t, c.dir.NewOrder, []byte(validOrder), func(m map[string]any) { m["protected"] = "eyJ+/=!" })
		}},
		{name: "protected not JSON", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.sendMap(t, c.dir.NewOrder, []byte(validOrder), func(m map[string]any) { m["protected"] = hB64([]byte("alg=ES256")) })
		}},
		{name: "protected is a JSON array", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.sendMap(t, c.dir.NewOrder, []byte(validOrder), func(m map[string]any) { m["protected"] = hB64([]byte(`["ES256"]`)) })
		}},
		{name: "body not JSON", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return c.post(t, c.dir.NewOrder, []byte("hello, ACME"))
		}},
		{name: "empty body", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return c.post(t, c.dir.NewOrder, []byte{})
		}},
		{name: "trailing garbage after the JWS", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return c.post(t, c.dir.NewOrder, append(s.req(t, c.dir.NewOrder, []byte(validOrder), nil).bytes(t), " {}"...))
		}},
		{name: "trailing closing bracket after the JWS", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return c.post(t, c.dir.NewOrder, append(s.req(t, c.dir.NewOrder, []byte(validOrder), nil).bytes(t), "]"...))
		}},
		{
			// A correctly signed JWS whose signed url is the account URL,
			// plus an unsigned case-variant "Protected" member carrying a
			// fresh nonce and the newOrder url. JOSE member names are
			// case-sensitive (RFC 7515 §7.2.1, RFC 8259): "Protected" is
			// an unknown member, ignored (RFC 7515 §7.2.1), so the signed
			// url applies (→ unauthorized, RFC 8555 §6.4). It must never
			// act on the unsigned header.
			name: "case-variant \"Protected\" member smuggles an unsigned header", status: hUnauthorizedStatus, ptype: unauthorized,
			send: func(t *testing.T, s *hState) *hResp {
				signed := s.req(t, s.kid, []byte(validOrder), nil)
				unsigned := map[string]any{"alg": "ES256", "kid": s.kid, "nonce": c.nonce(t), "url": c.dir.NewOrder}
				body := bytes.TrimSuffix(signed.bytes(t), []byte("}"))
				body = append(body, `,"Protected":"`+hB64(hJSON(t, unsigned))+`"}`...)
				return c.post(t, c.dir.NewOrder, body)
			},
		},
		{name: "unknown JWS member is ignored (RFC 7515 §7.2.1)", status: 201, send: func(t *testing.T, s *hState) *hResp {
			return s.sendMap(t, c.dir.NewOrder, []byte(validOrder), func(m map[string]any) { m["x-client-trace"] = map[string]any{"id": 7} })
		}},
		{name: "unencoded payload (b64:false, RFC 7797)", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			u := c.dir.NewOrder
			return c.post(t, u, hJoseSign(t, s.acct, "", s.kid, c.nonce(t), u, []byte(validOrder), func(o *jose.SignerOptions) { o.WithBase64(false) }))
		}},
		{name: "unknown critical header", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { h["crit"] = []string{"x-hostile"}; h["x-hostile"] = 1 })
		}},

		// ---- algorithms and keys (RFC 8555 §6.2, §6.7) ----
		{name: "alg none", status: 400, ptype: badSigAlg, check: hWantAlgorithms("none"), send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { h["alg"] = "none" })
		}},
		{name: "alg HS256", status: 400, ptype: badSigAlg, check: hWantAlgorithms("HS256"), send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { h["alg"] = "HS256" })
		}},
		{name: "alg PS256 (deliberately unsupported)", status: 400, ptype: badSigAlg, check: hWantAlgorithms("PS256"), send: func(t *testing.T, s *hState) *hResp {
			u := c.dir.NewAccount
			return c.post(t, u, hJoseSign(t, s.rsa2048, "PS256", "", c.nonce(t), u, []byte(`{"termsOfServiceAgreed":true}`), nil))
		}},
		{name: "alg missing", status: 400, ptype: badSigAlg, check: hWantAlgorithms(""), send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { h["alg"] = "" })
		}},
		{name: "alg ES256 with an RSA jwk", status: 400, ptype: badSigAlg, check: hWantAlgorithms("none"), send: func(t *testing.T, s *hState) *hResp {
			return s.newAcct(t, s.rsa2048, `{}`, func(h map[string]any) { h["alg"] = "ES256" })
		}},
		{name: "alg RS256 with a P-256 kid account", status: 400, ptype: acme.Malformed /* supported alg, wrong key: not signed by the account key */, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { h["alg"] = "RS256" })
		}},
		{name: "RSA 1024 account key", status: 400, ptype: acme.BadPublicKey, send: func(t *testing.T, s *hState) *hResp {
			return s.newAcct(t, s.rsa1024, `{"termsOfServiceAgreed":true}`, nil)
		}},
		{name: "jwk includes the private key", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			k := hNewKey(t, "p256")
			return s.newAcct(t, k, `{}`, func(h map[string]any) {
				priv := jose.JSONWebKey{Key: k.priv, Algorithm: "ES256"}
				h["jwk"] = priv
			})
		}, check: hWantDetail(`member "jwk" must be a public key; it holds a private or symmetric key`)},
		{name: "jwk is a symmetric key", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			// Answered "the JWS cannot be parsed", naming no part.
			return s.newAcct(t, hNewKey(t, "p256"), `{}`, func(h map[string]any) { h["jwk"] = map[string]string{"kty": "oct", "k": "c2VjcmV0"} })
		}, check: hWantDetail(`member "jwk" must be a public key; it holds a private or symmetric key`)},
		{name: "jwk is a string", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			// Answered "the JWS cannot be parsed", naming no part.
			return s.newAcct(t, hNewKey(t, "p256"), `{}`, func(h map[string]any) { h["jwk"] = "ES256" })
		}, check: hWantDetail(`member "jwk" must be a JSON object, a public JWK`)},
		{name: "jwk is an EC key without coordinates", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.newAcct(t, hNewKey(t, "p256"), `{}`, func(h map[string]any) { h["jwk"] = map[string]string{"kty": "EC", "crv": "P-256"} })
		}, check: hWantDetail(`member "jwk" is not a valid JWK`)},

		// ---- key references (RFC 8555 §6.2) ----
		{name: "both jwk and kid", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { h["jwk"] = s.acct.jwkJSON(t) })
		}},
		{name: "neither jwk nor kid", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { delete(h, "kid") })
		}},
		{name: "kid on newAccount", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewAccount, []byte(`{}`), nil)
		}},
		{name: "jwk on newOrder", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { delete(h, "kid"); h["jwk"] = s.acct.jwkJSON(t) })
		}},
		{name: "kid of a nonexistent account", status: 400, ptype: acme.AccountDoesNotExist, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { h["kid"] = c.env.BaseURL + "/acme/account/AAAAAAAAAAAAAAAAAAAAAA" })
		}},
		{name: "kid on another host", status: 400, ptype: acme.AccountDoesNotExist, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) {
				h["kid"] = strings.Replace(s.kid, c.env.BaseURL, "https://evil.example", 1)
			})
		}},
		{name: "kid with another path prefix", status: 400, ptype: acme.AccountDoesNotExist, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) {
				h["kid"] = strings.Replace(s.kid, "/acme/account/", "/acme/acct/", 1)
			})
		}},
		{name: "kid of a deactivated account", status: http.StatusUnauthorized, ptype: unauthorized, send: func(t *testing.T, s *hState) *hResp {
			u := c.dir.NewOrder
			return c.post(t, u, hBuild(t, s.dead, c.hdr(t, s.dead, s.deadKid, u), []byte(validOrder)).bytes(t))
		}},
		{
			// RFC 8555 §7.3.6: once deactivated, the server MUST NOT accept
			// requests authorized by the account's key, newAccount included.
			name: "newAccount with a deactivated account's key", status: http.StatusUnauthorized, ptype: unauthorized,
			send: func(t *testing.T, s *hState) *hResp { return s.newAcct(t, s.dead, `{"onlyReturnExisting":true}`, nil) },
		},
		{name: "POST to another account's URL", status: hUnauthorizedStatus, ptype: unauthorized, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, s.otherKid, nil, nil)
		}},

		// ---- url (RFC 8555 §6.4) ----
		{name: "url missing", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { delete(h, "url") })
		}},
		{name: "url of another endpoint", status: hUnauthorizedStatus, ptype: unauthorized, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { h["url"] = c.dir.RevokeCert })
		}},
		// Header parameter names are case-sensitive (RFC 7515 §4, as
		// go-jose, which checks the signature, reads them): "URL" is an
		// unknown parameter, ignored, not the "url" of the request (it
		// was read as the url, and "Nonce" as the nonce).
		{name: "case-variant \"URL\" header alone", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { h["URL"] = h["url"]; delete(h, "url") })
		}},
		{name: "case-variant \"Nonce\" header is no nonce", status: 400, ptype: badNonce, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { h["Nonce"] = h["nonce"]; delete(h, "nonce") })
		}},
		{name: "url on another host", status: hUnauthorizedStatus, ptype: unauthorized, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) {
				h["url"] = strings.Replace(c.dir.NewOrder, c.env.BaseURL, "https://evil.example", 1)
			})
		}},

		// ---- nonces (RFC 8555 §6.5) ----
		{name: "nonce missing", status: 400, ptype: badNonce, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { delete(h, "nonce") })
		}},
		{name: "nonce unknown", status: 400, ptype: badNonce, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { h["nonce"] = "bm90LWlzc3VlZC1ieS11cw" })
		}},
		// A nonce that is not base64url (RFC 7515 §2: no padding, line
		// breaks, white space or other characters) is malformed, not
		// badNonce (RFC 8555 §6.5.2).
		{name: "nonce with characters outside base64url", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { h["nonce"] = "!!!!" })
		}},
		{name: "nonce with padding", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { h["nonce"] = "abc=" })
		}},
		{name: "nonce with a space", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { h["nonce"] = "a b" })
		}},
		{name: "nonce of a length no octet string encodes to", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { h["nonce"] = "abcde" })
		}},
		{name: "issued nonce with a line break", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { n := h["nonce"].(string); h["nonce"] = n[:10] + "\n" + n[10:] })
		}},
		{name: "issued nonce with a trailing CR LF", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) { h["nonce"] = h["nonce"].(string) + "\r\n" })
		}},
		{name: "issued nonce with the last character's unused bits set", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, []byte(validOrder), func(h map[string]any) {
				const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
				n := h["nonce"].(string)
				h["nonce"] = n[:len(n)-1] + string(alphabet[strings.IndexByte(alphabet, n[len(n)-1])+1])
			})
		}},
		{name: "nonce replayed after a successful request", status: 400, ptype: badNonce, send: func(t *testing.T, s *hState) *hResp {
			n := c.nonce(t)
			if r := c.post(t, s.kid, hBuild(t, s.acct, map[string]any{"nonce": n, "url": s.kid, "kid": s.kid}, nil).bytes(t)); r.status != 200 {
				t.Fatalf("first use of the nonce: status %d: %s", r.status, r.body)
			}
			return c.post(t, s.kid, hBuild(t, s.acct, map[string]any{"nonce": n, "url": s.kid, "kid": s.kid}, nil).bytes(t))
		}},
		{name: "nonce consumed by a request that failed its signature check", status: 400, ptype: badNonce, send: func(t *testing.T, s *hState) *hResp {
			n := c.nonce(t)
			j := hBuild(t, s.acct, map[string]any{"nonce": n, "url": s.kid, "kid": s.kid}, nil)
			bad := j
			bad.Signature = hB64(make([]byte, 64))
			if r := c.post(t, s.kid, bad.bytes(t)); r.status != 400 || r.problem == nil || r.problem.Type != malformed {
				t.Fatalf("bad-signature request: status %d: %s", r.status, r.body)
			}
			return c.post(t, s.kid, j.bytes(t))
		}},

		// ---- signature ----
		{name: "payload tampered after signing", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.sendMap(t, c.dir.NewOrder, []byte(validOrder), func(m map[string]any) {
				m["payload"] = hB64([]byte(`{"identifiers":[{"type":"dns","value":"evil.hostile.test"}]}`))
			})
		}},
		{name: "signed by a key other than the kid account's", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			u := c.dir.NewOrder
			return c.post(t, u, hBuild(t, s.other, c.hdr(t, s.other, s.kid, u), []byte(validOrder)).bytes(t))
		}},

		// ---- media type and size (RFC 8555 §6.2) ----
		{name: "Content-Type missing", status: 415, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return hDo(t, c.env.HTTPClient, http.MethodPost, c.dir.NewOrder, "", s.req(t, c.dir.NewOrder, []byte(validOrder), nil).bytes(t))
		}},
		{name: "Content-Type text/plain", status: 415, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return hDo(t, c.env.HTTPClient, http.MethodPost, c.dir.NewOrder, "text/plain", s.req(t, c.dir.NewOrder, []byte(validOrder), nil).bytes(t))
		}},
		{name: "Content-Type application/json", status: 415, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return hDo(t, c.env.HTTPClient, http.MethodPost, c.dir.NewOrder, "application/json", s.req(t, c.dir.NewOrder, []byte(validOrder), nil).bytes(t))
		}},
		{name: "Content-Type with charset parameter is accepted", status: 201, send: func(t *testing.T, s *hState) *hResp {
			return hDo(t, c.env.HTTPClient, http.MethodPost, c.dir.NewOrder, "application/jose+json; charset=utf-8", s.req(t, c.dir.NewOrder, []byte(validOrder), nil).bytes(t))
		}},
		{name: "Content-Type in mixed case is accepted", status: 201, send: func(t *testing.T, s *hState) *hResp {
			return hDo(t, c.env.HTTPClient, http.MethodPost, c.dir.NewOrder, "Application/JOSE+JSON", s.req(t, c.dir.NewOrder, []byte(validOrder), nil).bytes(t))
		}},
		{name: "body over 256 KiB", status: 413, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			big := `{"identifiers":[{"type":"dns","value":"ok.hostile.test"}],"pad":"` + strings.Repeat("x", 300<<10) + `"}`
			return s.send(t, c.dir.NewOrder, []byte(big), nil)
		}},

		// ---- methods and paths (RFC 8555 §6.3) ----
		{name: "GET on newOrder", status: 405, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return hDo(t, c.env.HTTPClient, http.MethodGet, c.dir.NewOrder, "", nil)
		}, check: func(t *testing.T, s *hState, r *hResp) {
			if !strings.Contains(r.header.Get("Allow"), "POST") {
				t.Errorf("405 without Allow: POST (RFC 9110 §15.5.6): %q", r.header.Get("Allow"))
			}
		}},
		{name: "GET on an order (POST-as-GET only)", status: 405, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return hDo(t, c.env.HTTPClient, http.MethodGet, s.pendingURL, "", nil)
		}},
		{name: "POST to an unknown /acme/ path", status: 404, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			u := c.env.BaseURL + "/acme/no-such-thing"
			return s.send(t, u, nil, nil)
		}},
		{name: "GET an unknown /acme/ path", status: 404, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return hDo(t, c.env.HTTPClient, http.MethodGet, c.env.BaseURL+"/acme/no-such-thing", "", nil)
		}},
		{name: "POST to an unknown order sub-resource", status: 404, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, s.pendingURL+"/cancel", nil, nil)
		}},

		// ---- newOrder payloads (RFC 8555 §7.4, RFC 8738) ----
		{name: "newOrder with empty identifiers", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.order(t, `{"identifiers":[]}`)
		}},
		{name: "newOrder without identifiers", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.order(t, `{}`)
		}},
		{name: "newOrder with identifier type email", status: 400, ptype: acme.UnsupportedIdentifier, check: hWantIdentifier("a@hostile.test"),
			send: func(t *testing.T, s *hState) *hResp {
				return s.order(t, `{"identifiers":[{"type":"email","value":"a@hostile.test"}]}`)
			}},
		{name: "dns name with leading hyphen", status: 400, ptype: rejected, check: hWantIdentifier("-bad.example"),
			send: func(t *testing.T, s *hState) *hResp { return s.orderDNS(t, "-bad.example") }},
		{name: "dns name with empty label", status: 400, ptype: rejected, check: hWantIdentifier("a..b"),
			send: func(t *testing.T, s *hState) *hResp { return s.orderDNS(t, "a..b") }},
		{name: "dns name with a space", status: 400, ptype: rejected, check: hWantIdentifier("exa mple.test"),
			send: func(t *testing.T, s *hState) *hResp { return s.orderDNS(t, "exa mple.test") }},
		{name: "dns name with two wildcards", status: 400, ptype: rejected,
			send: func(t *testing.T, s *hState) *hResp { return s.orderDNS(t, "*.*.x.test") }},
		{name: "dns name with a wildcard not leftmost", status: 400, ptype: rejected,
			send: func(t *testing.T, s *hState) *hResp { return s.orderDNS(t, "foo.*.test") }},
		{name: "dns name with trailing dot", status: 400, ptype: rejected,
			send: func(t *testing.T, s *hState) *hResp { return s.orderDNS(t, "trailing.hostile.test.") }},
		{name: "dns name of 254 characters", status: 400, ptype: rejected,
			send: func(t *testing.T, s *hState) *hResp {
				n := hLongName(254)
				if len(n) != 254 {
					t.Fatalf("hLongName gave %d characters", len(n))
				}
				return s.orderDNS(t, n)
			}},
		{name: "IPv4 address as a dns identifier", status: 400, ptype: rejected,
			send: func(t *testing.T, s *hState) *hResp { return s.orderDNS(t, "127.0.0.1") }},
		{name: "two bad dns names give subproblems", status: 400, ptype: rejected,
			send: func(t *testing.T, s *hState) *hResp { return s.orderDNS(t, "ok.hostile.test", "-x.test", "y..test") },
			check: func(t *testing.T, s *hState, r *hResp) {
				if r.problem == nil || len(r.problem.Subproblems) != 2 {
					t.Errorf("want 2 subproblems (RFC 8555 §6.7.1): %s", r.body)
					return
				}
				for _, sp := range r.problem.Subproblems {
					if sp.Identifier == nil {
						t.Errorf("subproblem without identifier: %s", r.body)
					}
				}
			}},
		{name: "ip identifier 999.1.1.1", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.order(t, `{"identifiers":[{"type":"ip","value":"999.1.1.1"}]}`)
		}},
		{name: "ip identifier with zone fe80::1%eth0", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.order(t, `{"identifiers":[{"type":"ip","value":"fe80::1%eth0"}]}`)
		}},
		{name: "newOrder notAfter before notBefore", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.order(t, `{"identifiers":[{"type":"dns","value":"ok.hostile.test"}],"notBefore":"2030-01-02T00:00:00Z","notAfter":"2030-01-01T00:00:00Z"}`)
		}},
		{name: "newOrder notBefore not RFC 3339", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.order(t, `{"identifiers":[{"type":"dns","value":"ok.hostile.test"}],"notBefore":"tomorrow"}`)
		}},
		{name: "newOrder identifiers of the wrong JSON type", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.order(t, `{"identifiers":"x"}`)
		}},
		{name: "newOrder payload not JSON", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.order(t, `identifiers=ok.hostile.test`)
		}},
		// Payload member names are case-sensitive, as go-jose reads JSON
		// (encoding/json took "IDENTIFIERS" for "identifiers"), and a
		// repeated one is refused (encoding/json took the last).
		{name: "newOrder with \"IDENTIFIERS\" only", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.order(t, `{"IDENTIFIERS":[{"type":"dns","value":"ok.hostile.test"}]}`)
		}},
		{name: "newOrder with \"identifiers\" twice", status: 400, ptype: malformed, check: hWantDetail("duplicate key 'identifiers'"), send: func(t *testing.T, s *hState) *hResp {
			return s.order(t, `{"identifiers":[{"type":"dns","value":"ok.hostile.test"}],"identifiers":[{"type":"dns","value":"other.hostile.test"}]}`)
		}},
		{name: "newOrder identifier with an unknown \"Value\" member", status: 201, send: func(t *testing.T, s *hState) *hResp {
			return s.order(t, `{"identifiers":[{"type":"dns","value":"ok.hostile.test","Value":"-bad.hostile.test"}]}`)
		}},

		// ---- newAccount payloads (RFC 8555 §7.3) ----
		{name: "contact tel:", status: 400, ptype: acme.UnsupportedContact, send: func(t *testing.T, s *hState) *hResp {
			return s.newAcct(t, hNewKey(t, "p256"), `{"contact":["tel:+1"]}`, nil)
		}},
		{name: "contact mailto:a@b@c", status: 400, ptype: acme.InvalidContact, send: func(t *testing.T, s *hState) *hResp {
			return s.newAcct(t, hNewKey(t, "p256"), `{"contact":["mailto:a@b@c"]}`, nil)
		}},
		{name: "contact mailto with hfields", status: 400, ptype: acme.InvalidContact, send: func(t *testing.T, s *hState) *hResp {
			return s.newAcct(t, hNewKey(t, "p256"), `{"contact":["mailto:x@example.com?subject=hi"]}`, nil)
		}},
		{name: "contact mailto with two addresses", status: 400, ptype: acme.InvalidContact, send: func(t *testing.T, s *hState) *hResp {
			return s.newAcct(t, hNewKey(t, "p256"), `{"contact":["mailto:a@example.com,b@example.com"]}`, nil)
		}},
		{name: "account update with an invalid contact", status: 400, ptype: acme.InvalidContact, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, s.kid, []byte(`{"contact":["mailto:x@example.com?cc=y@example.com"]}`), nil)
		}},
		{name: "contact mailto percent-encoded", status: 400, ptype: acme.InvalidContact, send: func(t *testing.T, s *hState) *hResp {
			// "a%40b@example.com" is a@b@example.com (RFC 6068 §2); it was
			// stored undecoded.
			return s.send(t, s.kid, []byte(`{"contact":["mailto:a%40b@example.com"]}`), nil)
		}, check: hWantDetail("percent-encoded characters are not accepted")},
		{name: "contact mailto with a space", status: 400, ptype: acme.InvalidContact, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, s.kid, []byte(`{"contact":["mailto:\"a b\"@example.com"]}`), nil)
		}, check: hWantDetail("ASCII without spaces or control characters")},
		{name: "account update with a null payload", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			// null was read as {} and answered as an update.
			return s.send(t, s.kid, []byte(`null`), nil)
		}, check: hWantDetail("must be a JSON object, not null")},
		{name: "newOrder as POST-as-GET", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.NewOrder, nil, nil)
		}, check: hWantDetail("takes a JSON object payload, not an empty one (POST-as-GET)")},
		{name: "newOrder with a white-space payload", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			// Not a POST-as-GET (its payload is not ""), which it was
			// called.
			return s.send(t, c.dir.NewOrder, []byte(" \n"), nil)
		}, check: hWantDetail("it must be a JSON object, not white space")},
		{name: "account URL without an account ID", status: 404, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			// Answered "not signed by this account's key" (403) where
			// there is no resource, unlike /acme/order/.
			u := s.kid[:strings.LastIndex(s.kid, "/")+1]
			return s.send(t, u, nil, nil)
		}},
		{name: "account update to status revoked", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, s.kid, []byte(`{"status":"revoked"}`), nil)
		}},
		{name: "newOrder with 101 identifiers", status: 400, ptype: rejected, send: func(t *testing.T, s *hState) *hResp {
			var names []string
			for i := range 101 {
				names = append(names, fmt.Sprintf("n%d.hostile.test", i))
			}
			return s.orderDNS(t, names...)
		}},
		{name: "newOrder wildcard ip identifier", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.order(t, `{"identifiers":[{"type":"ip","value":"*.192.0.2.1"}]}`)
		}},
		{name: "newOrder invalid punycode", status: 400, ptype: rejected, check: hWantIdentifier("xn--zz.hostile.test"), send: func(t *testing.T, s *hState) *hResp {
			return s.orderDNS(t, "xn--zz.hostile.test")
		}},
		{name: "newOrder A-label of a control character", status: 400, ptype: rejected, check: hWantIdentifier("xn--a.hostile.test"), send: func(t *testing.T, s *hState) *hResp {
			return s.orderDNS(t, "xn--a.hostile.test") // U+0080: not a valid U-label (RFC 5891 §5.4)
		}},
		{name: "contact of the wrong JSON type", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.newAcct(t, hNewKey(t, "p256"), `{"contact":"mailto:x@example.com"}`, nil)
		}},
		{name: "newAccount with empty payload", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.newAcct(t, hNewKey(t, "p256"), ``, nil)
		}},

		// ---- finalize (RFC 8555 §7.4) ----
		{name: "finalize a pending order", status: 403, ptype: acme.OrderNotReady, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, s.pendingURL+"/finalize", hFinalizePayload(hCSR(t, hP256(t), "", "pending.hostile.test")), nil)
		}},
		{name: "CSR not base64url", status: 400, ptype: acme.BadCSR, send: func(t *testing.T, s *hState) *hResp {
			return s.finalize(t, []byte(`{"csr":"MIIB+/=="}`))
		}},
		{name: "CSR missing", status: 400, ptype: acme.BadCSR, send: func(t *testing.T, s *hState) *hResp {
			return s.finalize(t, []byte(`{}`))
		}},
		{name: "CSR garbage DER", status: 400, ptype: acme.BadCSR, send: func(t *testing.T, s *hState) *hResp {
			return s.finalizeCSR(t, []byte("\x30\x82\x01\x00 this is not a CSR"))
		}},
		{name: "CSR with a bad signature", status: 400, ptype: acme.BadCSR, send: func(t *testing.T, s *hState) *hResp {
			der := hCSR(t, hP256(t), "", hReadyNames...)
			der[len(der)-5] ^= 0xff // inside the signature BIT STRING
			return s.finalizeCSR(t, der)
		}},
		{name: "CSR with an extra name", status: 400, ptype: acme.BadCSR, send: func(t *testing.T, s *hState) *hResp {
			return s.finalizeCSR(t, hCSR(t, hP256(t), "", append(slices.Clone(hReadyNames), "c.hostile.test")...))
		}},
		{name: "CSR missing a name", status: 400, ptype: acme.BadCSR, send: func(t *testing.T, s *hState) *hResp {
			return s.finalizeCSR(t, hCSR(t, hP256(t), "", hReadyNames[0]))
		}},
		{name: "CSR CN not among the identifiers", status: 400, ptype: acme.BadCSR, send: func(t *testing.T, s *hState) *hResp {
			return s.finalizeCSR(t, hCSR(t, hP256(t), "c.hostile.test", hReadyNames...))
		}},
		{name: "CSR with an e-mail SAN", status: 400, ptype: acme.BadCSR, send: func(t *testing.T, s *hState) *hResp {
			tmpl := &x509.CertificateRequest{DNSNames: hReadyNames, EmailAddresses: []string{"a@hostile.test"}}
			der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, hP256(t))
			if err != nil {
				t.Fatal(err)
			}
			return s.finalizeCSR(t, der)
		}},
		{name: "CSR with an RSA 1024 key", status: 400, ptype: acme.BadCSR, send: func(t *testing.T, s *hState) *hResp {
			return s.finalizeCSR(t, hCSR(t, s.rsa1024.priv, "", hReadyNames...))
		}},
		{name: "CSR with a P-521 key", status: 400, ptype: acme.BadCSR, send: func(t *testing.T, s *hState) *hResp {
			return s.finalizeCSR(t, hCSR(t, s.p521.priv, "", hReadyNames...))
		}},
		{
			// RFC 8555 §11.1 forbids it; §6.7 defines badPublicKey for the
			// JWS key and badCSR for "the CSR is unacceptable": this CSR.
			name: "CSR with the account key", status: 400, ptype: acme.BadCSR, send: func(t *testing.T, s *hState) *hResp {
				return s.finalizeCSR(t, hCSR(t, s.acct.priv, "", hReadyNames...))
			},
		},
		{name: "finalize with an empty payload", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.finalize(t, nil)
		}},

		// ---- POST-as-GET and ownership (RFC 8555 §6.3, §7.4) ----
		{name: "order fetched with a non-empty payload", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, s.pendingURL, []byte(`{}`), nil)
		}},
		{name: "certificate fetched with a non-empty payload", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, s.certURL, []byte(`{}`), nil)
		}},
		{name: "another account's order", status: 404, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, s.otherOrderURL, nil, nil)
		}},
		{name: "finalize another account's order", status: 404, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, s.otherOrderURL+"/finalize", hFinalizePayload(hCSR(t, hP256(t), "", "other.hostile.test")), nil)
		}},
		{name: "another account's certificate", status: 404, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			u := s.certURL
			return c.post(t, u, hBuild(t, s.other, c.hdr(t, s.other, s.otherKid, u), nil).bytes(t))
		}},
		{name: "nonexistent order", status: 404, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.env.BaseURL+"/acme/order/AAAAAAAAAAAAAAAAAAAAAA", nil, nil)
		}},

		// ---- revokeCert (RFC 8555 §7.6) ----
		{name: "revoke the intermediate", status: 404, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			// Told "this server's CA did not issue that certificate",
			// naming this server's own root as its issuer.
			return s.send(t, c.dir.RevokeCert, []byte(`{"certificate":"`+hB64(s.interDER)+`"}`), nil)
		}, check: hWantDetail("is a CA certificate")},
		{name: "revoke a garbage certificate", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.RevokeCert, []byte(`{"certificate":"`+hB64([]byte("not a certificate"))+`"}`), nil)
		}},
		{name: "revoke with certificate not base64url", status: 400, ptype: malformed, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.RevokeCert, []byte(`{"certificate":"MII+/=="}`), nil)
		}},
		{name: "revoke with reason 7 (unassigned)", status: 400, ptype: acme.BadRevocationReason, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.RevokeCert, []byte(`{"certificate":"`+hB64(s.certDER)+`","reason":7}`), nil)
		}},
		{name: "revoke with reason 2 (cACompromise)", status: 400, ptype: acme.BadRevocationReason, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.RevokeCert, []byte(`{"certificate":"`+hB64(s.certDER)+`","reason":2}`), nil)
		}},
		{name: "revoke with reason 6 (certificateHold)", status: 400, ptype: acme.BadRevocationReason, send: func(t *testing.T, s *hState) *hResp {
			return s.send(t, c.dir.RevokeCert, []byte(`{"certificate":"`+hB64(s.certDER)+`","reason":6}`), nil)
		}},
		{name: "revoke by an account without authority", status: hUnauthorizedStatus, ptype: unauthorized, send: func(t *testing.T, s *hState) *hResp {
			u := c.dir.RevokeCert
			return c.post(t, u, hBuild(t, s.other, c.hdr(t, s.other, s.otherKid, u), []byte(`{"certificate":"`+hB64(s.certDER)+`"}`)).bytes(t))
		}},
		{name: "revoke signed by a jwk that is not the certificate's key", status: hUnauthorizedStatus, ptype: unauthorized, send: func(t *testing.T, s *hState) *hResp {
			k := hNewKey(t, "p256")
			u := c.dir.RevokeCert
			return c.post(t, u, hBuild(t, k, c.hdr(t, k, "", u), []byte(`{"certificate":"`+hB64(s.certDER)+`"}`)).bytes(t))
		}},
	}

	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			r := row.send(t, s)
			if r.status >= 500 {
				t.Fatalf("server error %d: %s", r.status, r.body)
			}
			if r.header.Get("Replay-Nonce") == "" {
				t.Errorf("no Replay-Nonce header (RFC 8555 §6.5)")
			}
			want := row
			if row.alt != nil && r.problem != nil && r.problem.Type == row.alt.ptype {
				want = *row.alt
			}
			if r.status != want.status {
				t.Errorf("status %d, want %d; body %s", r.status, want.status, r.body)
			}
			if want.ptype == "" {
				if r.problem != nil {
					t.Errorf("unexpected problem: %s", r.body)
				}
			} else {
				if r.mt != "application/problem+json" {
					t.Errorf("Content-Type %q, want application/problem+json; body %s", r.header.Get("Content-Type"), r.body)
				} else if r.problem.Type != want.ptype {
					t.Errorf("problem type %q, want %q; detail %q", r.problem.Type, want.ptype, r.problem.Detail)
				} else if r.problem.Status != 0 && r.problem.Status != r.status {
					t.Errorf("problem status %d differs from the HTTP status %d", r.problem.Status, r.status)
				}
			}
			if row.check != nil {
				row.check(t, s, r)
			}
		})
	}

	// The rows must not have moved the ready order on: every finalize
	// above was refused.
	var o acme.Order
	if err := json.Unmarshal(c.mustOK(t, http.StatusOK, s.acct, s.kid, s.readyURL, nil).body, &o); err != nil {
		t.Fatal(err)
	}
	if o.Status != acme.StatusReady {
		t.Errorf("ready order is %s after the hostile finalizes, want ready", o.Status)
	}
}
