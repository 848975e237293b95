package wfe_test

import (
	"crypto/elliptic"
	"net/http"
	"testing"

	"github.com/certgate/certgate/internal/testenv"
)

// TestInvalidAuthorizationListsFailedChallenge: once an authorization is
// invalid it lists only the challenge that was attempted and failed, as a
// valid one lists only the challenge that validated it (RFC 8555 §7.1.4),
// not the other challenges, still "pending", that can no longer be
// answered.
func TestInvalidAuthorizationListsFailedChallenge(t *testing.T) {
	env := testenv.New(t)
	c := clNewRawClient(t, env, clEcKey(t, elliptic.P256()))
	c.register()
	var o struct{ Authorizations []string }
	c.decode(c.post(c.dir.NewOrder, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "failed.example.test"}}}),
		http.StatusCreated, &o)
	type challenge struct{ Type, URL, Status string }
	var z struct {
		Status     string
		Challenges []challenge
	}
	c.decode(c.post(o.Authorizations[0], nil), http.StatusOK, &z)
	if len(z.Challenges) < 2 {
		t.Fatalf("pending authorization offers %d challenges; the test needs several", len(z.Challenges))
	}
	var http01 challenge
	for _, ch := range z.Challenges {
		if ch.Type == "http-01" {
			http01 = ch
		}
	}
	// No http-01 responder has the token: the validation fails.
	c.decode(c.post(http01.URL, map[string]any{}), http.StatusOK, nil)
	c.decode(c.waitStatus(o.Authorizations[0], "pending"), http.StatusOK, &z)
	if z.Status != "invalid" {
		t.Fatalf("authorization status %q, want invalid", z.Status)
	}
	if len(z.Challenges) != 1 || z.Challenges[0].URL != http01.URL || z.Challenges[0].Status != "invalid" {
		t.Fatalf("invalid authorization lists %+v, want only the failed http-01 challenge %s", z.Challenges, http01.URL)
	}
}
