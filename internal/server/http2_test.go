package server_test

import (
	"crypto/tls"
	"net/http"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/testenv"
)

// TestHTTPVersions: the HTTPS listener serves HTTP/1.1 only by default,
// even to a client that prefers HTTP/2, and also offers HTTP/2 (ALPN h2)
// with --http2; a certificate is issued over each.
func TestHTTPVersions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		http2 bool
		proto string
	}{{"default", false, "HTTP/1.1"}, {"http2", true, "HTTP/2.0"}} {
		t.Run(tc.name, func(t *testing.T) {
			env := testenv.NewWithOptions(t, testenv.Options{HTTP2: tc.http2})
			env.HTTPClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: env.Roots}, ForceAttemptHTTP2: true}}
			resp, err := env.HTTPClient.Get(env.DirectoryURL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.Proto != tc.proto || resp.StatusCode != http.StatusOK {
				t.Fatalf("directory: %s %d, want %s 200", resp.Proto, resp.StatusCode, tc.proto)
			}
			if _, _, der := issue(t, env, tc.name+".example.test"); len(der) == 0 {
				t.Fatal("no certificate")
			}
		})
	}
}
