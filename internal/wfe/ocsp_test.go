package wfe_test

// The OCSP responder (RFC 6960) through the in-process server: the URL in
// issued leaves' AIA, GET and POST over plain HTTP (the sniffed side of
// the port) and HTTPS, and revocations through ACME showing at once.

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/ocsp"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/testenv"
	"github.com/certgate/certgate/internal/wfe"
)

// ocspAsk sends an OCSP request about cert (issued by inter) to base +
// wfe.OCSPPath by POST, or by GET with the base64 request in the path
// (raw: unescaped, as some clients send it) and returns the parsed,
// signature-checked response.
func ocspAsk(t *testing.T, client *http.Client, base, method string, raw bool, cert, inter *x509.Certificate, h crypto.Hash) *ocsp.Response {
	t.Helper()
	r, err := ocspTry(t, client, base, method, raw, cert, inter, h)
	if err != nil {
		t.Fatalf("%s %s: %v", method, base, err)
	}
	return r
}

// ocspTry is ocspAsk returning the error of ocsp.ParseResponseForCert (an
// ocsp.ResponseError for an error response such as unauthorized).
func ocspTry(t *testing.T, client *http.Client, base, method string, raw bool, cert, inter *x509.Certificate, h crypto.Hash) (*ocsp.Response, error) {
	t.Helper()
	der, err := ocsp.CreateRequest(cert, inter, &ocsp.RequestOptions{Hash: h})
	if err != nil {
		t.Fatal(err)
	}
	var res *http.Response
	if method == http.MethodPost {
		res, err = client.Post(base+wfe.OCSPPath, "application/ocsp-request", bytes.NewReader(der))
	} else {
		b64 := base64.StdEncoding.EncodeToString(der)
		if !raw {
			b64 = url.PathEscape(b64)
		}
		res, err = client.Get(base + wfe.OCSPPath + "/" + b64)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/ocsp-response" {
		t.Fatalf("%s %s: %s %q\n%s", method, base, res.Status, res.Header.Get("Content-Type"), body)
	}
	return ocsp.ParseResponseForCert(body, cert, inter)
}

func TestOCSP(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	c, _ := clRegistered(t, env, nil)
	is := clIssue(t, env, c, acme.DomainIDs("ocsp.example.test"), "http-01")
	clCheckLeaf(t, env, is, []string{"ocsp.example.test"}, nil) // lint-clean with the OCSP URL
	plainBase := "http://" + strings.TrimPrefix(env.BaseURL, "https://")
	if want := []string{plainBase + wfe.OCSPPath}; !slices.Equal(is.leaf.OCSPServer, want) {
		t.Fatalf("leaf AIA OCSP = %q, want %q", is.leaf.OCSPServer, want)
	}
	inter, err := x509.ParseCertificate(is.chain[1])
	if err != nil {
		t.Fatal(err)
	}
	plain := &http.Client{}
	type way struct {
		name   string
		client *http.Client
		base   string
		method string
		raw    bool
	}
	ways := []way{
		{"plain POST", plain, plainBase, http.MethodPost, false},
		{"plain GET", plain, plainBase, http.MethodGet, false},
		{"plain GET unescaped", plain, plainBase, http.MethodGet, true},
		{"HTTPS POST", env.HTTPClient, env.BaseURL, http.MethodPost, false},
		{"HTTPS GET", env.HTTPClient, env.BaseURL, http.MethodGet, false},
	}
	for _, w := range ways {
		if r := ocspAsk(t, w.client, w.base, w.method, w.raw, is.leaf, inter, crypto.SHA1); r.Status != ocsp.Good {
			t.Errorf("%s: status %d, want good", w.name, r.Status)
		}
	}

	// A base64 request with "//" in it reaches the responder on both
	// sides instead of being cleaned and redirected by a mux.
	for {
		n, err := local.RandomSerial()
		if err != nil {
			t.Fatal(err)
		}
		never := &x509.Certificate{SerialNumber: n}
		der, _ := ocsp.CreateRequest(never, inter, nil)
		if !strings.Contains(base64.StdEncoding.EncodeToString(der), "//") {
			continue
		}
		for _, w := range []way{ways[2], {"HTTPS GET unescaped", env.HTTPClient, env.BaseURL, http.MethodGet, true}} {
			// Never issued: the unsigned unauthorized (RFC 6960 §2.3).
			var re ocsp.ResponseError
			if r, err := ocspTry(t, w.client, w.base, w.method, w.raw, never, inter, crypto.SHA1); !errors.As(err, &re) || re.Status != ocsp.Unauthorized {
				t.Errorf("%s, serial %x never issued: %+v, %v; want unauthorized", w.name, n, r, err)
			}
		}
		break
	}

	// Revocation through ACME shows at once (the cached "good" responses
	// are dropped), with its reason.
	if err := c.RevokeCert(clTestCtx(t), nil, is.chain[0], acme.CRLReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	for _, w := range ways {
		for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
			r := ocspAsk(t, w.client, w.base, w.method, w.raw, is.leaf, inter, h)
			if r.Status != ocsp.Revoked || r.RevocationReason != ocsp.KeyCompromise || r.RevokedAt.IsZero() {
				t.Errorf("%s (%v) after revocation: status %d reason %d at %v, want revoked, keyCompromise", w.name, h, r.Status, r.RevocationReason, r.RevokedAt)
			}
		}
	}
}

// TestOCSPDisabled: with --ocsp=false leaves carry no OCSP URL, and the
// responder's paths, which certificates issued while it was on still
// name, answer an OCSP "unauthorized" response (RFC 6960 §2.3) over HTTPS
// and plain HTTP, by GET and POST; before, plain HTTP answered an ACME
// problem saying "certgate serves ACME over HTTPS only".
func TestOCSPDisabled(t *testing.T) {
	t.Parallel()
	env := testenv.NewWithOptions(t, testenv.Options{NoOCSP: true})
	c, _ := clRegistered(t, env, nil)
	is := clIssue(t, env, c, acme.DomainIDs("no-ocsp.example.test"), "http-01")
	if len(is.leaf.OCSPServer) != 0 {
		t.Fatalf("leaf names OCSP responders %q with OCSP off", is.leaf.OCSPServer)
	}
	inter, err := x509.ParseCertificate(is.chain[1])
	if err != nil {
		t.Fatal(err)
	}
	req, err := ocsp.CreateRequest(is.leaf, inter, nil)
	if err != nil {
		t.Fatal(err)
	}
	plainBase := "http://" + strings.TrimPrefix(env.BaseURL, "https://")
	for _, base := range []struct {
		client *http.Client
		url    string
	}{{env.HTTPClient, env.BaseURL + wfe.OCSPPath}, {&http.Client{}, plainBase + wfe.OCSPPath}} {
		for _, r := range []struct{ method, url, body string }{
			{http.MethodPost, base.url, string(req)},
			{http.MethodGet, base.url + "/" + base64.StdEncoding.EncodeToString(req), ""},
			{http.MethodPost, base.url, "x"},
		} {
			hr, _ := http.NewRequest(r.method, r.url, strings.NewReader(r.body))
			hr.Header.Set("Content-Type", "application/ocsp-request")
			res, err := base.client.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/ocsp-response" ||
				!bytes.Equal(body, ocsp.UnauthorizedErrorResponse) || res.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s %s with OCSP off: %s %q %q %x; want 200, an OCSP unauthorized response, no-store",
					r.method, r.url, res.Status, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"), body)
			}
		}
		hr, _ := http.NewRequest(http.MethodPut, base.url, nil)
		res, err := base.client.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("PUT %s with OCSP off: %s, want 405", base.url, res.Status)
		}
	}
}
