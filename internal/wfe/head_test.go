package wfe_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/policy"
)

// TestHeadDirectory: HEAD is answered wherever GET is (RFC 9110 §9.1: a
// general-purpose server MUST support both; §9.3.2: the same header
// fields, no content). The directories answered 405.
func TestHeadDirectory(t *testing.T) {
	env := newProfileEnv(t)
	putProfile(t, env, policy.Profile{Name: "web", Validity: policy.Duration(30 * 24 * time.Hour)})
	for _, path := range []string{"/acme/directory", "/acme/web/directory"} {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodHead, env.BaseURL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := env.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("HEAD %s: %d %q, want 200 application/json", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
}
