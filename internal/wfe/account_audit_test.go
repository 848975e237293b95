package wfe_test

import (
	"context"
	"crypto/elliptic"
	"encoding/json"
	"path"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv"
	"golang.org/x/crypto/acme"
)

// TestAccountCreateAndUpdateAudited drives x/crypto/acme against the
// server: newAccount (RFC 8555 §7.3) is recorded as one account.create
// event by the new account, from the client's address, with the key's
// thumbprint and the contacts as given; registering the same key again
// records nothing; a contact change (§7.3.2) is one account.update with
// the old and the new contacts, and sending the same contacts again, or
// fetching the account, records nothing.
func TestAccountCreateAndUpdateAudited(t *testing.T) {
	env := testenv.New(t)
	ctx := clTestCtx(t)
	st := env.Server.Store()
	key := clEcKey(t, elliptic.P256())
	c := clNewClient(env, key)
	acct, err := c.Register(ctx, &acme.Account{Contact: []string{"mailto:ops@example.com"}}, acme.AcceptTOS)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	id := path.Base(acct.URI)
	if _, err := clNewClient(env, key).Register(ctx, &acme.Account{}, acme.AcceptTOS); err != acme.ErrAccountAlreadyExists {
		t.Fatalf("register the same key again: %v, want %v", err, acme.ErrAccountAlreadyExists)
	}
	acct.Contact = []string{"mailto:pki@example.com", "mailto:ops@example.com"}
	if _, err := c.UpdateReg(ctx, acct); err != nil {
		t.Fatalf("update contacts: %v", err)
	}
	if _, err := c.UpdateReg(ctx, acct); err != nil {
		t.Fatalf("update with the same contacts: %v", err)
	}
	if _, err := c.GetReg(ctx, ""); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	stored, err := st.GetAccount(ctx, id)
	if err != nil {
		t.Fatal(err)
	}

	list := func(action string) []*store.AuditRecord {
		evs, err := st.ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Actor != "acme-account:"+id || ev.ObjectType != "account" || ev.ObjectID != id || !strings.HasPrefix(ev.Source, "127.0.0.1:") {
				t.Errorf("%s event %+v", action, ev)
			}
		}
		return evs
	}
	creates := list("account.create")
	if len(creates) != 1 {
		t.Fatalf("%d account.create events, want 1", len(creates))
	}
	var after struct {
		ID            string   `json:"id"`
		KeyThumbprint string   `json:"key_thumbprint"`
		Contact       []string `json:"contact"`
		Profile       string   `json:"profile"`
	}
	if err := json.Unmarshal([]byte(creates[0].After), &after); err != nil {
		t.Fatal(err)
	}
	if after.ID != id || after.KeyThumbprint != stored.KeyThumbprint || len(after.Contact) != 1 || after.Contact[0] != "mailto:ops@example.com" ||
		after.Profile != "default" {
		t.Errorf("account.create after = %s", creates[0].After)
	}
	updates := list("account.update")
	if len(updates) != 1 {
		t.Fatalf("%d account.update events, want 1", len(updates))
	}
	if updates[0].Before != `{"contact":["mailto:ops@example.com"]}` || updates[0].After != `{"contact":["mailto:pki@example.com","mailto:ops@example.com"]}` {
		t.Errorf("account.update before %s after %s", updates[0].Before, updates[0].After)
	}
}
