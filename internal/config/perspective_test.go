package config

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/certgate/certgate/internal/ratelimit"
)

func resolveArgs(t *testing.T, args ...string) (*Serve, error) {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	resolve := ServeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return resolve()
}

// TestRateLimitAndPerspectiveSettings: rate limit, perspective and DNS
// resolver settings: defaults, parsing, and one clear error per
// inconsistent combination.
func TestRateLimitAndPerspectiveSettings(t *testing.T) {
	s, err := resolveArgs(t)
	if err != nil {
		t.Fatal(err)
	}
	if s.RateLimits != ratelimit.Defaults() || s.Perspectives.Roles != RoleAll || s.Perspectives.Unreachable != "fail" ||
		s.Perspectives.MaxDisagree != -1 || s.Perspectives.Timeout != 20*time.Second {
		t.Fatalf("defaults: %+v %+v", s.RateLimits, s.Perspectives)
	}
	s, err = resolveArgs(t, "--rate-limit-new-orders-per-account", "300/3h", "--rate-limit-new-accounts-per-ip", "0",
		"--perspectives", "eu=https://127.0.0.2:8444,us=https://127.0.0.3:8444", "--perspective-secret-file", "/s", "--perspective-unreachable", "ignore")
	if err != nil {
		t.Fatal(err)
	}
	if s.RateLimits.NewOrdersPerAccount != (ratelimit.Rate{Count: 300, Period: 3 * time.Hour}) || s.RateLimits.NewAccountsPerIP.Enabled() ||
		strings.Join(s.Perspectives.RemoteNames, ",") != "eu,us" || s.Perspectives.Unreachable != "ignore" {
		t.Fatalf("parsed: %+v %+v", s.RateLimits, s.Perspectives)
	}
	if s, err = resolveArgs(t, "--va-dns-resolver", "127.0.0.1:53, [::1]:53", "--va-dnssec", "--va-dns-timeout", "2s"); err != nil ||
		!s.VADNSSEC || s.VADNSTimeout != 2*time.Second || s.VADNSResolver != "127.0.0.1:53, [::1]:53" {
		t.Fatalf("DNS settings: %+v %v", s, err)
	}
	if s, err = resolveArgs(t, "--roles", "va", "--perspective", "eu1", "--perspective-secret-file", "/s"); err != nil || s.Perspectives.Name != "eu1" {
		t.Fatalf("perspective role: %+v %v", s, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--rate-limit-new-orders-per-account", "lots"}, "invalid rate"},
		{[]string{"--rate-limit-pending-authorizations-per-account", "-1"}, "must not be negative"},
		{[]string{"--rate-limit-policy-url", "docs/limits"}, "rate-limit-policy-url"},
		{[]string{"--roles", "ra"}, "roles"},
		{[]string{"--roles", "va", "--perspective-secret-file", "/s"}, "needs --perspective"},
		{[]string{"--roles", "va", "--perspective", "primary", "--perspective-secret-file", "/s"}, "needs --perspective"},
		{[]string{"--roles", "va", "--perspective", "eu1"}, "perspective-secret-file"},
		{[]string{"--perspective", "eu1"}, "only with --roles va"},
		{[]string{"--perspectives", "eu=https://x:1"}, "perspective-secret-file"},
		// Given alone it is read by nothing: refused (it was accepted,
		// whether the file exists or not).
		{[]string{"--perspective-secret-file", "/nonexistent"}, "perspective-secret-file: given, but neither perspectives nor --roles va is set"},
		{[]string{"--perspectives", "eu=http://x:1", "--perspective-secret-file", "/s"}, "NAME=https://HOST:PORT"},
		{[]string{"--perspectives", "eu=https://x:1", "--perspective-secret-file", "/s", "--perspective-unreachable", "maybe"}, "perspective-unreachable"},
		{[]string{"--perspective-max-disagree", "-2"}, "perspective-max-disagree"},
		{[]string{"--va-dnssec"}, "va-dnssec: needs va-dns-resolver"},
		{[]string{"--va-dns-resolver", "127.0.0.1:53,10.0.0.53"}, "va-dns-resolver"},
		{[]string{"--va-dns-timeout", "0s"}, "va-dns-timeout"},
	} {
		if _, err := resolveArgs(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one naming %q", c.args, err, c.want)
		}
	}
}

// TestRateLimitZeroCountRefused: a rate limit setting of 0 with a period
// ("0/1h"), which reads as a block but disabled the limit, is refused
// naming the setting, by flag, environment and YAML alike; "0" alone still
// disables the limit.
func TestRateLimitZeroCountRefused(t *testing.T) {
	for _, name := range []string{"rate-limit-new-accounts-per-ip", "rate-limit-new-orders-per-account",
		"rate-limit-certificates-per-domain", "rate-limit-failed-validations-per-account"} {
		env := "CERTGATE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		check := func(how string, err error) {
			t.Helper()
			if err == nil || !(strings.Contains(err.Error(), name) || how == "env" && strings.Contains(err.Error(), env)) || !strings.Contains(err.Error(), "write 0 alone for unlimited") ||
				strings.Contains(err.Error(), "\n") {
				t.Errorf("%s %s 0/1h: %v, want one line refusing it", how, name, err)
			}
		}
		_, err := resolveArgs(t, "--"+name, "0/1h")
		check("flag", err)
		t.Run(name, func(t *testing.T) {
			t.Setenv(env, "0/1h")
			_, err := resolveArgs(t)
			check("env", err)
		})
		_, err = resolveFile(t, name+": 0/1h\n")
		check("YAML", err)
		if s, err := resolveArgs(t, "--"+name, "0"); err != nil || s == nil {
			t.Errorf("--%s 0: %v, want the limit disabled", name, err)
		}
	}
}
