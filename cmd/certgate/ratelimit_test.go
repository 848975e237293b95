package main

import (
	"strings"
	"testing"
)

// TestRateLimitOverrideCLI sets, lists and deletes overrides in a data
// directory's database, and refuses unknown limits, missing or several
// subjects, and bad rates with one line each.
func TestRateLimitOverrideCLI(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	for _, args := range [][]string{
		{"set", "new-orders-per-account", "--account", "acct1", "--rate", "500/1h", "--comment", "build farm"},
		{"set", "certificates-per-domain", "--domain", "www.example.co.uk", "--rate", "0"},
		{"set", "pending-authorizations-per-account", "--eab", "kid1", "--rate", "2500"},
	} {
		if _, _, err := runCLI(t, nil, append(append([]string{"ratelimit"}, args...), "--data", data)...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	out, _, err := runCLI(t, nil, "ratelimit", "list", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"account:acct1", "500/1h", "build farm",
		"certificates-per-domain", "domain:example.co.uk", "unlimited", "eab:kid1", "2500"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := runCLI(t, nil, "ratelimit", "delete", "new-orders-per-account", "--account", "acct1", "--data", data); err != nil {
		t.Fatal(err)
	}
	out, _, _ = runCLI(t, nil, "ratelimit", "list", "--data", data, "--format", "json")
	if strings.Contains(out, "acct1") || !strings.Contains(out, `"subject": "eab:kid1"`) {
		t.Errorf("after delete, list shows:\n%s", out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"set", "bogus", "--account", "a", "--rate", "1/1h"}, "unknown limit"},
		{[]string{"set", "new-orders-per-account", "--rate", "1/1h"}, "exactly one of"},
		{[]string{"set", "new-orders-per-account", "--account", "a", "--ip", "192.0.2.1", "--rate", "1/1h"}, "exactly one of"},
		{[]string{"set", "new-orders-per-account", "--account", "a", "--rate", "lots"}, "invalid rate"},
		{[]string{"delete", "new-orders-per-account", "--account", "acct1"}, "not found"},
	} {
		_, _, err := runCLI(t, nil, append(append([]string{"ratelimit"}, c.args...), "--data", data)...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line containing %q", c.args, err, c.want)
		}
	}
}
