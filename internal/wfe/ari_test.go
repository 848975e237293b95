package wfe_test

// ACME Renewal Information (RFC 9773) through the in-process server: the
// directory's renewalInfo, unauthenticated GETs of the suggested window,
// and newOrder "replaces" with alreadyReplaced.

import (
	"context"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	cgacme "github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/testenv"
	"github.com/certgate/certgate/internal/wfe"
)

// ariCertID is the RFC 9773 §4.1 CertID of leaf.
func ariCertID(leaf *x509.Certificate) string {
	ser := leaf.SerialNumber.Bytes()
	if len(ser) == 0 || ser[0]&0x80 != 0 {
		ser = append([]byte{0}, ser...)
	}
	return base64.RawURLEncoding.EncodeToString(leaf.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(ser)
}

// ariRenewalInfoURL reads renewalInfo from the directory.
func ariRenewalInfoURL(t *testing.T, env *testenv.Env) string {
	t.Helper()
	res, err := env.HTTPClient.Get(env.DirectoryURL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var d struct {
		RenewalInfo string `json:"renewalInfo"`
	}
	if err := json.NewDecoder(res.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	if want := env.BaseURL + "/acme/renewal-info"; d.RenewalInfo != want {
		t.Fatalf("directory renewalInfo = %q, want %q", d.RenewalInfo, want)
	}
	return d.RenewalInfo
}

// ariGet does an unauthenticated GET of renewalInfo/certID.
func ariGet(t *testing.T, env *testenv.Env, base, certID string) *clRawResponse {
	t.Helper()
	res, err := env.HTTPClient.Get(base + "/" + certID)
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

func ariWindow(t *testing.T, r *clRawResponse) cgacme.TimeWindow {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("renewalInfo: %s", r)
	}
	if got := r.header.Get("Retry-After"); got != "21600" {
		t.Errorf("Retry-After = %q, want 21600 (6h)", got)
	}
	var info cgacme.RenewalInfo
	if err := json.Unmarshal(r.body, &info); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	w := info.SuggestedWindow
	if !w.End.After(w.Start) {
		t.Fatalf("window %v .. %v: end not after start", w.Start, w.End)
	}
	return w
}

func TestRenewalInfo(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	base := ariRenewalInfoURL(t, env)
	c, _ := clRegistered(t, env, clEcKey(t, elliptic.P256()))
	is := clIssue(t, env, c, acme.DomainIDs("ari.example.test"), "http-01")
	leaf := is.leaf
	certID := ariCertID(leaf)

	t.Run("valid certificate: last third", func(t *testing.T) {
		w := ariWindow(t, ariGet(t, env, base, certID))
		life := leaf.NotAfter.Sub(leaf.NotBefore)
		lastThird := leaf.NotBefore.Add(life * 2 / 3).Add(-time.Second)
		if w.Start.Before(lastThird) || w.End.After(leaf.NotAfter) || w.Start.Before(leaf.NotBefore) {
			t.Fatalf("window %v .. %v is not inside the last third %v .. %v", w.Start, w.End, lastThird, leaf.NotAfter)
		}
	})

	t.Run("malformed certID", func(t *testing.T) {
		for _, bad := range []string{"not-a-cert-id", "abc", "a.b.c", "AAAA.%2B%2B", "AAAA.gA"} {
			r := ariGet(t, env, base, bad)
			if r.status != http.StatusBadRequest || r.problem().Type != cgacme.Malformed {
				t.Errorf("GET %q: %s, want 400 malformed", bad, r)
			}
		}
	})

	t.Run("unknown certificate", func(t *testing.T) {
		other := base64.RawURLEncoding.EncodeToString(leaf.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(big.NewInt(12345).Bytes())
		wrongAKI := base64.RawURLEncoding.EncodeToString([]byte("other issuer key id")) + "." + base64.RawURLEncoding.EncodeToString(leaf.SerialNumber.Bytes())
		for _, id := range []string{other, wrongAKI} {
			if r := ariGet(t, env, base, id); r.status != http.StatusNotFound {
				t.Errorf("GET %q: %s, want 404", id, r)
			}
		}
	})

	t.Run("POST is not allowed", func(t *testing.T) {
		res, err := env.HTTPClient.Post(base+"/"+certID, "application/jose+json", nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("POST renewalInfo: %d, want 405", res.StatusCode)
		}
	})

	t.Run("revoked certificate: now", func(t *testing.T) {
		revoked := clIssue(t, env, c, acme.DomainIDs("ari-revoked.example.test"), "http-01")
		if err := c.RevokeCert(clTestCtx(t), nil, revoked.chain[0], acme.CRLReasonKeyCompromise); err != nil {
			t.Fatal(err)
		}
		w := ariWindow(t, ariGet(t, env, base, ariCertID(revoked.leaf)))
		now := time.Now()
		if w.Start.After(now) || w.End.After(now.Add(time.Second)) || w.End.Before(now.Add(-time.Minute)) {
			t.Fatalf("revoked window %v .. %v, want one ending now (%v)", w.Start, w.End, now)
		}
	})
}

func TestNewOrderReplaces(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	key := clEcKey(t, elliptic.P256())
	c, _ := clRegistered(t, env, key)
	name := "replace.example.test"
	is := clIssue(t, env, c, acme.DomainIDs(name), "http-01")
	certID := ariCertID(is.leaf)

	rc := clNewRawClient(t, env, key) // the same account as c
	rc.register()
	newOrder := func(rc *clRawClient, replaces string, names ...string) *clRawResponse {
		ids := []cgacme.Identifier{}
		for _, n := range names {
			ids = append(ids, cgacme.Identifier{Type: "dns", Value: n})
		}
		return rc.post(rc.dir.NewOrder, map[string]any{"identifiers": ids, "replaces": replaces})
	}

	// Checks that do not claim the certificate.
	if r := newOrder(rc, certID, "unrelated.example.test"); r.status != http.StatusBadRequest || r.problem().Type != cgacme.Malformed {
		t.Fatalf("replaces without a shared identifier: %s, want 400 malformed", r)
	}
	if r := newOrder(rc, "bogus", name); r.status != http.StatusBadRequest || r.problem().Type != cgacme.Malformed {
		t.Fatalf("replaces with a malformed CertID: %s, want 400 malformed", r)
	}
	stranger := clNewRawClient(t, env, clEcKey(t, elliptic.P256()))
	stranger.register()
	if r := newOrder(stranger, certID, name); r.status != http.StatusForbidden || r.problem().Type != cgacme.Unauthorized {
		t.Fatalf("replaces by another account: %s, want 403 unauthorized", r)
	}

	// The first replacement is accepted and echoes replaces.
	r := newOrder(rc, certID, name, "www.replace.example.test")
	var o cgacme.Order
	rc.decode(r, http.StatusCreated, &o)
	if o.Replaces != certID {
		t.Fatalf("order replaces = %q, want %q", o.Replaces, certID)
	}
	orderURL := r.header.Get("Location")

	// A second one is refused while the first is alive.
	r = newOrder(rc, certID, name)
	if r.status != http.StatusConflict || r.problem().Type != cgacme.AlreadyReplaced {
		t.Fatalf("second replacement: %s, want 409 alreadyReplaced", r)
	}

	// Finishing the replacement marks the old certificate replaced.
	ids := acme.DomainIDs(name, "www.replace.example.test")
	ao, err := c.GetOrder(clTestCtx(t), orderURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ao.AuthzURLs {
		z, err := c.GetAuthorization(clTestCtx(t), u)
		if err != nil {
			t.Fatal(err)
		}
		if z.Status != acme.StatusValid {
			clSolve(t, env, c, u, "http-01")
		}
	}
	if ao, err = c.WaitOrder(clTestCtx(t), orderURL); err != nil {
		t.Fatal(err)
	}
	csr, _ := clCsrFor(t, ids, nil)
	if _, _, err := c.CreateOrderCert(clTestCtx(t), ao.FinalizeURL, csr, false); err != nil {
		t.Fatalf("finalize replacement: %v", err)
	}
	rec, err := env.Server.Store().GetCertificate(context.Background(), is.leaf.SerialNumber.Text(16))
	if err != nil {
		t.Fatal(err)
	}
	if rec.ReplacedBy == "" || rec.ReplacedAt.IsZero() {
		t.Fatalf("old certificate after its replacement was issued: replacedBy %q, replacedAt %v", rec.ReplacedBy, rec.ReplacedAt)
	}
	var final cgacme.Order
	rc.decode(rc.post(orderURL, nil), http.StatusOK, &final)
	if final.Status != cgacme.StatusValid || final.Replaces != certID {
		t.Fatalf("replacement order = %+v", final)
	}
	if r := newOrder(rc, certID, name); r.status != http.StatusConflict || r.problem().Type != cgacme.AlreadyReplaced {
		t.Fatalf("replacement after issuance: %s, want 409 alreadyReplaced", r)
	}
}

// TestBarePaths: the directory's renewalInfo URL itself, the paths of
// the objects that take an ID without one, and paths with "//", "." or
// ".." segments answer with problem documents (RFC 8555 §6.7, RFC 9457),
// not ServeMux's HTML redirect to the form with a trailing "/" or to the
// cleaned path.
func TestBarePaths(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	noRedirect := *env.HTTPClient
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, c := range []struct {
		method, path string
		status       int
		problem      cgacme.ProblemType
	}{
		{http.MethodGet, "/acme/renewal-info", http.StatusBadRequest, cgacme.Malformed},
		{http.MethodPost, "/acme/order", http.StatusNotFound, cgacme.Malformed},
		{http.MethodPost, "/acme/account", http.StatusNotFound, cgacme.Malformed},
		{http.MethodPost, "/acme/authz", http.StatusNotFound, cgacme.Malformed},
		{http.MethodPost, "/acme/chall", http.StatusNotFound, cgacme.Malformed},
		{http.MethodPost, "/acme/cert", http.StatusNotFound, cgacme.Malformed},
		{http.MethodGet, "/acme/order", http.StatusMethodNotAllowed, cgacme.Malformed},
		// Paths ServeMux would clean and redirect (307, HTML).
		{http.MethodPost, "/acme//new-order", http.StatusNotFound, cgacme.Malformed},
		{http.MethodPost, "//acme/new-order", http.StatusNotFound, cgacme.Malformed},
		{http.MethodGet, "/acme/./directory", http.StatusNotFound, cgacme.Malformed},
		{http.MethodGet, "/acme/default/../directory", http.StatusNotFound, cgacme.Malformed},
		{http.MethodGet, "/acme/directory/", http.StatusNotFound, cgacme.Malformed},
		// Paths outside the ACME tree, and "/acme" itself (ServeMux
		// redirected it to "/acme/" and answered the others in text).
		{http.MethodGet, "/acme", http.StatusNotFound, cgacme.Malformed},
		{http.MethodGet, "/", http.StatusNotFound, cgacme.Malformed},
		{http.MethodPost, "/nothing/here", http.StatusNotFound, cgacme.Malformed},
	} {
		req, err := http.NewRequest(c.method, env.BaseURL+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/jose+json")
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var p struct {
			Type cgacme.ProblemType `json:"type"`
		}
		if res.StatusCode != c.status || res.Header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(b, &p) != nil || p.Type != c.problem {
			t.Errorf("%s %s = %d %q %s, want %d problem %s", c.method, c.path, res.StatusCode, res.Header.Get("Content-Type"), b, c.status, c.problem)
		}
	}
	// The PKI resources are GET only: another method is a 405 naming GET,
	// with a problem document (it was text/plain), over HTTPS and over
	// plain HTTP (which answered 400 "certgate serves ACME over HTTPS
	// only"); OCSP takes POST too.
	plain := "http://" + strings.TrimPrefix(env.BaseURL, "https://")
	for _, base := range []string{env.BaseURL, plain} {
		for _, c := range []struct{ method, path, allow string }{
			{http.MethodPost, wfe.RootPath, "GET, HEAD"}, {http.MethodDelete, wfe.IntermediatePath, "GET, HEAD"},
			{http.MethodPut, wfe.CRLPath, "GET, HEAD"}, {http.MethodPut, "/pki/ocsp", "GET, HEAD, POST"},
		} {
			req, _ := http.NewRequest(c.method, base+c.path, nil)
			res, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var p struct {
				Type   cgacme.ProblemType `json:"type"`
				Status int                `json:"status"`
			}
			if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != c.allow ||
				res.Header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(b, &p) != nil ||
				p.Type != cgacme.Malformed || p.Status != http.StatusMethodNotAllowed || !strings.Contains(string(b), "method "+c.method+" is not allowed here") {
				t.Errorf("%s %s%s = %d, Allow %q, %s %s; want a 405 malformed problem, Allow %s", c.method, base, c.path, res.StatusCode,
					res.Header.Get("Allow"), res.Header.Get("Content-Type"), b, c.allow)
			}
		}
		// A POST below /pki/ocsp: a 404 problem (was text/plain).
		res, err := noRedirect.Post(base+"/pki/ocsp/abc", "application/ocsp-request", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound || res.Header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(string(b), "OCSP POST requests go to /pki/ocsp itself") {
			t.Errorf("POST %s/pki/ocsp/abc = %d %s %s; want a 404 problem", base, res.StatusCode, res.Header.Get("Content-Type"), b)
		}
	}
}

// TestRenewalInfoConfigured: ari-retry-after and ari-explanation-url reach
// renewalInfo answers as their Retry-After and explanationURL (RFC 9773
// §4.2); before, `certgate serve` could set neither, so no answer carried
// an explanationURL.
func TestRenewalInfoConfigured(t *testing.T) {
	t.Parallel()
	const explanation = "https://ca.example.test/docs/ari"
	env := testenv.NewWithOptions(t, testenv.Options{ARIRetryAfter: 90 * time.Minute, ARIExplanationURL: explanation})
	c, _ := clRegistered(t, env, clEcKey(t, elliptic.P256()))
	is := clIssue(t, env, c, acme.DomainIDs("ari-config.example.test"), "http-01")
	r := ariGet(t, env, ariRenewalInfoURL(t, env), ariCertID(is.leaf))
	if r.status != http.StatusOK {
		t.Fatalf("renewalInfo: %s", r)
	}
	if got := r.header.Get("Retry-After"); got != "5400" {
		t.Errorf("Retry-After = %q, want 5400 (ari-retry-after 90m)", got)
	}
	// RFC 9773 §7: answers may be cached, for as long as clients are asked
	// to wait (Retry-After), and carry no nonce a shared cache would hand
	// to many clients.
	if got := r.header.Get("Cache-Control"); got != "public, max-age=5400" {
		t.Errorf("Cache-Control = %q, want %q", got, "public, max-age=5400")
	}
	if got := r.header.Get("Replay-Nonce"); got != "" {
		t.Errorf("cacheable renewalInfo answer carries Replay-Nonce %q", got)
	}
	bad := ariGet(t, env, ariRenewalInfoURL(t, env), "not-a-cert-id")
	if got := bad.header.Get("Cache-Control"); bad.status != http.StatusBadRequest || got != "no-store" {
		t.Errorf("malformed certID: %d with Cache-Control %q, want 400 no-store", bad.status, got)
	}
	var info cgacme.RenewalInfo
	if err := json.Unmarshal(r.body, &info); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	if info.ExplanationURL != explanation {
		t.Errorf("explanationURL = %q, want %q", info.ExplanationURL, explanation)
	}
}
