package wfe_test

import (
	"crypto/elliptic"
	"net/http"
	"strings"
	"testing"

	cgacme "github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/testenv"
)

// TestOtherAccountsObjectsLookUnknown: another account's order,
// authorization or challenge gets the very problem document (status,
// type, detail) that an ID which does not exist gets, for a POST-as-GET
// and for a response to a challenge, so that an account cannot tell
// which IDs exist (RFC 8555 §7.1: objects are the account's own).
func TestOtherAccountsObjectsLookUnknown(t *testing.T) {
	env := testenv.New(t)
	owner := clNewRawClient(t, env, clEcKey(t, elliptic.P256()))
	owner.register()
	other := clNewRawClient(t, env, clEcKey(t, elliptic.P256()))
	other.register()

	r := owner.post(owner.dir.NewOrder, map[string]any{"identifiers": []cgacme.Identifier{{Type: "dns", Value: "leak.example.test"}}})
	var o cgacme.Order
	owner.decode(r, http.StatusCreated, &o)
	orderURL := r.header.Get("Location")
	var z cgacme.Authorization
	owner.decode(owner.post(o.Authorizations[0], nil), http.StatusOK, &z)
	chal := z.Challenges[0].URL
	unknown := func(u string) string { return u[:strings.LastIndex(u, "/")+1] + "AAAAAAAAAAAAAAAAAAAAAA" }

	for _, tc := range []struct {
		name    string
		url     string
		payload any
	}{
		{"order", orderURL, nil},
		{"authorization", o.Authorizations[0], nil},
		{"challenge", chal, nil},
		{"challenge response", chal, map[string]any{}},
		{"challenge response, payload not an object", chal, []any{}},
	} {
		theirs := other.post(tc.url, tc.payload)
		none := other.post(unknown(tc.url), tc.payload)
		tp, np := theirs.problem(), none.problem()
		if theirs.status != http.StatusNotFound || theirs.status != none.status || tp.Type != np.Type || tp.Detail != np.Detail {
			t.Errorf("%s: another account's: %s; unknown ID: %s; want the same 404 problem", tc.name, theirs, none)
		}
	}
}
