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
// directory, newAccount and newOrder (draft-ietf-acme-profiles) name the
// profile's directory, not /acme/directory; the shared resources (the
// order, newNonce), the default directory's own resources and a name
// that is no profile name /acme/directory.
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
	res, err := env.HTTPClient.Get(own)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	want("GET the profile's directory", &clRawResponse{status: res.StatusCode, header: res.Header}, own)

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
