package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
)

// createOverrideSubjects stores the accounts and EAB keys (of a profile
// "p" it creates) that the rate-limit override tests name.
func createOverrideSubjects(t *testing.T, data string, accounts, kids []string) {
	t.Helper()
	if len(kids) > 0 {
		if _, _, err := runCLI(t, nil, "profile", "create", "p", "--data", data, "--validity", "30d"); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	st, err := store.Open(ctx, server.DSN(data, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	for _, id := range accounts {
		if err := st.CreateAccount(ctx, &store.Account{ID: id, KeyThumbprint: "tp-" + id, JWK: []byte(`{}`), Status: acme.StatusValid, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	for _, kid := range kids {
		if err := st.CreateEABKey(ctx, &store.EABKey{KID: kid, HMACKey: make([]byte, 32), Profile: "p", Status: store.EABActive, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRateLimitOverrideUnknownSubject: `ratelimit set` refuses an override
// for an account or EAB key the database does not hold (a typo: the
// server makes their IDs), naming the flag and the list command, and
// stores nothing; for existing ones it works, and `delete` of an override
// whose account is unknown still works. Before, the override was stored
// for nobody and the account meant kept its rate.
func TestRateLimitOverrideUnknownSubject(t *testing.T) {
	t.Setenv("CERTGATE_DB", "")
	data := t.TempDir()
	initDataDir(t, data)
	createOverrideSubjects(t, data, []string{"acct1"}, []string{"kid1"})
	for _, c := range []struct{ flag, value, want string }{
		{"--account", "acct2", `--account: there is no account "acct2" (see 'certgate account list')`},
		{"--eab", "kid2", `--eab: there is no EAB key "kid2" (see 'certgate eab list')`},
	} {
		_, _, err := runCLI(t, nil, "ratelimit", "set", "new-orders-per-account", c.flag, c.value, "--rate", "5/1h", "--data", data)
		if err == nil || err.Error() != c.want {
			t.Errorf("set %s %s: %v, want %q", c.flag, c.value, err, c.want)
		}
	}
	for _, args := range [][]string{{"--account", "acct1"}, {"--eab", "kid1"}} {
		if _, _, err := runCLI(t, nil, append([]string{"ratelimit", "set", "new-orders-per-account", "--rate", "5/1h", "--data", data}, args...)...); err != nil {
			t.Errorf("set %v: %v", args, err)
		}
	}
	out, _, err := runCLI(t, nil, "ratelimit", "list", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "acct2") || strings.Contains(out, "kid2") || !strings.Contains(out, "account:acct1") || !strings.Contains(out, "eab:kid1") {
		t.Errorf("ratelimit list:\n%s", out)
	}
}

// TestRateLimitOverrideSubjectFitsLimit: `ratelimit set` refuses a subject
// the limit never looks up (new-orders-per-account for an address,
// new-accounts-per-ip for an account, certificates-per-domain for an
// address, ...) in one line naming the flags that fit, and stores nothing;
// the subjects the RA looks up are still accepted (certificates-per-domain
// for an account). Before, such an override was stored and `set` printed
// it as set, yet it applied to nobody.
func TestRateLimitOverrideSubjectFitsLimit(t *testing.T) {
	t.Setenv("CERTGATE_DB", "")
	data := t.TempDir()
	initDataDir(t, data)
	createOverrideSubjects(t, data, []string{"acct1"}, []string{"kid1"})
	for _, c := range []struct {
		limit string
		args  []string
		want  string
	}{
		{"new-orders-per-account", []string{"--ip", "192.0.2.10"},
			"--ip: new-orders-per-account is counted per account and never looks up an override for an address: give --account or --eab (--ip applies to new-accounts-per-ip)"},
		{"pending-authorizations-per-account", []string{"--domain", "example.com"},
			"--domain: pending-authorizations-per-account is counted per account and never looks up an override for a domain: give --account or --eab (--domain applies to certificates-per-domain)"},
		{"new-accounts-per-ip", []string{"--account", "acct1"},
			"--account: new-accounts-per-ip is counted per client address and never looks up an override for an account: give --ip (--account applies to new-orders-per-account, certificates-per-domain, failed-validations-per-account, pending-authorizations-per-account)"},
		{"new-accounts-per-ip", []string{"--eab", "kid1"}, "--eab: new-accounts-per-ip is counted per client address"},
		{"certificates-per-domain", []string{"--ip", "192.0.2.10"},
			"--ip: certificates-per-domain is counted per registered domain and never looks up an override for an address: give --account, --eab or --domain (--ip applies to new-accounts-per-ip)"},
		{"failed-validations-per-account", []string{"--ip", "192.0.2.10"}, "--ip: failed-validations-per-account is counted per account"},
	} {
		args := append([]string{"ratelimit", "set", c.limit, "--rate", "5/1h", "--data", data}, c.args...)
		_, _, err := runCLI(t, nil, args...)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("set %s %v: %v, want one line starting %q", c.limit, c.args, err, c.want)
		}
	}
	for _, c := range [][]string{
		{"certificates-per-domain", "--account", "acct1"},
		{"certificates-per-domain", "--eab", "kid1"},
		{"certificates-per-domain", "--domain", "example.com"},
		{"failed-validations-per-account", "--eab", "kid1"},
		{"new-accounts-per-ip", "--ip", "192.0.2.10"},
	} {
		if _, _, err := runCLI(t, nil, append([]string{"ratelimit", "set", "--rate", "5/1h", "--data", data}, c...)...); err != nil {
			t.Errorf("set %v: %v", c, err)
		}
	}
	out, _, err := runCLI(t, nil, "ratelimit", "list", "--data", data, "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, `"subject"`); n != 5 {
		t.Errorf("ratelimit list holds %d overrides, want the 5 that fit their limit:\n%s", n, out)
	}
}
