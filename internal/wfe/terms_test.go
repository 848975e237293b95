package wfe_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/testenv"
)

// TestTermsOfServiceRequired: with terms-of-service set, the server MUST
// reject a newAccount that does not agree to them (RFC 8555 §7.3): a
// request without "termsOfServiceAgreed", or with false, creates no
// account and is answered userActionRequired (403, the terms' URL as
// instance, a fresh nonce); one that agrees creates the account. A key
// that already has an account gets it back whether or not it agrees
// (§7.3.1), and onlyReturnExisting for an unknown key stays
// accountDoesNotExist.
func TestTermsOfServiceRequired(t *testing.T) {
	const tos = "https://ca.example.test/terms-2026.pdf"
	env := testenv.NewWithOptions(t, testenv.Options{TermsOfService: tos})
	c := hNewClient(t, env)
	if c.dir.Meta == nil || c.dir.Meta.TermsOfService != tos {
		t.Fatalf("directory meta %+v, want termsOfService %s", c.dir.Meta, tos)
	}
	k := hNewKey(t, "p256")
	for _, payload := range []string{`{}`, `{"termsOfServiceAgreed":false}`, `{"contact":["mailto:ops@example.com"]}`} {
		r := c.signed(t, k, "", c.dir.NewAccount, []byte(payload))
		if r.status != http.StatusForbidden || r.problem == nil || r.problem.Type != acme.UserActionRequired {
			t.Fatalf("newAccount %s: status %d %s, want 403 userActionRequired", payload, r.status, r.body)
		}
		if r.problem.Instance != tos {
			t.Errorf("newAccount %s: instance %q, want the terms' URL %s", payload, r.problem.Instance, tos)
		}
		if r.header.Get("Replay-Nonce") == "" || r.header.Get("Location") != "" {
			t.Errorf("newAccount %s: Replay-Nonce %q, Location %q; want a nonce and no Location", payload,
				r.header.Get("Replay-Nonce"), r.header.Get("Location"))
		}
	}
	r := c.signed(t, k, "", c.dir.NewAccount, []byte(`{"onlyReturnExisting":true}`))
	if r.status != http.StatusBadRequest || r.problem == nil || r.problem.Type != acme.AccountDoesNotExist {
		t.Fatalf("onlyReturnExisting after the refusals: status %d %s, want accountDoesNotExist (no account created)", r.status, r.body)
	}
	kid := c.newAccount(t, k) // agrees: 201
	var a acme.Account
	if err := json.Unmarshal(c.mustOK(t, http.StatusOK, k, kid, kid, nil).body, &a); err != nil || !a.TermsOfServiceAgreed {
		t.Fatalf("account %+v (%v), want termsOfServiceAgreed", a, err)
	}
	for _, payload := range []string{`{}`, `{"onlyReturnExisting":true}`} {
		r := c.signed(t, k, "", c.dir.NewAccount, []byte(payload))
		if r.status != http.StatusOK || r.header.Get("Location") != kid {
			t.Errorf("newAccount %s for the existing key: status %d Location %q %s, want 200 and %s", payload, r.status,
				r.header.Get("Location"), r.body, kid)
		}
	}
}
