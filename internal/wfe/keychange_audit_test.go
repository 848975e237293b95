package wfe_test

import (
	"context"
	"crypto/elliptic"
	"encoding/json"
	"path"
	"testing"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv"
)

// TestKeyChangeAudited: an account key rollover (RFC 8555 §7.3.5) is
// recorded in the audit log, in the transaction that changes the key: one
// account.key_change event by the account, whose before and after name the
// old and the new key's thumbprint; a refused rollover (to a key another
// account holds) records nothing.
func TestKeyChangeAudited(t *testing.T) {
	env := testenv.New(t)
	ctx := clTestCtx(t)
	st := env.Server.Store()
	c, acct := clRegistered(t, env, nil)
	id := path.Base(acct.URI)
	old, err := st.GetAccount(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AccountKeyRollover(ctx, clEcKey(t, elliptic.P256())); err != nil {
		t.Fatalf("rollover: %v", err)
	}
	now, err := st.GetAccount(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := clEcKey(t, elliptic.P256())
	clRegistered(t, env, otherKey)
	if err := c.AccountKeyRollover(ctx, otherKey); err == nil {
		t.Fatal("rollover to another account's key succeeded")
	}

	evs, err := st.ListAudit(context.Background(), store.AuditFilter{Action: "account.key_change", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d account.key_change events, want 1", len(evs))
	}
	ev := evs[0]
	if ev.ObjectType != "account" || ev.ObjectID != id || ev.Actor != "acme-account:"+id {
		t.Fatalf("event %+v", ev)
	}
	var before, after struct {
		KeyThumbprint string `json:"key_thumbprint"`
	}
	if err := json.Unmarshal([]byte(ev.Before), &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(ev.After), &after); err != nil {
		t.Fatal(err)
	}
	if before.KeyThumbprint != old.KeyThumbprint || after.KeyThumbprint != now.KeyThumbprint || old.KeyThumbprint == now.KeyThumbprint {
		t.Fatalf("before %s after %s, want thumbprints %s then %s", ev.Before, ev.After, old.KeyThumbprint, now.KeyThumbprint)
	}
}
