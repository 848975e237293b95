package adminapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/auth"
)

// TestSecretResponsesNotStored, on both engines: the responses that carry
// a secret (a new token, a new EAB key's HMAC key) say Cache-Control:
// no-store (they had no Cache-Control), others do not need to. Revoking
// a token by the whole token revokes its ID, and a 404 for an unknown one
// never repeats its secret.
func TestSecretResponsesNotStored(t *testing.T) {
	eachEngine(t, func(t *testing.T, f *fixture) {
		admin := f.tokens[auth.RoleAdmin]
		r := f.do(http.MethodPost, "/api/v1/tokens", admin, map[string]string{"name": "robot", "role": "operator"})
		created := decode[CreatedToken](t, r)
		if r.status != http.StatusCreated || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("create token: %d, Cache-Control %q, want 201 with no-store", r.status, r.header.Get("Cache-Control"))
		}
		r = f.do(http.MethodPost, "/api/v1/eab-keys", admin, map[string]any{"profile": "default", "owner": "team"})
		if r.status != http.StatusCreated || r.header.Get("Cache-Control") != "no-store" || !strings.Contains(string(r.body), `"hmac"`) {
			t.Errorf("create EAB key: %d, Cache-Control %q, want 201 with no-store", r.status, r.header.Get("Cache-Control"))
		}

		secret := created.Token[len("cgt_")+17:]
		unknown := "cgt_0123456789abcdef_" + secret
		r = f.do(http.MethodPost, "/api/v1/tokens/"+unknown+"/revoke", admin, nil)
		if err := isProblem(r, http.StatusNotFound); err != nil || strings.Contains(string(r.body), secret) ||
			!strings.Contains(string(r.body), "cgt_0123456789abcdef_...") {
			t.Errorf("revoke of an unknown whole token: %v %s", err, r.body)
		}
		r = f.do(http.MethodPost, "/api/v1/tokens/"+created.Token+"/revoke", admin, nil)
		if v := decode[auth.TokenView](t, r); r.status != http.StatusOK || v.ID != created.ID || v.Status != "revoked" {
			t.Fatalf("revoke by the whole token: %d %s", r.status, r.body)
		}
		if err := isProblem(f.do(http.MethodGet, "/api/v1/accounts", created.Token, nil), http.StatusUnauthorized); err != nil {
			t.Errorf("revoked token: %v", err)
		}
	})
}
