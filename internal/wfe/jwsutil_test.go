package wfe_test

// Helpers for hostile_test.go: hand-built JWS requests and raw HTTP
// exchanges with the in-process server. Every identifier is prefixed with
// "h" so it cannot clash with the other test helpers of this package.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	_ "crypto/sha512" // registers SHA-384/512 for ES384/ES512
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/testenv"
	jose "github.com/go-jose/go-jose/v4"
)

const hJOSE = "application/jose+json"

var hB64 = base64.RawURLEncoding.EncodeToString

// hKey is a test key pair with its default JWS algorithm and public JWK.
type hKey struct {
	priv crypto.Signer
	alg  string
	jwk  jose.JSONWebKey // public
}

func hNewKey(t testing.TB, kind string) *hKey {
	t.Helper()
	var priv crypto.Signer
	var alg string
	var err error
	switch kind {
	case "p256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		alg = "ES256"
	case "p521":
		priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		alg = "ES512"
	case "rsa2048":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
		alg = "RS256"
	case "rsa1024":
		priv, err = rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // deliberately weak
		alg = "RS256"
	default:
		t.Fatalf("hNewKey: unknown kind %q", kind)
	}
	if err != nil {
		t.Fatalf("hNewKey(%s): %v", kind, err)
	}
	return &hKey{priv: priv, alg: alg, jwk: jose.JSONWebKey{Key: priv.Public(), Algorithm: alg}}
}

// thumbprint is the RFC 7638 thumbprint of the key, base64url.
func (k *hKey) thumbprint(t testing.TB) string {
	t.Helper()
	tp, err := k.jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return hB64(tp)
}

// jwkJSON returns the public JWK as a JSON value for a protected header.
func (k *hKey) jwkJSON(t testing.TB) json.RawMessage {
	t.Helper()
	b, err := k.jwk.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hRawSign signs input with k under alg, producing the JWS signature bytes
// (RFC 7518 §3). Unsupported combinations yield random bytes, which the
// server must reject before it ever verifies them.
func hRawSign(t testing.TB, k *hKey, alg string, input []byte) []byte {
	t.Helper()
	hashOf := func(h crypto.Hash) []byte {
		hh := h.New()
		hh.Write(input)
		return hh.Sum(nil)
	}
	switch alg {
	case "none":
		return nil
	case "HS256":
		m := hmac.New(sha256.New, []byte("a shared secret nobody agreed on"))
		m.Write(input)
		return m.Sum(nil)
	case "RS256":
		if rk, ok := k.priv.(*rsa.PrivateKey); ok {
			s, err := rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA256, hashOf(crypto.SHA256))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	case "PS256":
		if rk, ok := k.priv.(*rsa.PrivateKey); ok {
			s, err := rsa.SignPSS(rand.Reader, rk, crypto.SHA256, hashOf(crypto.SHA256), nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	case "ES256", "ES384", "ES512":
		if ek, ok := k.priv.(*ecdsa.PrivateKey); ok {
			h := map[string]crypto.Hash{"ES256": crypto.SHA256, "ES384": crypto.SHA384, "ES512": crypto.SHA512}[alg]
			r, s, err := ecdsa.Sign(rand.Reader, ek, hashOf(h))
			if err != nil {
				t.Fatal(err)
			}
			n := (ek.Curve.Params().BitSize + 7) / 8
			out := make([]byte, 2*n)
			r.FillBytes(out[:n])
			s.FillBytes(out[n:])
			return out
		}
	}
	junk := make([]byte, 64)
	rand.Read(junk)
	return junk
}

// hJWS is a flattened JWS being put together; fields are the encoded
// strings as they go on the wire so tests can corrupt any of them.
type hJWS struct {
	Protected string `json:"protected"`
	Payload   string `json:"payload"`
	Signature string `json:"signature"`
}

// hBuild signs header (a protected header; "alg" defaults to k.alg) and
// payload with k. A nil payload is the empty POST-as-GET payload.
func hBuild(t testing.TB, k *hKey, header map[string]any, payload []byte) hJWS {
	t.Helper()
	if _, ok := header["alg"]; !ok {
		header["alg"] = k.alg
	}
	hb, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	j := hJWS{Protected: hB64(hb), Payload: hB64(payload)}
	alg, _ := header["alg"].(string)
	j.Signature = hB64(hRawSign(t, k, alg, []byte(j.Protected+"."+j.Payload)))
	return j
}

func (j hJWS) bytes(t testing.TB) []byte {
	t.Helper()
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hMap turns a flattened JWS into a map for adding/removing members.
func (j hJWS) hMap() map[string]any {
	return map[string]any{"protected": j.Protected, "payload": j.Payload, "signature": j.Signature}
}

func hJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hJoseSign signs payload with go-jose: "jwk" embedded when kid is "",
// nonce and url as extra protected headers. opts may add more.
func hJoseSign(t testing.TB, k *hKey, alg, kid, nonce, url string, payload []byte, more func(*jose.SignerOptions)) []byte {
	t.Helper()
	if alg == "" {
		alg = k.alg
	}
	opts := &jose.SignerOptions{EmbedJWK: kid == "", ExtraHeaders: map[jose.HeaderKey]any{"nonce": nonce, "url": url}}
	if more != nil {
		more(opts)
	}
	sk := jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jose.JSONWebKey{Key: k.priv, KeyID: kid}}
	if kid == "" {
		sk.Key = k.priv
	}
	signer, err := jose.NewSigner(sk, opts)
	if err != nil {
		t.Fatalf("go-jose signer: %v", err)
	}
	if payload == nil {
		payload = []byte{}
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatalf("go-jose sign: %v", err)
	}
	return []byte(obj.FullSerialize())
}

// hResp is a response read in full, with its problem document if any.
type hResp struct {
	status  int
	header  http.Header
	body    []byte
	problem *acme.Problem
	mt      string // media type of Content-Type, without parameters
}

func hDo(t testing.TB, c *http.Client, method, url, ctype string, body []byte) *hResp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	r := &hResp{status: resp.StatusCode, header: resp.Header, body: b}
	r.mt, _, _ = mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if r.mt == "application/problem+json" {
		r.problem = new(acme.Problem)
		if err := json.Unmarshal(b, r.problem); err != nil {
			t.Fatalf("%s %s: problem document is not JSON: %v: %q", method, url, err, b)
		}
	}
	return r
}

// hClient is an ACME client of the test server that builds requests by
// hand, so each can be bent out of shape.
type hClient struct {
	env *testenv.Env
	dir acme.Directory
}

func hNewClient(t testing.TB, env *testenv.Env) *hClient {
	t.Helper()
	c := &hClient{env: env}
	r := hDo(t, env.HTTPClient, http.MethodGet, env.DirectoryURL, "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("directory: status %d: %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &c.dir); err != nil {
		t.Fatalf("directory: %v", err)
	}
	return c
}

// nonce fetches a fresh nonce with HEAD newNonce.
func (c *hClient) nonce(t testing.TB) string {
	t.Helper()
	resp, err := c.env.HTTPClient.Head(c.dir.NewNonce)
	if err != nil {
		t.Fatalf("newNonce: %v", err)
	}
	resp.Body.Close()
	n := resp.Header.Get("Replay-Nonce")
	if n == "" {
		t.Fatal("newNonce: no Replay-Nonce")
	}
	return n
}

// hdr returns a complete protected header for k: fresh nonce, url, and
// "kid" when kid != "" or else "jwk".
func (c *hClient) hdr(t testing.TB, k *hKey, kid, url string) map[string]any {
	t.Helper()
	h := map[string]any{"alg": k.alg, "nonce": c.nonce(t), "url": url}
	if kid != "" {
		h["kid"] = kid
	} else {
		h["jwk"] = k.jwkJSON(t)
	}
	return h
}

// post sends body as application/jose+json.
func (c *hClient) post(t testing.TB, url string, body []byte) *hResp {
	t.Helper()
	return hDo(t, c.env.HTTPClient, http.MethodPost, url, hJOSE, body)
}

// signed sends a well-formed request (go-jose, fresh nonce) signed by k.
func (c *hClient) signed(t testing.TB, k *hKey, kid, url string, payload []byte) *hResp {
	t.Helper()
	return c.post(t, url, hJoseSign(t, k, "", kid, c.nonce(t), url, payload, nil))
}

// mustOK is signed, failing the test unless the status is want.
func (c *hClient) mustOK(t testing.TB, want int, k *hKey, kid, url string, payload []byte) *hResp {
	t.Helper()
	r := c.signed(t, k, kid, url, payload)
	if r.status != want {
		t.Fatalf("POST %s: status %d, want %d: %s", url, r.status, want, r.body)
	}
	return r
}

// newAccount registers k and returns its account URL.
func (c *hClient) newAccount(t testing.TB, k *hKey) string {
	t.Helper()
	r := c.mustOK(t, http.StatusCreated, k, "", c.dir.NewAccount, []byte(`{"termsOfServiceAgreed":true}`))
	loc := r.header.Get("Location")
	if loc == "" {
		t.Fatal("newAccount: no Location")
	}
	return loc
}

// newOrder creates an order for dns names and returns its URL and object.
func (c *hClient) newOrder(t testing.TB, k *hKey, kid string, names ...string) (string, acme.Order) {
	t.Helper()
	var ids []acme.Identifier
	for _, n := range names {
		ids = append(ids, acme.Identifier{Type: acme.IdentifierDNS, Value: n})
	}
	r := c.mustOK(t, http.StatusCreated, k, kid, c.dir.NewOrder, hJSON(t, acme.NewOrderRequest{Identifiers: ids}))
	var o acme.Order
	if err := json.Unmarshal(r.body, &o); err != nil {
		t.Fatal(err)
	}
	return r.header.Get("Location"), o
}

// authorize answers the http-01 challenge of every pending authorization
// of order o and waits until the order is ready.
func (c *hClient) authorize(t testing.TB, k *hKey, kid, orderURL string, o acme.Order) acme.Order {
	t.Helper()
	for _, az := range o.Authorizations {
		var a acme.Authorization
		if err := json.Unmarshal(c.mustOK(t, http.StatusOK, k, kid, az, nil).body, &a); err != nil {
			t.Fatal(err)
		}
		if a.Status == acme.StatusValid {
			continue
		}
		var ch *acme.Challenge
		for i := range a.Challenges {
			if a.Challenges[i].Type == acme.ChallengeHTTP01 {
				ch = &a.Challenges[i]
			}
		}
		if ch == nil {
			t.Fatalf("authorization %s has no http-01 challenge", az)
		}
		c.env.SetHTTP01(ch.Token, ch.Token+"."+k.thumbprint(t))
		c.mustOK(t, http.StatusOK, k, kid, ch.URL, []byte(`{}`))
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var cur acme.Order
		if err := json.Unmarshal(c.mustOK(t, http.StatusOK, k, kid, orderURL, nil).body, &cur); err != nil {
			t.Fatal(err)
		}
		switch cur.Status {
		case acme.StatusReady:
			return cur
		case acme.StatusPending:
		default:
			t.Fatalf("order %s became %s: %+v", orderURL, cur.Status, cur.Error)
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s not ready in time", orderURL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hCSR returns a DER CSR for names (SANs) and cn signed by key.
func hCSR(t testing.TB, key crypto.Signer, cn string, names ...string) []byte {
	t.Helper()
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: names}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// hFinalizePayload is the finalize payload for a DER CSR.
func hFinalizePayload(der []byte) []byte {
	return []byte(`{"csr":"` + hB64(der) + `"}`)
}

// hLongName returns a syntactically valid-looking DNS name of exactly n
// characters (labels of at most 63).
func hLongName(n int) string {
	var labels []string
	for n > 1 {
		l := min(n, 63)
		labels = append(labels, strings.Repeat("a", l))
		n -= l
		if n > 0 {
			n-- // the dot
		}
	}
	return strings.Join(labels, ".")
}
