package wfe_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/testenv"
)

// TestUnknownPathNamesTheDirectory: the server's root (what a browser or
// curl tries first) and other paths outside /acme/ answer a 404 malformed
// problem that names the ACME directory URL, as plain HTTP on the port
// does; it said only "no ACME resource at /". Unknown paths under /acme/
// keep the short detail, except the mistakes a newcomer makes with a
// directory URL (a trailing slash, other letter case, a profile's name
// without /directory), a PKI path with doubled slashes or a trailing
// slash (only when the cleaned path is served), and an intermediate's ID.
func TestUnknownPathNamesTheDirectory(t *testing.T) {
	env := testenv.New(t)
	putProfile(t, env, policy.Profile{Name: "web", Validity: policy.Duration(30 * 24 * time.Hour)})
	webDir := env.BaseURL + "/acme/web/directory"
	for path, want := range map[string]string{
		"/":                    "no ACME resource at /; the ACME directory is at " + env.DirectoryURL,
		"/directory":           "no ACME resource at /directory; the ACME directory is at " + env.DirectoryURL,
		"/acme/nonesuchx":      "no ACME resource at /acme/nonesuchx",
		"/acme/nonesuchx/":     "no ACME resource at /acme/nonesuchx/",
		"/acme/directory/":     "no ACME resource at /acme/directory/; the ACME directory is at " + env.DirectoryURL,
		"/acme/Directory":      "no ACME resource at /acme/Directory; the ACME directory is at " + env.DirectoryURL,
		"/acme/web":            "no ACME resource at /acme/web; the directory of profile web is at " + webDir,
		"/acme/web/":           "no ACME resource at /acme/web/; the directory of profile web is at " + webDir,
		"/acme/web/directory/": "no ACME resource at /acme/web/directory/; the directory of profile web is at " + webDir,
		"/acme/web/new-orderx": "no ACME resource at /acme/web/new-orderx",
		"//pki/root.pem":       "no ACME resource at //pki/root.pem; did you mean /pki/root.pem?",
		"/pki/root.pem/":       "no ACME resource at /pki/root.pem/; did you mean /pki/root.pem?",
		"/pki/ca/abc/":         "no ACME resource at /pki/ca/abc/; no intermediate is served under the ID abc (the CA's first intermediate is at /pki/intermediate.crt, its CRL at /pki/crl)",
		// A path below an ID that names no intermediate: not suggested,
		// though a pattern matches it.
		"/pki/ca//abc/crl": "no ACME resource at /pki/ca//abc/crl; no intermediate is served under the ID abc (the CA's first intermediate is at /pki/intermediate.crt, its CRL at /pki/crl)",
		// A cleaned path that is no PKI path is not suggested.
		"/pki/nonesuch/": "no ACME resource at /pki/nonesuch/; the ACME directory is at " + env.DirectoryURL,
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
