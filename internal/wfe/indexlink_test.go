package wfe_test

import (
	"crypto/elliptic"
	"net/http"
	"slices"
	"testing"
	"time"

	cgacme "github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
)

// TestIndexLinkOfProfileResources: the Link rel="index" of a response
// names the directory of the resource (RFC 8555 §7.1): a profile's
// newAccount and newOrder (draft-ietf-acme-profiles) name the profile's
// directory, not /acme/directory; the shared resources (the order,
// newNonce), the default directory's own resources and a name that is no
// profile name /acme/directory. The directories themselves, the default
// and the profile's, have none (§7.1: the relation is on all resources
// other than the directory), on GET, HEAD and a refused POST alike.
func TestIndexLinkOfProfileResources(t *testing.T) {
	env := newProfileEnv(t)
	putProfile(t, env, policy.Profile{Name: "mtls", Validity: policy.Duration(160 * time.Hour), EKUs: []string{"clientAuth"}, Allow: []string{"*.svc.test"}})
	def, own := env.BaseURL+"/acme/directory", env.BaseURL+"/acme/mtls/directory"
	rc := clNewRawClient(t, env, clEcKey(t, elliptic.P256()))
	want := func(what string, r *clRawResponse, index string) {
		t.Helper()
		if l := r.links("index"); !slices.Equal(l, []string{index}) {
			t.Errorf("%s: Link rel=index %q, want %q", what, l, index)
		}
	}
	for _, d := range []string{own, def} {
		for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
			req, _ := http.NewRequest(method, d, nil)
			res, err := env.HTTPClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			wantStatus := http.StatusOK
			if method == http.MethodPost {
				wantStatus = http.StatusMethodNotAllowed
			}
			if res.StatusCode != wantStatus {
				t.Errorf("%s %s: %d, want %d", method, d, res.StatusCode, wantStatus)
			}
			if l := (&clRawResponse{status: res.StatusCode, header: res.Header}).links("index"); len(l) != 0 {
				t.Errorf("%s %s: Link rel=index %q, want none on the directory", method, d, l)
			}
		}
	}
	res, err := env.HTTPClient.Get(env.BaseURL + "/acme/nope/directory")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("directory of an unknown profile: %d, want 404", res.StatusCode)
	}
	want("the 404 of an unknown profile's directory (no directory)", &clRawResponse{status: res.StatusCode, header: res.Header}, def)

	r := rc.post(env.BaseURL+"/acme/mtls/new-account", map[string]any{"termsOfServiceAgreed": true})
	rc.decode(r, http.StatusCreated, nil)
	want("the profile's newAccount", r, own)
	rc.kid = r.header.Get("Location")
	r = rc.post(env.BaseURL+"/acme/mtls/new-order", map[string]any{"identifiers": []cgacme.Identifier{{Type: "dns", Value: "a.svc.test"}}})
	rc.decode(r, http.StatusCreated, nil)
	want("the profile's newOrder", r, own)
	r2 := rc.post(env.BaseURL+"/acme/mtls/new-order", map[string]any{"identifiers": "x"})
	want("a problem from the profile's newOrder", r2, own)

	r2 = rc.post(env.BaseURL+"/acme/nope/new-order", map[string]any{"identifiers": []cgacme.Identifier{{Type: "dns", Value: "a.svc.test"}}})
	if r2.status < 400 {
		t.Fatalf("newOrder of an unknown profile: %s", r2)
	}
	want("newOrder of an unknown profile (no directory of its own)", r2, def)
	want("the order (shared by all profiles)", rc.post(r.header.Get("Location"), nil), def)
	want("the default newOrder", rc.post(rc.dir.NewOrder, map[string]any{"identifiers": []cgacme.Identifier{{Type: "dns", Value: "b.svc.test"}}}), def)
	res, err = env.HTTPClient.Head(rc.dir.NewNonce)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	want("newNonce", &clRawResponse{status: res.StatusCode, header: res.Header}, def)
}
