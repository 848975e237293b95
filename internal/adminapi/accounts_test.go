package adminapi

import (
	"context"
	"maps"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestAccountViewShowsEABAndAttributes: list and show name the EAB key
// that bound an account, that key's owner, and the account's custom
// attributes; an account without EAB has none and an empty attribute
// object.
func TestAccountViewShowsEABAndAttributes(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	ctx := context.Background()
	reader := f.tokens[auth.RoleAuditor]
	if err := f.st.CreateEABKey(ctx, &store.EABKey{KID: "kid-billing", HMACKey: []byte("k"), Profile: "default", Owner: "team-billing",
		Status: store.EABUsed, CreatedAt: f.now}); err != nil {
		t.Fatal(err)
	}
	attrs := map[string]string{"billing_code": "CC-1", "env": "prod"}
	if err := f.st.CreateAccount(ctx, &store.Account{ID: "a-eab", KeyThumbprint: "tp-eab", JWK: []byte(`{}`), Status: acme.StatusValid,
		CreatedAt: f.now, EABKid: "kid-billing", Attributes: attrs}); err != nil {
		t.Fatal(err)
	}
	plain, _ := f.account()

	got := decode[Account](t, f.do("GET", "/api/v1/accounts/a-eab", reader, nil))
	if got.EABKid != "kid-billing" || got.EABOwner != "team-billing" || !maps.Equal(got.Attributes, attrs) {
		t.Errorf("GET account = %+v, want EAB kid-billing (team-billing) and attributes %v", got, attrs)
	}
	r := f.do("GET", "/api/v1/accounts", reader, nil)
	list := decode[struct{ Items []Account }](t, r)
	seen := 0
	for _, a := range list.Items {
		switch a.ID {
		case "a-eab":
			seen++
			if a.EABKid != "kid-billing" || a.EABOwner != "team-billing" || !maps.Equal(a.Attributes, attrs) {
				t.Errorf("listed %+v", a)
			}
		case plain:
			seen++
			if a.EABKid != "" || a.EABOwner != "" || a.Attributes == nil || len(a.Attributes) != 0 {
				t.Errorf("account without EAB listed as %+v", a)
			}
		}
	}
	if seen != 2 {
		t.Errorf("list %s lacks the accounts", r.body)
	}
}
