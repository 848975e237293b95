package wfe_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/certgate/certgate/internal/testenv"
)

// TestUnknownPathNamesTheDirectory: the server's root (what a browser or
// curl tries first) and other paths outside /acme/ answer a 404 malformed
// problem that names the ACME directory URL, as plain HTTP on the port
// does; it said only "no ACME resource at /". Unknown paths under /acme/
// keep the short detail.
func TestUnknownPathNamesTheDirectory(t *testing.T) {
	env := testenv.New(t)
	for path, want := range map[string]string{
		"/":               "no ACME resource at /; the ACME directory is at " + env.DirectoryURL,
		"/directory":      "no ACME resource at /directory; the ACME directory is at " + env.DirectoryURL,
		"/acme/nonesuchx": "no ACME resource at /acme/nonesuchx",
	} {
		resp, err := env.HTTPClient.Get(env.BaseURL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var pb struct{ Type, Detail string }
		if err := json.Unmarshal(b, &pb); err != nil || resp.StatusCode != http.StatusNotFound ||
			pb.Type != "urn:ietf:params:acme:error:malformed" || pb.Detail != want {
			t.Errorf("GET %s: %d %s, want 404 malformed %q", path, resp.StatusCode, b, want)
		}
	}
}
