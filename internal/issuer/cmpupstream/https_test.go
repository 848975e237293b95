package cmpupstream_test

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/issuer/cmpupstream"
)

// startTLSProxy puts a TLS-terminating reverse proxy on 127.0.0.1 in
// front of the plain-HTTP CMP server at target (OpenSSL's mock server
// speaks no TLS) until the test ends; it returns the proxy's https URL
// with target's path, the PEM file of its certificate (for tlsTrusted)
// and the count of requests that came through it.
func startTLSProxy(t *testing.T, target string) (string, string, *atomic.Int32) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	rp.Transport = &http.Transport{DisableKeepAlives: true} // the mock answers one request per connection
	var n atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	bundle := writeFile(t, filepath.Join(t.TempDir(), "tls-ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	return srv.URL + u.Path, bundle, &n
}

// TestCMPOverHTTPS: with an https server (OpenSSL's mock CMP server
// behind a TLS proxy on loopback) and tlsTrusted, the connector enrolls
// and revokes over TLS: openssl is run with -tls_used, without which
// OpenSSL 3.0 refuses an https URL ("missing -tls_used option since
// -server URL indicates https") and no request ever left.
func TestCMPOverHTTPS(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	dir := t.TempDir()
	secret := writeFile(t, filepath.Join(dir, "secret"), []byte("s3cret-of-the-test\n"))
	certKey := newKey(t)
	leaf := ca.leaf(t, certKey.Public(), "tls.example.test")
	plain := startMock(t, "-srv_ref", "certgate-test", "-srv_secret", "file:"+secret,
		"-rsp_cert", ca.file(t, "leaf.pem", leaf), "-rsp_extracerts", ca.file(t, "inter.pem", ca.inter))
	server, tlsTrusted, requests := startTLSProxy(t, plain)
	if !strings.HasPrefix(server, "https://127.0.0.1:") {
		t.Fatalf("proxy URL %s", server)
	}
	is, err := cmpupstream.New(cmpupstream.Config{Name: "cmp-tls", Server: server, TLSTrusted: tlsTrusted, Ref: "certgate-test",
		SecretFile: secret, Timeout: "1m"}, issuer.Env{Data: dir})
	if err != nil {
		t.Fatal(err)
	}
	enrollAndRevoke(t, is, certKey, "tls.example.test", leaf, "over https")
	if n := requests.Load(); n < 3 { // p10cr, certConf, rr
		t.Fatalf("%d requests through the TLS proxy; want the enrollment's and the revocation's", n)
	}
}
