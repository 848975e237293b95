package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
)

// TestRateLimitOverrideCLI sets, lists and deletes overrides in a data
// directory's database, and refuses unknown limits, missing or several
// subjects, and bad rates with one line each.
func TestRateLimitOverrideCLI(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	createOverrideSubjects(t, data, []string{"acct1"}, []string{"kid1"})
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
	if out, _, err := runCLI(t, nil, "ratelimit", "delete", "new-orders-per-account", "--account", "acct1", "--data", data); err != nil ||
		out != "deleted the new-orders-per-account override for account:acct1: the configured rate applies again\n" {
		t.Fatalf("ratelimit delete: %q, %v", out, err)
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
		{[]string{"delete", "new-orders-per-account", "--account", "acct1"}, "there is no new-orders-per-account override for account:acct1"},
		{[]string{"set", "new-accounts-per-ip", "--ip", "10.0.0.0/8", "--rate", "0"}, "--ip"},
		{[]string{"set", "new-accounts-per-ip", "--ip", "2001:db8::/48", "--rate", "0"}, "--ip"},
		{[]string{"set", "new-accounts-per-ip", "--ip", "proxy.example.com", "--rate", "0"}, "--ip"},
		{[]string{"set", "certificates-per-domain", "--domain", "ex ample.com", "--rate", "0"}, "--domain"},
	} {
		_, _, err := runCLI(t, nil, append(append([]string{"ratelimit"}, c.args...), "--data", data)...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line containing %q", c.args, err, c.want)
		}
	}
}

// TestRateLimitOverrideSubjectsNormalized: an override is stored under the
// key the limiter computes for a client (ratelimit.IPKey, the A-label
// registered domain), whatever spelling the command was given; an IPv6
// address, upper-case IPv6 or a U-label domain was stored verbatim and so
// never applied to any client.
func TestRateLimitOverrideSubjectsNormalized(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	for _, c := range []struct {
		limit, flag, value, want string
	}{
		{"new-accounts-per-ip", "--ip", "2001:DB8:1:2::abcd", "ip:2001:db8:1:2::/64"},
		{"new-accounts-per-ip", "--ip", "2001:db8:1:3:0:0:0:0/64", "ip:2001:db8:1:3::/64"},
		{"new-accounts-per-ip", "--ip", "::ffff:192.0.2.10", "ip:192.0.2.10"},
		{"certificates-per-domain", "--domain", "WWW.Bücher.Example.co.uk", "domain:example.co.uk"},
		{"certificates-per-domain", "--domain", "www.bücher.example", "domain:xn--bcher-kva.example"},
	} {
		out, _, err := runCLI(t, nil, "ratelimit", "set", c.limit, c.flag, c.value, "--rate", "0", "--data", data)
		if err != nil {
			t.Fatalf("%s %s: %v", c.flag, c.value, err)
		}
		if !strings.Contains(out, " "+c.want+":") {
			t.Errorf("%s %s: %q, want the subject %s", c.flag, c.value, out, c.want)
		}
	}
}

// TestRateLimitDeleteVerbatimOverride: an override stored under the --ip
// value as typed (before --ip was normalized) is still deleted by that
// value, though `set` would now refuse or normalize it.
func TestRateLimitDeleteVerbatimOverride(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	st, err := store.OpenSQLite(context.Background(), filepath.Join(data, "certgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{"ip:10.0.0.0/8", "ip:2001:db8::5"} {
		o := store.RateLimitOverride{Limit: "new-accounts-per-ip", Subject: subject, Period: time.Hour, CreatedAt: time.Now().UTC()}
		if err := st.SetRateLimitOverride(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	for _, ip := range []string{"10.0.0.0/8", "2001:db8::5"} {
		if _, _, err := runCLI(t, nil, "ratelimit", "delete", "new-accounts-per-ip", "--ip", ip, "--data", data); err != nil {
			t.Errorf("delete --ip %s: %v", ip, err)
		}
	}
	out, _, _ := runCLI(t, nil, "ratelimit", "list", "--data", data)
	if strings.Contains(out, "ip:") {
		t.Errorf("after deleting, list shows:\n%s", out)
	}
}

// TestRateLimitListMarksNeverApplied: `ratelimit list` marks the overrides
// an older version stored that their limit never looks up — a subject of a
// kind the limit does not count (new-orders-per-account for an address,
// new-accounts-per-ip for an account), an --ip stored as typed — with
// "never applied: ..." and the delete command that removes them (a NOTE
// column; never_applied in JSON), and leaves the others unmarked.
func TestRateLimitListMarksNeverApplied(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	st, err := store.OpenSQLite(context.Background(), filepath.Join(data, "certgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range [][2]string{
		{"new-orders-per-account", "ip:192.0.2.10"},
		{"new-accounts-per-ip", "account:acct1"},
		{"certificates-per-domain", "ip:192.0.2.11"},
		{"new-accounts-per-ip", "ip:10.0.0.0/8"},
		{"new-accounts-per-ip", "ip:2001:db8::5"},
		{"new-accounts-per-ip", "ip:192.0.2.12"},            // applies
		{"certificates-per-domain", "domain:example.co.uk"}, // applies
		{"new-orders-per-account", "eab:kid1"},              // applies
	} {
		ov := store.RateLimitOverride{Limit: o[0], Subject: o[1], Count: 5, Period: time.Hour, CreatedAt: time.Now().UTC()}
		if err := st.SetRateLimitOverride(context.Background(), ov); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	want := map[string]string{
		"new-orders-per-account ip:192.0.2.10": "never applied: new-orders-per-account never looks up an override for an address (only --account, --eab) " +
			"(delete: certgate ratelimit delete new-orders-per-account --ip 192.0.2.10)",
		"new-accounts-per-ip account:acct1": "never applied: new-accounts-per-ip never looks up an override for an account (only --ip) " +
			"(delete: certgate ratelimit delete new-accounts-per-ip --account acct1)",
		"certificates-per-domain ip:192.0.2.11": "never applied: certificates-per-domain never looks up an override for an address (only --account, --eab, --domain) " +
			"(delete: certgate ratelimit delete certificates-per-domain --ip 192.0.2.11)",
		"new-accounts-per-ip ip:10.0.0.0/8": "never applied: stored as typed by an older version, no client address is counted under it " +
			"(delete: certgate ratelimit delete new-accounts-per-ip --ip 10.0.0.0/8)",
		"new-accounts-per-ip ip:2001:db8::5": "never applied: stored as typed by an older version, clients are counted as ip:2001:db8::/64 " +
			"(delete: certgate ratelimit delete new-accounts-per-ip --ip 2001:db8::5)",
	}
	out, _, err := runCLI(t, nil, "ratelimit", "list", "--data", data, "--format", "json")
	var views []overrideView
	if err != nil || json.Unmarshal([]byte(out), &views) != nil || len(views) != 8 {
		t.Fatalf("list --format json: %v\n%s", err, out)
	}
	for _, v := range views {
		if got := v.NeverApplied; got != want[v.Limit+" "+v.Subject] {
			t.Errorf("%s %s: never_applied %q, want %q", v.Limit, v.Subject, got, want[v.Limit+" "+v.Subject])
		}
	}
	out, _, err = runCLI(t, nil, "ratelimit", "list", "--data", data)
	if err != nil || !strings.Contains(strings.SplitN(out, "\n", 2)[0], "NOTE") || strings.Count(out, "never applied: ") != 5 {
		t.Fatalf("list table: %v\n%s", err, out)
	}
	// Each note's delete command removes its override.
	for k, note := range want {
		cmd := strings.TrimSuffix(note[strings.Index(note, "(delete: certgate ")+len("(delete: certgate "):], ")")
		if _, _, err := runCLI(t, nil, append(strings.Fields(cmd), "--data", data)...); err != nil {
			t.Errorf("%s: %s: %v", k, cmd, err)
		}
	}
	out, _, err = runCLI(t, nil, "ratelimit", "list", "--data", data)
	if err != nil || strings.Contains(out, "NOTE") || strings.Count(out, "\n") != 4 {
		t.Errorf("list after deleting the never-applied overrides: %v\n%s", err, out)
	}
}

// TestRateLimitDeleteNeverAppliedBesideApplied: an --ip override an older
// version stored as typed (ip:2001:db8::5) beside the normalized one that
// applies (ip:2001:db8::/64): the delete command `ratelimit list` prints
// for the never-applied one removes it, not the one that applies, and the
// value list shows for the applying one removes that one.
func TestRateLimitDeleteNeverAppliedBesideApplied(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	st, err := store.OpenSQLite(context.Background(), filepath.Join(data, "certgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{"ip:2001:db8::5", "ip:2001:db8::/64"} {
		ov := store.RateLimitOverride{Limit: "new-accounts-per-ip", Subject: subject, Count: 5, Period: time.Hour, CreatedAt: time.Now().UTC()}
		if err := st.SetRateLimitOverride(context.Background(), ov); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	list := func() map[string]string {
		out, _, err := runCLI(t, nil, "ratelimit", "list", "--data", data, "--format", "json")
		var views []overrideView
		if err != nil || json.Unmarshal([]byte(out), &views) != nil {
			t.Fatalf("list: %v\n%s", err, out)
		}
		m := map[string]string{}
		for _, v := range views {
			m[v.Subject] = v.NeverApplied
		}
		return m
	}
	note := list()["ip:2001:db8::5"]
	i := strings.Index(note, "(delete: certgate ")
	if i < 0 {
		t.Fatalf("never_applied of ip:2001:db8::5: %q", note)
	}
	cmd := strings.TrimSuffix(note[i+len("(delete: certgate "):], ")")
	if _, _, err := runCLI(t, nil, append(strings.Fields(cmd), "--data", data)...); err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	if got := list(); len(got) != 1 || !hasKeyEmpty(got, "ip:2001:db8::/64") {
		t.Fatalf("after %q: overrides %v, want only ip:2001:db8::/64 (applies)", cmd, got)
	}
	if _, _, err := runCLI(t, nil, "ratelimit", "delete", "new-accounts-per-ip", "--ip", "2001:db8::/64", "--data", data); err != nil {
		t.Fatal(err)
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("after deleting 2001:db8::/64: overrides %v", got)
	}
}

// hasKeyEmpty reports whether m has k with the value "".
func hasKeyEmpty(m map[string]string, k string) bool {
	v, ok := m[k]
	return ok && v == ""
}

// TestRateLimitSetCountLimitRefusesPeriod: pending-authorizations-per-account
// is a count, so `ratelimit set` refuses a COUNT/PERIOD for it in one line,
// as serve refuses one for its setting, and stores nothing; it took 5/1h as
// 5, dropping the period without a word.
func TestRateLimitSetCountLimitRefusesPeriod(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	createOverrideSubjects(t, data, []string{"acct1"}, nil)
	for _, c := range []struct{ rate, want string }{
		{"5/1h", `--rate "5/1h": pending-authorizations-per-account is a count of pending authorizations, not a rate: give the count alone, without a period (e.g. --rate 5; 0 = unlimited)`},
		{"x/1h", `--rate "x/1h": pending-authorizations-per-account is a count of pending authorizations, not a rate: give the count alone, without a period (e.g. --rate 500; 0 = unlimited)`},
	} {
		out, _, err := runCLI(t, nil, "ratelimit", "set", "pending-authorizations-per-account", "--account", "acct1", "--rate", c.rate, "--data", data)
		if err == nil || err.Error() != c.want || out != "" {
			t.Errorf("--rate %s: %q, %v; want the error %q", c.rate, out, err, c.want)
		}
	}
	list, _, _ := runCLI(t, nil, "ratelimit", "list", "--data", data, "--format", "json")
	if strings.Contains(list, "pending-authorizations") {
		t.Errorf("a refused set stored an override:\n%s", list)
	}
	if out, _, err := runCLI(t, nil, "ratelimit", "set", "pending-authorizations-per-account", "--account", "acct1", "--rate", "5", "--data", data); err != nil ||
		out != "pending-authorizations-per-account for account:acct1: 5\n" {
		t.Errorf("--rate 5: %q, %v", out, err)
	}
}
