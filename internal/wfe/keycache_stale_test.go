package wfe_test

import (
	"context"
	"net/http"
	"path"
	"testing"

	"github.com/certgate/certgate/internal/testenv"
)

// TestCachedAccountKeyChangedElsewhere: a node caches the accounts of kid
// requests for a few seconds (docs/architecture.md). When another node of
// the cluster rolls the account over to a new key (RFC 8555 §7.3.5; here
// the store is changed directly, as that node's keyChange does), the
// client's next request, signed with the new key, may reach this node
// while it still holds the old key: it must be served, not refused with
// "the JWS signature does not verify"; and the old key no longer signs
// for the account here either.
func TestCachedAccountKeyChangedElsewhere(t *testing.T) {
	env := testenv.New(t)
	c := hNewClient(t, env)
	old := hNewKey(t, "p256")
	kid := c.newAccount(t, old)
	c.mustOK(t, http.StatusOK, old, kid, kid, nil) // cached now

	nk := hNewKey(t, "p256")
	st := env.Server.Store()
	ctx := context.Background()
	acct, err := st.GetAccount(ctx, path.Base(kid))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.ChangeAccountKey(ctx, acct.ID, acct.KeyThumbprint, nk.thumbprint(t), nk.jwkJSON(t)); err != nil {
		t.Fatal(err)
	}
	c.mustOK(t, http.StatusOK, nk, kid, kid, nil)
	c.mustOK(t, http.StatusCreated, nk, kid, c.dir.NewOrder, []byte(`{"identifiers":[{"type":"dns","value":"rolled.example.test"}]}`))
	if r := c.signed(t, old, kid, kid, nil); r.status < 400 {
		t.Fatalf("the old key still signs for the account: %d %s", r.status, r.body)
	}
}
