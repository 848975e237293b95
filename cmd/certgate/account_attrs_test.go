package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
)

// TestAttributeArgsValidation: `account set-attributes` and `eab create
// --attr` refuse bad names, empty values, repeated keys and attributes no
// profile accepts, each with one line; the EAB key error names the key
// being created, not the newOrder payload.
func TestAttributeArgsValidation(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	if _, _, err := runCLI(t, nil, "profile", "create", "partners", "--data", data, "--validity", "30d", "--optional-attr", "owner"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, server.DSN(data, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	if err := st.CreateAccount(ctx, &store.Account{ID: "acct1", KeyThumbprint: "tp1", JWK: []byte(`{}`), Status: acme.StatusValid, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	k := &store.EABKey{KID: "kid-p", HMACKey: make([]byte, 32), Profile: "partners", Status: store.EABActive, CreatedAt: now}
	if err := st.CreateEABKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAccountEAB(ctx, &store.Account{ID: "acct2", KeyThumbprint: "tp2", JWK: []byte(`{}`), Status: acme.StatusValid,
		CreatedAt: now, EABKid: "kid-p"}, now, nil); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"acct1", "owner="}, `"owner=": empty value`},
		{[]string{"acct1", "bad key=x"}, `invalid attribute name "bad key"`},
		{[]string{"acct1", "owner=x", "owner=y"}, `"owner=y": attribute owner given twice (also owner=x)`},
		{[]string{"acct1", "OWNER=x"}, "attribute OWNER: no profile declares it (declared: owner); declare it in a profile first"},
		{[]string{"acct2", "OWNER=x"}, "profile partners: attributes not defined by the profile: OWNER (account acct2 is bound to EAB key kid-p"},
		{[]string{"nope", "owner=x"}, `there is no account "nope"`},
		// --clear with pairs: it set the pairs (which replace every
		// attribute anyway), whichever of the two was meant.
		{[]string{"acct1", "--clear", "owner=x"}, "give key=value pairs (they replace every attribute) or --clear (to remove them all), not both"},
	} {
		_, _, err := runCLI(t, nil, append([]string{"account", "set-attributes", "--data", data}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("set-attributes %q: got %v, want one line containing %q", tc.args, err, tc.want)
		}
	}
	for _, id := range []string{"acct1", "acct2"} {
		a, err := st.GetAccount(ctx, id)
		if err != nil || len(a.Attributes) != 0 {
			t.Errorf("account %s after refused calls: %v, %v", id, a, err)
		}
		if out, _, err := runCLI(t, nil, "account", "set-attributes", id, "owner=team-a", "--data", data); err != nil || !strings.Contains(out, "owner=team-a") {
			t.Errorf("set-attributes %s owner=team-a: %q, %v", id, out, err)
		}
	}

	for _, tc := range []struct {
		attr, want string
	}{
		{"foo=bar", "profile partners: attributes not defined by the profile: foo (in the EAB key being created: declare them in the profile, or leave them out"},
		{"owner=", `--attr "owner=": empty value`},
		{"bad key=x", `--attr "bad key=x": invalid attribute name`},
	} {
		_, _, err := runCLI(t, nil, "eab", "create", "--profile", "partners", "--attr", tc.attr, "--data", data)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "newOrder") {
			t.Errorf("eab create --attr %s: got %v, want %q", tc.attr, err, tc.want)
		}
	}
	if _, _, err := runCLI(t, nil, "eab", "create", "--profile", "partners", "--attr", "owner=a", "--attr", "owner=b", "--data", data); err == nil ||
		!strings.Contains(err.Error(), "given twice") {
		t.Errorf("eab create with a repeated --attr: %v", err)
	}
}

// TestAccountAttributeValueOfSeveralProfiles: for an account without an
// EAB key, a value no profile accepts is refused with the values of every
// profile that declares the attribute, in one line; a value one of them
// accepts is set. Before, only the first declaring profile's values were
// named (here release, nightly), hiding that prod is accepted too.
func TestAccountAttributeValueOfSeveralProfiles(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	for name, enum := range map[string]string{"build": "[release, nightly]", "web": "[prod, staging, test]"} {
		file := data + "/" + name + ".yaml"
		body := "name: " + name + "\nvalidity: 30d\nattributes:\n  - name: environment\n    enum: " + enum + "\n"
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := runCLI(t, nil, "profile", "create", "--file", file, "--data", data); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	st, err := store.Open(ctx, server.DSN(data, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateAccount(ctx, &store.Account{ID: "acct1", KeyThumbprint: "tp1", JWK: []byte(`{}`), Status: acme.StatusValid, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, nil, "account", "set-attributes", "--data", data, "acct1", "environment=bogus")
	want := `attribute environment: no profile that declares it accepts "bogus": profile build: invalid attribute values: environment (one of release, nightly); profile web: invalid attribute values: environment (one of prod, staging, test)`
	if err == nil || err.Error() != want {
		t.Errorf("set-attributes environment=bogus: %v, want %q", err, want)
	}
	if out, _, err := runCLI(t, nil, "account", "set-attributes", "--data", data, "acct1", "environment=prod"); err != nil || !strings.Contains(out, "environment=prod") {
		t.Errorf("set-attributes environment=prod: %q, %v", out, err)
	}
}
