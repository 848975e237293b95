package ocspresponder

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/cputime"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

const path = "/pki/ocsp"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is a built-in CA, a SQLite store with certificates it issued and
// a responder over both, served by an httptest server.
type fixture struct {
	ca    *local.CA
	st    *store.Store
	clk   *clock
	resp  *Responder
	srv   *httptest.Server
	n     int
	certs map[string]*x509.Certificate
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	ca, err := local.LoadOrCreate(t.TempDir(), local.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.OpenSQLite(t)
	if err := st.CreateAccount(context.Background(), &store.Account{ID: "acct", KeyThumbprint: "tp", JWK: []byte("{}"), Status: acme.StatusValid, CreatedAt: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	cfg.Path, cfg.Now = path, clk.Now
	if cfg.IssuerName == "" {
		cfg.IssuerName = "local"
	}
	r, err := New(cfg, &local.Issuer{CA: ca}, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &fixture{ca: ca, st: st, clk: clk, resp: r, srv: srv, certs: map[string]*x509.Certificate{}}
}

// issue signs a leaf with the CA and records it under issuer name iss.
func (f *fixture) issue(t testing.TB, iss string) *x509.Certificate {
	t.Helper()
	f.n++
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := local.RandomSerial()
	if err != nil {
		t.Fatal(err)
	}
	now := f.clk.Now()
	der, err := f.ca.SignLeaf(context.Background(), local.LeafRequest{Serial: serial, PublicKey: key.Public(), DNSNames: []string{"a.example.test"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(90 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	id := serial.Text(16)
	fp := sha256.Sum256(der)
	az := &store.Authorization{ID: "az" + id, AccountID: "acct", Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "a.example.test"},
		Status: acme.StatusValid, Expires: now.Add(time.Hour), CreatedAt: now}
	o := &store.Order{ID: "o" + id, AccountID: "acct", Status: acme.StatusValid, Expires: now.Add(time.Hour), Identifiers: []acme.Identifier{az.Identifier},
		AuthzIDs: []string{az.ID}, CertSerial: id, CreatedAt: now, UpdatedAt: now}
	c := &store.Certificate{Serial: id, Issuer: iss, OrderID: o.ID, AccountID: "acct", DER: der, ChainPEM: string(f.ca.ChainPEM(der)),
		SANs: []string{"a.example.test"}, KeyType: "ECDSA P-256", FingerprintSHA256: hex.EncodeToString(fp[:]),
		NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, Status: acme.StatusValid, CreatedAt: now}
	if err := f.st.InsertIssued(context.Background(), []store.IssuedRecord{{Order: o, Authz: az, Cert: c}}); err != nil {
		t.Fatal(err)
	}
	return cert
}

func request(t testing.TB, cert, iss *x509.Certificate, h crypto.Hash) []byte {
	t.Helper()
	der, err := ocsp.CreateRequest(cert, iss, &ocsp.RequestOptions{Hash: h})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func (f *fixture) post(t *testing.T, body []byte) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(f.srv.URL+path, "application/ocsp-request", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (f *fixture) get(t *testing.T, rawPath string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(f.srv.URL + rawPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// parse checks the HTTP envelope and the signature (by the intermediate)
// and returns the single response about cert.
func (f *fixture) parse(t *testing.T, resp *http.Response, body []byte, cert *x509.Certificate) *ocsp.Response {
	t.Helper()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ContentType {
		t.Fatalf("HTTP %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	r, err := ocsp.ParseResponseForCert(body, cert, f.ca.Intermediate())
	if err != nil {
		t.Fatalf("parse OCSP response: %v", err)
	}
	if r.SerialNumber.Cmp(cert.SerialNumber) != 0 {
		t.Fatalf("response about serial %x, asked %x", r.SerialNumber, cert.SerialNumber)
	}
	if r.Certificate != nil {
		t.Fatalf("response embeds a certificate (%s); the intermediate signs directly", r.Certificate.Subject)
	}
	if !bytes.Equal(r.RawResponderName, f.ca.Intermediate().RawSubject) {
		t.Fatal("responderID is not the intermediate's name")
	}
	return r
}

func wantError(t *testing.T, resp *http.Response, body []byte, want ocsp.ResponseStatus) {
	t.Helper()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ContentType {
		t.Fatalf("HTTP %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	_, err := ocsp.ParseResponse(body, nil)
	var re ocsp.ResponseError
	if !errors.As(err, &re) || re.Status != want {
		t.Fatalf("response error = %v, want OCSP status %s", err, want)
	}
}

func TestGoodThenRevoked(t *testing.T) {
	f := newFixture(t, Config{Refresh: time.Minute, Validity: 24 * time.Hour})
	cert := f.issue(t, "local")
	inter := f.ca.Intermediate()

	resp, body := f.post(t, request(t, cert, inter, crypto.SHA1))
	r := f.parse(t, resp, body, cert)
	if r.Status != ocsp.Good {
		t.Fatalf("status %d, want good", r.Status)
	}
	now := f.clk.Now()
	if r.ThisUpdate.After(now) || now.Sub(r.ThisUpdate) > 2*time.Minute {
		t.Fatalf("thisUpdate %v, now %v", r.ThisUpdate, now)
	}
	if got := r.NextUpdate.Sub(r.ThisUpdate); got != 24*time.Hour {
		t.Fatalf("nextUpdate − thisUpdate = %v, want 24h", got)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("POST response Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
	}

	// Revoked directly in the database (as another node or an admin
	// command would): the cached "good" is served until Refresh passes.
	at := f.clk.Now().Add(-5 * time.Second)
	if err := f.st.RevokeCertificate(context.Background(), cert.SerialNumber.Text(16), 1, at); err != nil {
		t.Fatal(err)
	}
	f.clk.Add(59 * time.Second)
	if r := f.ask(t, cert, crypto.SHA1); r.Status != ocsp.Good {
		t.Fatalf("within the refresh interval the cached response changed: status %d", r.Status)
	}
	f.clk.Add(time.Second)
	r = f.ask(t, cert, crypto.SHA1)
	if r.Status != ocsp.Revoked || r.RevocationReason != ocsp.KeyCompromise || !r.RevokedAt.Equal(at.Truncate(time.Second)) {
		t.Fatalf("after the refresh interval: status %d reason %d at %v, want revoked (1) at %v", r.Status, r.RevocationReason, r.RevokedAt, at)
	}
	if r.ThisUpdate.Before(r.RevokedAt) {
		t.Fatalf("thisUpdate %v before the revocation time %v", r.ThisUpdate, r.RevokedAt)
	}
}

// ask POSTs a request about cert (CertID hash h) and returns the parsed
// response.
func (f *fixture) ask(t *testing.T, cert *x509.Certificate, h crypto.Hash) *ocsp.Response {
	t.Helper()
	resp, body := f.post(t, request(t, cert, f.ca.Intermediate(), h))
	return f.parse(t, resp, body, cert)
}

// TestInvalidate: a revocation through this process (Invalidate) shows at
// once, for every CertID hash.
func TestInvalidate(t *testing.T) {
	f := newFixture(t, Config{Refresh: time.Hour})
	cert := f.issue(t, "local")

	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		if r := f.ask(t, cert, h); r.Status != ocsp.Good {
			t.Fatalf("%v: status %d", h, r.Status)
		}
	}
	if err := f.st.RevokeCertificate(context.Background(), cert.SerialNumber.Text(16), 4, f.clk.Now()); err != nil {
		t.Fatal(err)
	}
	f.resp.Invalidate(cert.SerialNumber.Text(16))
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		r := f.ask(t, cert, h)
		if r.Status != ocsp.Revoked || r.RevocationReason != ocsp.Superseded {
			t.Fatalf("%v after Invalidate: status %d reason %d, want revoked/superseded", h, r.Status, r.RevocationReason)
		}
		if !r.ThisUpdate.Equal(r.RevokedAt) {
			t.Fatalf("revoked just now: thisUpdate %v, want the revocation time %v", r.ThisUpdate, r.RevokedAt)
		}
	}
}

// TestStaleFillDropped: a response signed from a status read before an
// Invalidate is served to its request but not cached.
func TestStaleFillDropped(t *testing.T) {
	f := newFixture(t, Config{})
	k := cacheKey{0, "ab", crypto.SHA1}
	f.resp.mu.Lock()
	gen := f.resp.gen
	f.resp.mu.Unlock()
	f.resp.Invalidate("ab")
	f.resp.put(k, &entry{until: f.clk.Now().Add(time.Hour)}, gen, f.clk.Now())
	if _, ok := f.resp.cache[k]; ok {
		t.Fatal("a fill that began before Invalidate was cached")
	}
}

func TestGET(t *testing.T) {
	f := newFixture(t, Config{Refresh: 90 * time.Second})
	cert := f.issue(t, "local")
	der := request(t, cert, f.ca.Intermediate(), crypto.SHA256)
	b64 := base64.StdEncoding.EncodeToString(der)
	for name, p := range map[string]string{
		"percent-encoded": path + "/" + url.PathEscape(b64),
		"query-escaped":   path + "/" + url.QueryEscape(b64),
		"unpadded":        path + "/" + url.PathEscape(strings.TrimRight(b64, "=")),
		"url-alphabet":    path + "/" + base64.RawURLEncoding.EncodeToString(der),
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := f.get(t, p)
			if r := f.parse(t, resp, body, cert); r.Status != ocsp.Good {
				t.Fatalf("status %d", r.Status)
			}
			if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "max-age=") || !strings.Contains(cc, "public") {
				t.Fatalf("Cache-Control %q", cc)
			}
			if resp.Header.Get("Last-Modified") == "" {
				t.Fatal("no Last-Modified")
			}
		})
	}
	// Unescaped "/" and "+" inside the base64 (as some clients send it)
	// are neither path separators nor cleaned away.
	for {
		n, err := local.RandomSerial()
		if err != nil {
			t.Fatal(err)
		}
		c := &x509.Certificate{SerialNumber: n}
		b64 := base64.StdEncoding.EncodeToString(request(t, c, f.ca.Intermediate(), crypto.SHA1))
		if !strings.Contains(b64, "//") || !strings.Contains(b64, "+") {
			continue
		}
		resp, body := f.get(t, path+"/"+b64)
		wantError(t, resp, body, ocsp.Unauthorized) // decoded, and never issued
		break
	}
}

// countingSigner counts the OCSP responses its CA signs.
type countingSigner struct {
	*local.Issuer
	n atomic.Int32
}

func (c *countingSigner) SignOCSP(tmpl ocsp.Response) ([]byte, error) {
	c.n.Add(1)
	return c.Issuer.SignOCSP(tmpl)
}

// TestUnissuedSerialUnauthorized: a request about a serial this CA never
// issued, or about a record of another issuer, gets the fixed unsigned
// "unauthorized" response (RFC 6960 §2.3), by POST and by GET, and no
// signature: requests with random serials cost no signing. The former
// code signed an "unknown" response for each such request and cached
// none, so every request cost a signature.
func TestUnissuedSerialUnauthorized(t *testing.T) {
	f := newFixture(t, Config{})
	signer := &countingSigner{Issuer: &local.Issuer{CA: f.ca}}
	r, err := New(Config{Path: path, IssuerName: "local", Now: f.clk.Now}, signer, f.st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	f.srv = srv

	issued := f.issue(t, "local")
	imported := f.issue(t, "imported") // same CA, but not recorded as this issuer's
	never := *issued
	never.SerialNumber = new(big.Int).Add(issued.SerialNumber, big.NewInt(1))
	for name, c := range map[string]*x509.Certificate{"never issued": &never, "other issuer's record": imported} {
		for range 3 {
			der := request(t, c, f.ca.Intermediate(), crypto.SHA1)
			resp, body := f.post(t, der)
			t.Run(name+" POST", func(t *testing.T) { wantError(t, resp, body, ocsp.Unauthorized) })
			resp, body = f.get(t, path+"/"+url.PathEscape(base64.StdEncoding.EncodeToString(der)))
			t.Run(name+" GET", func(t *testing.T) { wantError(t, resp, body, ocsp.Unauthorized) })
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("%s: Cache-Control %q, want no-store", name, cc)
			}
		}
	}
	if n := signer.n.Load(); n != 0 {
		t.Errorf("%d responses signed for serials without a certificate of this issuer, want none", n)
	}
	if len(r.cache) != 0 {
		t.Errorf("unauthorized answers were cached: %d entries", len(r.cache))
	}
	if got := f.ask(t, issued, crypto.SHA1); got.Status != ocsp.Good {
		t.Errorf("issued certificate: status %d, want good", got.Status)
	}
}

func TestUnauthorized(t *testing.T) {
	f := newFixture(t, Config{})
	cert := f.issue(t, "local")
	other, err := local.LoadOrCreate(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The same serial, asked of another issuer; and the intermediate's own
	// status, asked with the root as issuer.
	for name, iss := range map[string]*x509.Certificate{"another CA": other.Intermediate(), "the root": f.ca.Root()} {
		resp, body := f.post(t, request(t, cert, iss, crypto.SHA1))
		t.Run(name, func(t *testing.T) { wantError(t, resp, body, ocsp.Unauthorized) })
	}
}

func TestMalformed(t *testing.T) {
	f := newFixture(t, Config{})
	cert := f.issue(t, "local")
	good := request(t, cert, f.ca.Intermediate(), crypto.SHA1)

	// Two CertIDs in one request.
	var req struct {
		TBSRequest struct {
			RequestList []asn1.RawValue
		}
	}
	if _, err := asn1.Unmarshal(good, &req); err != nil {
		t.Fatal(err)
	}
	req.TBSRequest.RequestList = append(req.TBSRequest.RequestList, req.TBSRequest.RequestList[0])
	two, err := asn1.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	// A request whose optionalSignature (RFC 6960 §4.1.1) is not a
	// Signature.
	var signed struct {
		TBSRequest asn1.RawValue
		Signature  asn1.RawValue
	}
	var unsigned struct{ TBSRequest asn1.RawValue }
	if _, err := asn1.Unmarshal(good, &unsigned); err != nil {
		t.Fatal(err)
	}
	signed.TBSRequest = unsigned.TBSRequest
	signed.Signature = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: []byte{0x30, 0x03, 0x02, 0x01, 0x00}}
	signedDER, err := asn1.Marshal(signed)
	if err != nil {
		t.Fatal(err)
	}
	// An unsupported CertID hash (MD5's OID).
	md5 := bytes.Replace(good, []byte{0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a}, []byte{0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1b}, 1)
	if bytes.Equal(md5, good) {
		t.Fatal("SHA-1 OID not found in the request")
	}
	for name, body := range map[string][]byte{
		"garbage":           []byte("not an OCSP request"),
		"empty":             nil,
		"truncated":         good[:len(good)-3],
		"trailing data":     append(append([]byte{}, good...), 0),
		"two certificates":  two,
		"bad signature":     signedDER,
		"unknown hash":      md5,
		"over the size cap": bytes.Repeat([]byte{0x30}, maxRequestBytes+1),
	} {
		t.Run("POST "+name, func(t *testing.T) {
			resp, b := f.post(t, body)
			wantError(t, resp, b, ocsp.Malformed)
		})
	}
	for name, p := range map[string]string{
		"no request": path + "/",
		"not base64": path + "/@@@",
		"not DER":    path + "/" + base64.StdEncoding.EncodeToString([]byte("hello")),
	} {
		t.Run("GET "+name, func(t *testing.T) {
			resp, b := f.get(t, p)
			wantError(t, resp, b, ocsp.Malformed)
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	f := newFixture(t, Config{})
	req, _ := http.NewRequest(http.MethodPut, f.srv.URL+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD, POST" {
		t.Fatalf("PUT: %s, Allow %q", resp.Status, resp.Header.Get("Allow"))
	}
}

// TestCacheBound: the cache never holds more than MaxEntries responses,
// and answers stay right after eviction.
func TestCacheBound(t *testing.T) {
	f := newFixture(t, Config{MaxEntries: 4})

	var certs []*x509.Certificate
	for range 10 {
		c := f.issue(t, "local")
		certs = append(certs, c)
		if r := f.ask(t, c, crypto.SHA1); r.Status != ocsp.Good {
			t.Fatalf("status %d", r.Status)
		}
		if n := len(f.resp.cache); n > 4 {
			t.Fatalf("cache holds %d entries, bound 4", n)
		}
	}
	for _, c := range certs {
		if r := f.ask(t, c, crypto.SHA1); r.Status != ocsp.Good {
			t.Fatalf("status %d after eviction", r.Status)
		}
	}
}

func TestNewRejectsBadPath(t *testing.T) {
	ca, err := local.LoadOrCreate(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", "pki/ocsp", "/pki/ocsp/"} {
		if _, err := New(Config{Path: p}, &local.Issuer{CA: ca}, nil, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("New accepted path %q", p)
		}
	}
}

// BenchmarkRespond measures one OCSP answer without HTTP: "cached" serves
// a response signed earlier, "signed" reads the certificate from SQLite
// and signs anew (the cache dropped before each request, as after a
// revocation or once revocation-refresh has passed).
func BenchmarkRespond(b *testing.B) {
	f := newFixture(b, Config{Refresh: time.Hour})
	cert := f.issue(b, "local")
	der := request(b, cert, f.ca.Intermediate(), crypto.SHA1)
	ctx := context.Background()
	serial := cert.SerialNumber.Text(16)
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := f.resp.respond(ctx, der); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("signed", func(b *testing.B) {
		for b.Loop() {
			f.resp.Invalidate(serial)
			if _, _, err := f.resp.respond(ctx, der); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRespondUnknownSerial measures one answer about a serial this CA
// never issued, a new one each request (what a client sending random
// serials makes the responder do): a read of the certificates table that
// finds nothing, and whatever the answer costs beyond it.
func BenchmarkRespondUnknownSerial(b *testing.B) {
	f := newFixture(b, Config{Refresh: time.Hour})
	cert := f.issue(b, "local")
	ctx := context.Background()
	tmpl := *cert
	n := new(big.Int).Lsh(big.NewInt(1), 100)
	start := cputime.Process()
	for b.Loop() {
		n.Add(n, big.NewInt(1))
		tmpl.SerialNumber = n
		der := request(b, &tmpl, f.ca.Intermediate(), crypto.SHA1)
		var ue unauthorizedError
		if _, _, err := f.resp.respond(ctx, der); err != nil && !errors.As(err, &ue) {
			b.Fatal(err)
		}
	}
	cputime.ReportPerOp(b, start)
}

// TestGETCacheHeaders: a GET response carries the RFC 5019 §6.2 caching
// headers, all consistent with this node's reuse of the response:
// max-age ends when the node stops serving it (it shrinks as the cached
// response ages), Expires is the response's nextUpdate (RFC 5019 §6.2; the
// former code sent the end of the node's reuse), Last-Modified is its
// thisUpdate, and the
// ETag is the hex SHA-1 of the response; If-None-Match is answered 304
// without a body while the node serves the same response, and 200 with a
// new one after it. The former code sent neither Expires nor ETag and
// answered conditional requests in full.
func TestGETCacheHeaders(t *testing.T) {
	f := newFixture(t, Config{Refresh: time.Minute})
	cert := f.issue(t, "local")
	p := path + "/" + url.PathEscape(base64.StdEncoding.EncodeToString(request(t, cert, f.ca.Intermediate(), crypto.SHA1)))
	resp, body := f.get(t, p)
	r := f.parse(t, resp, body, cert)
	sum := sha1.Sum(body)
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	if got := resp.Header.Get("ETag"); got != etag {
		t.Errorf("ETag %q, want the hex SHA-1 of the response %s", got, etag)
	}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err != nil || !lm.Equal(r.ThisUpdate) {
		t.Errorf("Last-Modified %q, want thisUpdate %v", resp.Header.Get("Last-Modified"), r.ThisUpdate)
	}
	if exp, err := http.ParseTime(resp.Header.Get("Expires")); err != nil || !exp.Equal(r.NextUpdate) {
		t.Errorf("Expires %q, want the response's nextUpdate %v (RFC 5019 §6.2)", resp.Header.Get("Expires"), r.NextUpdate)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "max-age=60, public, no-transform, must-revalidate" {
		t.Errorf("Cache-Control %q", cc)
	}

	f.clk.Add(45 * time.Second)
	cond := func(name, value string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+p, nil)
		req.Header.Set(name, value)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusNotModified && len(b) != 0 {
			t.Errorf("%s: 304 with a %d-byte body", name, len(b))
		}
		return res
	}
	res := cond("If-None-Match", etag)
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match within the reuse: %s, want 304", res.Status)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "max-age=15, public, no-transform, must-revalidate" {
		t.Errorf("304 45 s later: Cache-Control %q, want max-age=15", cc)
	}
	// If-Modified-Since alone is answered in full (see
	// TestGETIfModifiedSinceSameSecond).
	if res := cond("If-Modified-Since", resp.Header.Get("Last-Modified")); res.StatusCode != http.StatusOK {
		t.Errorf("If-Modified-Since: %s, want 200", res.Status)
	}
	f.clk.Add(16 * time.Second)
	if res := cond("If-None-Match", etag); res.StatusCode != http.StatusOK || res.Header.Get("ETag") == etag {
		t.Errorf("If-None-Match once the response was signed anew: %s, ETag %q; want 200 and a new ETag", res.Status, res.Header.Get("ETag"))
	}
	// POST responses are not for caches.
	post, _ := f.post(t, request(t, cert, f.ca.Intermediate(), crypto.SHA1))
	if post.Header.Get("ETag") != "" || post.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("POST: ETag %q, Cache-Control %q; want none, no-store", post.Header.Get("ETag"), post.Header.Get("Cache-Control"))
	}
}

// TestGETIfModifiedSinceSameSecond: two different responses signed in the
// same second have the same thisUpdate (Last-Modified), here a "good" and,
// after a revocation dated earlier (by a process whose clock is behind),
// the "revoked" that replaces it: If-Modified-Since with the first one's
// Last-Modified is answered with the second in full, not with a 304 that
// would have the client keep "good".
func TestGETIfModifiedSinceSameSecond(t *testing.T) {
	f := newFixture(t, Config{Refresh: time.Minute})
	cert := f.issue(t, "local")
	p := path + "/" + url.PathEscape(base64.StdEncoding.EncodeToString(request(t, cert, f.ca.Intermediate(), crypto.SHA1)))
	resp, body := f.get(t, p)
	if r := f.parse(t, resp, body, cert); r.Status != ocsp.Good {
		t.Fatalf("status %d, want good", r.Status)
	}
	serial := cert.SerialNumber.Text(16)
	if err := f.st.RevokeCertificate(context.Background(), serial, 4, f.clk.Now().Add(-90*time.Second)); err != nil {
		t.Fatal(err)
	}
	f.resp.Invalidate(serial)
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+p, nil)
	req.Header.Set("If-Modified-Since", resp.Header.Get("Last-Modified"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("If-Modified-Since after the revocation: %s, want 200 with the revoked response", res.Status)
	}
	if r := f.parse(t, res, b, cert); r.Status != ocsp.Revoked {
		t.Fatalf("status %d, want revoked", r.Status)
	}
}

// TestMalformedWrapsCause: a request refused as malformed is errMalformed
// and also wraps the parser's error that made it so (encoding/asn1's for
// bytes that are not DER of an OCSPRequest).
func TestMalformedWrapsCause(t *testing.T) {
	f := newFixture(t, Config{})
	_, _, err := f.resp.respond(context.Background(), []byte("not an OCSP request"))
	var st asn1.StructuralError
	if !errors.Is(err, errMalformed) || !errors.As(err, &st) {
		t.Errorf("respond(garbage): %v (%T), want errMalformed wrapping asn1.StructuralError", err, err)
	}
}

// TestProducedAtIsSigningTime: producedAt is the responder's clock at
// signing, to the second (RFC 6960 §4.2.2.1), so a certificate revoked
// earlier in the same minute is never reported by a response "produced"
// before its revocation time and its thisUpdate (x/crypto/ocsp stamps
// time.Now truncated to the minute).
func TestProducedAtIsSigningTime(t *testing.T) {
	f := newFixture(t, Config{Refresh: time.Minute, Validity: 24 * time.Hour})
	// 40 seconds into a minute, the revocation 10 seconds ago.
	now := f.clk.Now()
	f.clk.Add(now.Truncate(time.Minute).Add(time.Minute + 40*time.Second).Sub(now))
	cert := f.issue(t, "local")
	at := f.clk.Now().Add(-10 * time.Second)
	if err := f.st.RevokeCertificate(context.Background(), cert.SerialNumber.Text(16), 4, at); err != nil {
		t.Fatal(err)
	}
	r := f.ask(t, cert, crypto.SHA256)
	if r.Status != ocsp.Revoked || !r.RevokedAt.Equal(at) || !r.ThisUpdate.Equal(at) {
		t.Fatalf("status %d revoked at %v thisUpdate %v, want revoked at %v", r.Status, r.RevokedAt, r.ThisUpdate, at)
	}
	if !r.ProducedAt.Equal(f.clk.Now()) {
		t.Fatalf("producedAt %v, want the signing time %v (thisUpdate %v, revoked %v)", r.ProducedAt, f.clk.Now(), r.ThisUpdate, r.RevokedAt)
	}
}

// TestSignedRequestAnswered: a signed request (optionalSignature with a
// requestorName, RFC 6960 §4.1.1, as `openssl ocsp -signer` sends) is a
// well-formed request: it is answered like the same request unsigned, the
// signature ignored (RFC 5019 §2.1.2: responders MAY ignore it), not
// refused as malformedRequest.
func TestSignedRequestAnswered(t *testing.T) {
	f := newFixture(t, Config{})
	cert := f.issue(t, "local")
	var unsigned struct {
		TBSRequest struct {
			Version       int           `asn1:"explicit,tag:0,default:0,optional"`
			RequestorName asn1.RawValue `asn1:"explicit,tag:1,optional"`
			RequestList   []asn1.RawValue
		}
	}
	if _, err := asn1.Unmarshal(request(t, cert, f.ca.Intermediate(), crypto.SHA256), &unsigned); err != nil {
		t.Fatal(err)
	}
	// requestorName [1] EXPLICIT GeneralName: directoryName [4].
	name, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: cert.RawSubject})
	if err != nil {
		t.Fatal(err)
	}
	unsigned.TBSRequest.RequestorName = asn1.RawValue{FullBytes: append([]byte{0xa1, byte(len(name))}, name...)}
	tbs, err := asn1.Marshal(unsigned.TBSRequest)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := f.post(t, signedRequest(t, tbs))
	if r := f.parse(t, resp, body, cert); r.Status != ocsp.Good || r.IssuerHash != crypto.SHA256 {
		t.Fatalf("signed request: status %d, CertID hash %v; want good, SHA-256", r.Status, r.IssuerHash)
	}
}

// TestRequestorNameAnswered: an unsigned request carrying the optional
// requestorName (RFC 6960 §4.1.1: [1] EXPLICIT GeneralName) is answered
// like the same request without it, whatever the GeneralName's choice, by
// POST and by GET, and so is a signed one naming a dNSName; the former
// code stripped the name only from signed requests, and x/crypto/ocsp,
// which reads it as a Name, refused the others as malformedRequest.
func TestRequestorNameAnswered(t *testing.T) {
	f := newFixture(t, Config{})
	cert := f.issue(t, "local")
	var plain struct {
		TBSRequest struct {
			Version     int `asn1:"explicit,tag:0,default:0,optional"`
			RequestList []asn1.RawValue
		}
	}
	if _, err := asn1.Unmarshal(request(t, cert, f.ca.Intermediate(), crypto.SHA256), &plain); err != nil {
		t.Fatal(err)
	}
	// withName builds the request's TBSRequest with requestorName [1]
	// EXPLICIT wrapping the GeneralName gn, and the OCSPRequest around it,
	// signed when sign is set.
	withName := func(gn asn1.RawValue, sign bool) []byte {
		t.Helper()
		gnDER, err := asn1.Marshal(gn)
		if err != nil {
			t.Fatal(err)
		}
		tbs, err := asn1.Marshal(struct {
			RequestorName asn1.RawValue
			RequestList   []asn1.RawValue
		}{asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, IsCompound: true, Bytes: gnDER}, plain.TBSRequest.RequestList})
		if err != nil {
			t.Fatal(err)
		}
		if !sign {
			der, err := asn1.Marshal(struct{ TBSRequest asn1.RawValue }{asn1.RawValue{FullBytes: tbs}})
			if err != nil {
				t.Fatal(err)
			}
			return der
		}
		return signedRequest(t, tbs)
	}
	dirName, err := asn1.Marshal(pkix.Name{CommonName: "x"}.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		gn   asn1.RawValue
		sign bool
	}{
		// GeneralName choices (RFC 5280 §4.2.1.6): directoryName [4]
		// EXPLICIT Name, dNSName [2] IA5String, rfc822Name [1] IA5String.
		{"directoryName", asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: dirName}, false},
		{"dNSName", asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("client.example.test")}, false},
		{"rfc822Name", asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, Bytes: []byte("ops@example.test")}, false},
		{"signed dNSName", asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("client.example.test")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			der := withName(tc.gn, tc.sign)
			resp, body := f.post(t, der)
			if r := f.parse(t, resp, body, cert); r.Status != ocsp.Good || r.IssuerHash != crypto.SHA256 {
				t.Fatalf("POST: status %d, CertID hash %v; want good, SHA-256", r.Status, r.IssuerHash)
			}
			resp, body = f.get(t, path+"/"+url.PathEscape(base64.StdEncoding.EncodeToString(der)))
			if r := f.parse(t, resp, body, cert); r.Status != ocsp.Good {
				t.Fatalf("GET: status %d; want good", r.Status)
			}
		})
	}
}

// TestGETLastModifiedNotAfterDate: a certificate revoked by a node whose
// clock runs ahead gets a response whose thisUpdate is that revocation
// time, later than this node's clock. Its Last-Modified is then the
// response's Date (RFC 9110 §8.8.2.1: never later than Date), and Date is
// this node's clock; max-age stays within nextUpdate. The former code
// sent the thisUpdate as Last-Modified, in the future of the Date.
func TestGETLastModifiedNotAfterDate(t *testing.T) {
	f := newFixture(t, Config{Refresh: time.Minute})
	cert := f.issue(t, "local")
	now := f.clk.Now()
	at := now.Add(2 * time.Hour)
	if err := f.st.RevokeCertificate(context.Background(), cert.SerialNumber.Text(16), 1, at); err != nil {
		t.Fatal(err)
	}
	p := path + "/" + url.PathEscape(base64.StdEncoding.EncodeToString(request(t, cert, f.ca.Intermediate(), crypto.SHA1)))
	resp, body := f.get(t, p)
	r := f.parse(t, resp, body, cert)
	if r.Status != ocsp.Revoked || !r.ThisUpdate.After(now) {
		t.Fatalf("status %d, thisUpdate %v: want revoked with a thisUpdate after the clock %v", r.Status, r.ThisUpdate, now)
	}
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil || !date.Equal(now) {
		t.Fatalf("Date %q, want the node's clock %v", resp.Header.Get("Date"), now)
	}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err != nil || lm.After(date) {
		t.Errorf("Last-Modified %q is after Date %q (thisUpdate %v)", resp.Header.Get("Last-Modified"), resp.Header.Get("Date"), r.ThisUpdate)
	}
	if exp, err := http.ParseTime(resp.Header.Get("Expires")); err != nil || !exp.Equal(r.NextUpdate) {
		t.Errorf("Expires %q, want nextUpdate %v", resp.Header.Get("Expires"), r.NextUpdate)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "max-age=60, public, no-transform, must-revalidate" {
		t.Errorf("Cache-Control %q, want max-age=60", cc)
	}
}

// signedRequest is the OCSPRequest of the DER TBSRequest tbs with an
// optionalSignature (RFC 6960 §4.1.1) by a throwaway ECDSA P-256 key
// (ecdsa-with-SHA256), without certificates.
func signedRequest(t *testing.T, tbs []byte) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(tbs)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	type signature struct {
		SignatureAlgorithm pkix.AlgorithmIdentifier
		Signature          asn1.BitString
	}
	der, err := asn1.Marshal(struct {
		TBSRequest asn1.RawValue
		Signature  signature `asn1:"explicit,tag:0"`
	}{asn1.RawValue{FullBytes: tbs}, signature{pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}},
		asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}}})
	if err != nil {
		t.Fatal(err)
	}
	return der
}
