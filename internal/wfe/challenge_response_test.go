package wfe_test

import (
	"crypto/elliptic"
	"net/http"
	"strings"
	"testing"

	cgacme "github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/testenv"
)

// TestChallengeResponseProblemOrder checks which problem a response to a
// challenge with a payload that is not a JSON object gets: the challenge
// is looked up first, so an unknown challenge or another account's is a
// 404 whatever the payload (as before the response was read and started
// in one storage write), and only a challenge of the account's own gets
// the payload's malformed problem, with the challenge left pending.
func TestChallengeResponseProblemOrder(t *testing.T) {
	env := testenv.New(t)
	owner := clNewRawClient(t, env, clEcKey(t, elliptic.P256()))
	owner.register()
	other := clNewRawClient(t, env, clEcKey(t, elliptic.P256()))
	other.register()

	r := owner.post(owner.dir.NewOrder, map[string]any{"identifiers": []cgacme.Identifier{{Type: "dns", Value: "order.example.test"}}})
	var o cgacme.Order
	owner.decode(r, http.StatusCreated, &o)
	var z cgacme.Authorization
	owner.decode(owner.post(o.Authorizations[0], nil), http.StatusOK, &z)
	if len(z.Challenges) == 0 {
		t.Fatalf("authorization without challenges: %+v", z)
	}
	chal := z.Challenges[0].URL
	unknown := chal[:strings.LastIndex(chal, "/")+1] + "no-such-challenge"

	notObject := []byte(`[]`)
	for _, tc := range []struct {
		name   string
		c      *clRawClient
		url    string
		status int
		detail string
	}{
		{"unknown challenge", owner, unknown, http.StatusNotFound, "no such challenge"},
		{"another account's challenge", other, chal, http.StatusNotFound, "no such challenge"},
		{"own challenge", owner, chal, http.StatusBadRequest, "JSON object"},
	} {
		r := tc.c.post(tc.url, notObject)
		p := r.problem()
		if r.status != tc.status || p.Type != cgacme.Malformed || !strings.Contains(p.Detail, tc.detail) {
			t.Errorf("%s, payload []: %s; want %d malformed %q", tc.name, r, tc.status, tc.detail)
		}
	}
	var got cgacme.Challenge
	owner.decode(owner.post(chal, nil), http.StatusOK, &got)
	if got.Status != "pending" {
		t.Errorf("challenge after the refused responses: %q, want pending", got.Status)
	}
}
