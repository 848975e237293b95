package wfe_test

// Benchmarks of the JWS verification path (issue 3). The front end is built
// from its exported pieces exactly as internal/server wires it (SQLite store
// in b.TempDir(), built-in CA, RA, wfe.New) and driven through ServeHTTP
// with httptest requests, so every iteration runs what a real request runs
// after TLS and HTTP parsing: media type and body checks, the JWS shape
// checks, nonce redemption, go-jose parsing and ES256 verification, the
// account lookup (kid) or key checks (jwk), the thumbprint, the handler and
// its JSON response, and the Replay-Nonce of the response. Requests are
// signed (with fresh nonces from HEAD new-nonce) before the timer runs.
//
//	go test -run '^$' -bench JWS -benchmem ./internal/wfe/

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/metrics"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/wfe"
	jose "github.com/go-jose/go-jose/v4"
)

const benchBase = "https://localhost"

// benchChunk bounds how many requests are signed ahead at once: every
// request (and every response) takes a nonce from the bounded nonce store.
const benchChunk = 16384

// benchEnv is an in-process front end with one registered ES256 account.
type benchEnv struct {
	h    http.Handler
	st   *store.Store
	ca   *local.CA
	key  *ecdsa.PrivateKey
	kid  string // account URL
	acct string // account path
}

// benchNewEnv builds the front end as internal/server does. acctCacheTTL is
// set on wfe.Config's AccountCacheTTL when the field exists (it mirrors the
// server's setting); ok is false when it does not exist but was asked for.
func benchNewEnv(b testing.TB, acctCacheTTL time.Duration, maxNonces int) (*benchEnv, bool) {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "certgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	pki := "http://localhost:8443"
	ca, err := local.LoadOrCreate(filepath.Join(dir, "ca"), local.Options{LintBeforeSign: true,
		IssuerURL: pki + wfe.IntermediatePath, CRLURL: pki + wfe.CRLPath})
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	iss := &local.Issuer{CA: ca, IssuerURL: pki + wfe.IntermediatePath, CRLURL: pki + wfe.CRLPath}
	r := ra.New(ra.Config{CertValidity: 90 * 24 * time.Hour}, st, nil, iss, nil, log)
	b.Cleanup(func() { r.Shutdown(context.Background()) })
	// Metrics on, as internal/server wires them: every request is counted
	// and its latency observed.
	cfg := wfe.Config{IntermediateDER: ca.Intermediate().Raw, RootPEM: ca.RootPEM(), MaxNonces: maxNonces, Metrics: metrics.New(log)}
	if acctCacheTTL != 0 {
		// Set by name so that this file keeps compiling whatever becomes
		// of the field (it was being added when this was written).
		f := reflect.ValueOf(&cfg).Elem().FieldByName("AccountCacheTTL")
		if !f.IsValid() || f.Type() != reflect.TypeFor[time.Duration]() {
			return nil, false
		}
		f.Set(reflect.ValueOf(acctCacheTTL))
	}
	e := &benchEnv{h: wfe.New(cfg, r, st, log), st: st, ca: ca}
	if e.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		b.Fatal(err)
	}
	rec := e.serve(benchSign(b, e.key, "", e.nonces(b, 1)[0], benchBase+"/acme/new-account", []byte(`{"termsOfServiceAgreed":true}`)),
		"/acme/new-account")
	if rec.Code != http.StatusCreated {
		b.Fatalf("newAccount: %d %s", rec.Code, rec.Body)
	}
	e.kid = rec.Header().Get("Location")
	e.acct = e.kid[len(benchBase):]
	return e, true
}

// nonces fetches n fresh nonces with HEAD new-nonce.
func (e *benchEnv) nonces(b testing.TB, n int) []string {
	b.Helper()
	out := make([]string, n)
	for i := range out {
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, benchBase+"/acme/new-nonce", nil))
		if out[i] = rec.Header().Get("Replay-Nonce"); out[i] == "" {
			b.Fatal("new-nonce: no Replay-Nonce")
		}
	}
	return out
}

func benchRequest(body []byte, path string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, benchBase+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/jose+json")
	return req
}

func (e *benchEnv) serve(body []byte, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, benchRequest(body, path))
	return rec
}

// benchSign signs payload as an ACME client does with go-jose: ES256, "kid"
// when kid is set, else the public key embedded as "jwk".
func benchSign(b testing.TB, key *ecdsa.PrivateKey, kid, nonce, url string, payload []byte) []byte {
	b.Helper()
	opts := &jose.SignerOptions{EmbedJWK: kid == "", ExtraHeaders: map[jose.HeaderKey]any{"nonce": nonce, "url": url}}
	var sk jose.SigningKey
	if kid == "" {
		sk = jose.SigningKey{Algorithm: jose.ES256, Key: key}
	} else {
		sk = jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}
	}
	signer, err := jose.NewSigner(sk, opts)
	if err != nil {
		b.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		b.Fatal(err)
	}
	return []byte(obj.FullSerialize())
}

// benchCase is one kind of signed request.
type benchCase struct {
	name    string
	path    func(e *benchEnv) string
	kid     bool
	payload []byte
	want    int
}

var benchCases = []benchCase{
	// POST-as-GET of the account, signed with kid: the verify path of every
	// authorization/order poll and certificate download, plus a small
	// rendered response.
	{name: "kid-postasget", path: func(e *benchEnv) string { return e.acct }, kid: true, payload: []byte{}, want: http.StatusOK},
	// newAccount with the key of the existing account, signed with jwk:
	// key checks on the embedded JWK, thumbprint, lookup by thumbprint.
	{name: "jwk-newaccount", path: func(*benchEnv) string { return "/acme/new-account" },
		payload: []byte(`{"termsOfServiceAgreed":true}`), want: http.StatusOK},
}

// bodies signs n requests of c with fresh nonces.
func (e *benchEnv) bodies(b *testing.B, c benchCase, n int) [][]byte {
	b.Helper()
	path := c.path(e)
	kid := ""
	if c.kid {
		kid = e.kid
	}
	out := make([][]byte, n)
	for i, nonce := range e.nonces(b, n) {
		out[i] = benchSign(b, e.key, kid, nonce, benchBase+path, c.payload)
	}
	return out
}

// BenchmarkJWSVerify serves signed POSTs through the front end's handler.
// acctcache=off looks the kid account up in SQLite on every request (the
// front end without an account cache); acctcache=5s is the server's setting
// when wfe.Config has AccountCacheTTL.
func BenchmarkJWSVerify(b *testing.B) {
	for _, c := range benchCases {
		for _, ttl := range []time.Duration{0, 5 * time.Second} {
			name := c.name + "/acctcache=off"
			if ttl != 0 {
				name = c.name + "/acctcache=5s"
			}
			b.Run(name, func(b *testing.B) {
				e, ok := benchNewEnv(b, ttl, 0)
				if !ok {
					b.Skip("wfe.Config has no AccountCacheTTL")
				}
				path := c.path(e)
				b.ReportAllocs()
				b.ResetTimer()
				for done := 0; done < b.N; {
					n := min(benchChunk, b.N-done)
					b.StopTimer()
					bodies := e.bodies(b, c, n)
					reqs := make([]*http.Request, n)
					for i, body := range bodies {
						reqs[i] = benchRequest(body, path)
					}
					b.StartTimer()
					for _, req := range reqs {
						rec := httptest.NewRecorder()
						e.h.ServeHTTP(rec, req)
						if rec.Code != c.want {
							b.Fatalf("status %d: %s", rec.Code, rec.Body)
						}
					}
					done += n
				}
			})
			b.Run(name+"/parallel", func(b *testing.B) {
				// All b.N requests are signed up front; the nonce store
				// must hold them and the responses' nonces.
				e, ok := benchNewEnv(b, ttl, max(1<<17, 2*b.N+1024))
				if !ok {
					b.Skip("wfe.Config has no AccountCacheTTL")
				}
				path := c.path(e)
				bodies := e.bodies(b, c, b.N)
				reqs := make([]*http.Request, b.N)
				for i, body := range bodies {
					reqs[i] = benchRequest(body, path)
				}
				var next atomic.Int64
				var once sync.Once
				var failure string
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						rec := httptest.NewRecorder()
						e.h.ServeHTTP(rec, reqs[next.Add(1)-1])
						if rec.Code != c.want {
							once.Do(func() { failure = rec.Body.String() })
						}
					}
				})
				if failure != "" {
					b.Fatalf("unexpected status: %s", failure)
				}
			})
		}
	}
}

// BenchmarkJWSGoJoseOnly is the floor of the kid POST-as-GET above: only
// go-jose's ParseSignedJSON and ES256 Verify with an already parsed key.
func BenchmarkJWSGoJoseOnly(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	body := string(benchSign(b, key, benchBase+"/acme/account/x", "nonce", benchBase+"/acme/account/x", []byte{}))
	pub := &jose.JSONWebKey{Key: &key.PublicKey}
	algs := []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}
	verify := func() {
		jws, err := jose.ParseSignedJSON(body, algs)
		if err != nil {
			panic(err)
		}
		if _, err := jws.Verify(pub); err != nil {
			panic(err)
		}
	}
	b.Run("sequential", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			verify()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				verify()
			}
		})
	})
}
