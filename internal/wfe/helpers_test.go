package wfe_test

// Shared helpers for the in-process ACME client tests (client_test.go):
// x/crypto/acme clients, challenge fulfilment against the testenv
// responders, and a small raw JWS client (go-jose) for requests whose
// headers or status codes x/crypto/acme hides.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	cgacme "github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/certlint"
	"github.com/certgate/certgate/internal/testenv"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/acme"
)

// clTestCtx returns a context bounded well inside the suite's time budget.
func clTestCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func clEcKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func clRsaKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// clNewClient returns an x/crypto/acme client for key, not yet registered.
func clNewClient(env *testenv.Env, key crypto.Signer) *acme.Client {
	return &acme.Client{Key: key, DirectoryURL: env.DirectoryURL, HTTPClient: env.HTTPClient}
}

// clRegistered returns a client whose account (for key, or a fresh P-256
// key when key is nil) is registered.
func clRegistered(t testing.TB, env *testenv.Env, key crypto.Signer) (*acme.Client, *acme.Account) {
	t.Helper()
	if key == nil {
		key = clEcKey(t, elliptic.P256())
	}
	c := clNewClient(env, key)
	acct, err := c.Register(clTestCtx(t), &acme.Account{}, acme.AcceptTOS)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if acct.URI == "" || acct.Status != acme.StatusValid {
		t.Fatalf("register: got URI %q status %q", acct.URI, acct.Status)
	}
	return c, acct
}

// clReverseName is the reverse-DNS name of an IP (RFC 8738 §6), the SNI of
// a tls-alpn-01 validation of an IP identifier.
func clReverseName(t testing.TB, ipText string) string {
	t.Helper()
	ip := net.ParseIP(ipText)
	if ip == nil {
		t.Fatalf("bad IP %q", ipText)
	}
	if v4 := ip.To4(); v4 != nil {
		return fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa", v4[3], v4[2], v4[1], v4[0])
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := len(ip) - 1; i >= 0; i-- {
		b.WriteByte(hex[ip[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[ip[i]>>4])
		b.WriteByte('.')
	}
	b.WriteString("ip6.arpa")
	return b.String()
}

// clPrepareChallenge makes the testenv responders answer chal for the
// authorization's identifier.
func clPrepareChallenge(t testing.TB, env *testenv.Env, c *acme.Client, z *acme.Authorization, chal *acme.Challenge) {
	t.Helper()
	switch chal.Type {
	case "http-01":
		ka, err := c.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			t.Fatal(err)
		}
		env.SetHTTP01(chal.Token, ka)
	case "dns-01":
		rec, err := c.DNS01ChallengeRecord(chal.Token)
		if err != nil {
			t.Fatal(err)
		}
		env.DNS.SetTXT("_acme-challenge."+z.Identifier.Value, rec)
	case "tls-alpn-01":
		ka, err := c.HTTP01ChallengeResponse(chal.Token) // the key authorization
		if err != nil {
			t.Fatal(err)
		}
		sni := z.Identifier.Value
		if z.Identifier.Type == "ip" {
			sni = clReverseName(t, z.Identifier.Value)
		}
		env.SetTLSALPN01(t, sni, z.Identifier.Value, ka)
	default:
		t.Fatalf("unknown challenge type %q", chal.Type)
	}
}

func clChallengeTypes(z *acme.Authorization) []string {
	var out []string
	for _, ch := range z.Challenges {
		out = append(out, ch.Type)
	}
	slices.Sort(out)
	return out
}

func clFindChallenge(t testing.TB, z *acme.Authorization, typ string) *acme.Challenge {
	t.Helper()
	for _, ch := range z.Challenges {
		if ch.Type == typ {
			return ch
		}
	}
	t.Fatalf("authorization for %s offers %v, not %s", z.Identifier.Value, clChallengeTypes(z), typ)
	return nil
}

// clSolve completes the authorization at authzURL with challenge type typ
// and waits until it is valid.
func clSolve(t testing.TB, env *testenv.Env, c *acme.Client, authzURL, typ string) *acme.Authorization {
	t.Helper()
	ctx := clTestCtx(t)
	z, err := c.GetAuthorization(ctx, authzURL)
	if err != nil {
		t.Fatalf("get authorization: %v", err)
	}
	if z.Status == acme.StatusValid {
		return z
	}
	chal := clFindChallenge(t, z, typ)
	clPrepareChallenge(t, env, c, z, chal)
	if _, err := c.Accept(ctx, chal); err != nil {
		t.Fatalf("accept %s: %v", typ, err)
	}
	z, err = c.WaitAuthorization(ctx, authzURL)
	if err != nil {
		t.Fatalf("wait authorization (%s %s): %v", typ, authzURL, err)
	}
	return z
}

// clReadyOrder creates an order for ids and solves all its authorizations
// with typ; it returns the order once ready.
func clReadyOrder(t testing.TB, env *testenv.Env, c *acme.Client, ids []acme.AuthzID, typ string) *acme.Order {
	t.Helper()
	ctx := clTestCtx(t)
	o, err := c.AuthorizeOrder(ctx, ids)
	if err != nil {
		t.Fatalf("new order: %v", err)
	}
	for _, u := range o.AuthzURLs {
		clSolve(t, env, c, u, typ)
	}
	o, err = c.WaitOrder(ctx, o.URI)
	if err != nil {
		t.Fatalf("wait order: %v", err)
	}
	if o.Status != acme.StatusReady {
		t.Fatalf("order status %q, want ready", o.Status)
	}
	return o
}

// clCsrFor builds a CSR for the identifiers with a fresh P-256 key (or key).
func clCsrFor(t testing.TB, ids []acme.AuthzID, key crypto.Signer) ([]byte, crypto.Signer) {
	t.Helper()
	if key == nil {
		key = clEcKey(t, elliptic.P256())
	}
	tmpl := &x509.CertificateRequest{}
	for _, id := range ids {
		if id.Type == "ip" {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(id.Value))
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, id.Value)
		}
	}
	if len(tmpl.DNSNames) > 0 {
		tmpl.Subject = pkix.Name{CommonName: tmpl.DNSNames[0]}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

type clIssued struct {
	chain   [][]byte // leaf first
	leaf    *x509.Certificate
	certURL string
	order   *acme.Order
	key     crypto.Signer // certificate key
}

// clIssue runs a whole issuance for ids with challenge type typ.
func clIssue(t testing.TB, env *testenv.Env, c *acme.Client, ids []acme.AuthzID, typ string) *clIssued {
	t.Helper()
	o := clReadyOrder(t, env, c, ids, typ)
	csr, key := clCsrFor(t, ids, nil)
	chain, certURL, err := c.CreateOrderCert(clTestCtx(t), o.FinalizeURL, csr, true)
	if err != nil {
		t.Fatalf("finalize: %v", err)
	}
	if len(chain) < 2 {
		t.Fatalf("chain has %d certificates, want leaf + intermediate", len(chain))
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	return &clIssued{chain: chain, leaf: leaf, certURL: certURL, order: o, key: key}
}

// clCheckLeaf verifies the chain against env.Roots, the SANs exactly, and
// that the leaf passes certlint.
func clCheckLeaf(t testing.TB, env *testenv.Env, is *clIssued, dnsNames []string, ips []string) {
	t.Helper()
	inter := x509.NewCertPool()
	for _, der := range is.chain[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		inter.AddCert(c)
	}
	if _, err := is.leaf.Verify(x509.VerifyOptions{Roots: env.Roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("chain does not verify against the root: %v", err)
	}
	gotDNS := slices.Clone(is.leaf.DNSNames)
	slices.Sort(gotDNS)
	wantDNS := slices.Clone(dnsNames)
	slices.Sort(wantDNS)
	if !slices.Equal(gotDNS, wantDNS) {
		t.Errorf("leaf dNSName SANs = %q, want %q", gotDNS, wantDNS)
	}
	var gotIPs []string
	for _, ip := range is.leaf.IPAddresses {
		gotIPs = append(gotIPs, ip.String())
	}
	slices.Sort(gotIPs)
	wantIPs := slices.Clone(ips)
	slices.Sort(wantIPs)
	if !slices.Equal(gotIPs, wantIPs) {
		t.Errorf("leaf IP SANs = %q, want %q", gotIPs, wantIPs)
	}
	if !is.leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(is.key.Public()) {
		t.Error("leaf public key is not the CSR's key")
	}
	if err := certlint.Check(is.leaf.Raw); err != nil {
		t.Errorf("certlint: %v", err)
	}
}

// clAsACMEError returns err as *acme.Error or fails the test.
func clAsACMEError(t testing.TB, err error) *acme.Error {
	t.Helper()
	if err == nil {
		t.Fatal("expected an ACME error, got success")
	}
	var ae *acme.Error
	if !errors.As(err, &ae) {
		t.Fatalf("expected *acme.Error, got %T: %v", err, err)
	}
	return ae
}

func clWantACMEError(t testing.TB, err error, status int, typ cgacme.ProblemType) *acme.Error {
	t.Helper()
	ae := clAsACMEError(t, err)
	if ae.StatusCode != status || ae.ProblemType != string(typ) {
		t.Errorf("got %d %s (%s), want %d %s", ae.StatusCode, ae.ProblemType, ae.Detail, status, typ)
	}
	return ae
}

// ---- raw JWS client (go-jose) ----

type clDirectory struct {
	NewNonce   string `json:"newNonce"`
	NewAccount string `json:"newAccount"`
	NewOrder   string `json:"newOrder"`
	RevokeCert string `json:"revokeCert"`
	KeyChange  string `json:"keyChange"`
}

func clGetDirectory(t testing.TB, env *testenv.Env) clDirectory {
	t.Helper()
	res, err := env.HTTPClient.Get(env.DirectoryURL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var d clDirectory
	if err := json.NewDecoder(res.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	return d
}

// clRawClient signs requests itself with go-jose, so any key type the
// server allows can be used and every response header is visible.
type clRawClient struct {
	t   testing.TB
	env *testenv.Env
	dir clDirectory
	key crypto.Signer
	alg jose.SignatureAlgorithm
	kid string // account URL once known; "" signs with an embedded jwk
}

func clNewRawClient(t testing.TB, env *testenv.Env, key crypto.Signer) *clRawClient {
	t.Helper()
	return &clRawClient{t: t, env: env, dir: clGetDirectory(t, env), key: key, alg: clAlgFor(t, key.Public())}
}

func clAlgFor(t testing.TB, pub crypto.PublicKey) jose.SignatureAlgorithm {
	t.Helper()
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return jose.RS256
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return jose.ES256
		case elliptic.P384():
			return jose.ES384
		case elliptic.P521():
			return jose.ES512
		}
	case ed25519.PublicKey:
		return jose.EdDSA
	}
	t.Fatalf("no JWS algorithm for %T", pub)
	return ""
}

// thumbprint is the RFC 7638 thumbprint of the client's key, base64url.
func (c *clRawClient) thumbprint() string {
	jwk := jose.JSONWebKey{Key: c.key.Public()}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		c.t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

func (c *clRawClient) keyAuth(token string) string { return token + "." + c.thumbprint() }

// nonce fetches a fresh nonce with HEAD newNonce.
func (c *clRawClient) nonce() string {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodHead, c.dir.NewNonce, nil)
	res, err := c.env.HTTPClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	res.Body.Close()
	n := res.Header.Get("Replay-Nonce")
	if n == "" {
		c.t.Fatal("newNonce: no Replay-Nonce")
	}
	return n
}

// clSignJWS signs payload for url with the given nonce. jwk embeds the
// public key instead of kid.
func clSignJWS(t testing.TB, key crypto.Signer, alg jose.SignatureAlgorithm, kid, nonce, url string, payload []byte) []byte {
	t.Helper()
	hdr := map[jose.HeaderKey]any{"url": url}
	if nonce != "" {
		hdr["nonce"] = nonce
	}
	opts := &jose.SignerOptions{ExtraHeaders: hdr, EmbedJWK: kid == ""}
	if kid != "" {
		hdr["kid"] = kid
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(jws.FullSerialize())
}

type clRawResponse struct {
	status int
	header http.Header
	body   []byte
}

func (r *clRawResponse) problem() cgacme.Problem {
	var p cgacme.Problem
	_ = json.Unmarshal(r.body, &p)
	return p
}

func (r *clRawResponse) String() string {
	return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body))
}

// links returns the URLs of the Link headers with relation rel.
func (r *clRawResponse) links(rel string) []string {
	var out []string
	for _, v := range r.header.Values("Link") {
		for _, l := range strings.Split(v, ",") {
			parts := strings.Split(l, ";")
			u := strings.TrimSpace(parts[0])
			if !strings.HasPrefix(u, "<") || !strings.HasSuffix(u, ">") {
				continue
			}
			for _, p := range parts[1:] {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && strings.Trim(val, `"`) == rel {
					out = append(out, u[1:len(u)-1])
				}
			}
		}
	}
	return out
}

// clPostRaw sends body to url as application/jose+json.
func clPostRaw(t testing.TB, env *testenv.Env, url string, body []byte) *clRawResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/jose+json")
	res, err := env.HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &clRawResponse{status: res.StatusCode, header: res.Header, body: b}
}

// clPayloadBytes: nil is POST-as-GET (empty payload), []byte is sent as is,
// anything else is JSON-encoded.
func clPayloadBytes(t testing.TB, payload any) []byte {
	t.Helper()
	switch p := payload.(type) {
	case nil:
		return []byte{}
	case []byte:
		return p
	default:
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// postWithNonce signs and posts payload with an explicit nonce.
func (c *clRawClient) postWithNonce(url string, payload any, nonce string) *clRawResponse {
	c.t.Helper()
	return clPostRaw(c.t, c.env, url, clSignJWS(c.t, c.key, c.alg, c.kid, nonce, url, clPayloadBytes(c.t, payload)))
}

// post signs and posts payload with a fresh nonce.
func (c *clRawClient) post(url string, payload any) *clRawResponse {
	c.t.Helper()
	return c.postWithNonce(url, payload, c.nonce())
}

// decode unmarshals a JSON response body into v, failing on a bad status.
func (c *clRawClient) decode(r *clRawResponse, wantStatus int, v any) {
	c.t.Helper()
	if r.status != wantStatus {
		c.t.Fatalf("got %s, want status %d", r, wantStatus)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			c.t.Fatalf("decode %s: %v", r.body, err)
		}
	}
}

// register creates (or finds) the account and switches to kid signing.
func (c *clRawClient) register() *clRawResponse {
	c.t.Helper()
	r := c.post(c.dir.NewAccount, map[string]any{"termsOfServiceAgreed": true})
	if r.status != http.StatusCreated && r.status != http.StatusOK {
		c.t.Fatalf("newAccount: %s", r)
	}
	c.kid = r.header.Get("Location")
	if c.kid == "" {
		c.t.Fatal("newAccount: no Location")
	}
	return r
}

// waitStatus polls url (POST-as-GET) until the object's status is not in
// busy, and returns the final object body.
func (c *clRawClient) waitStatus(url string, busy ...string) *clRawResponse {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := c.post(url, nil)
		var obj struct {
			Status string `json:"status"`
		}
		c.decode(r, http.StatusOK, &obj)
		if !slices.Contains(busy, obj.Status) {
			return r
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s still %s", url, obj.Status)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
