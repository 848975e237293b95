package config

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestServeZeroMeaningAgrees: for every serve setting whose value 0 has a
// meaning of its own, `certgate serve --help`, docs/configuration.md, the
// refusal of a value out of range and the behaviour say the same thing.
// The rate limits' help and documentation said "0 disables" where their
// parser (and `certgate ratelimit set`) said "0 = unlimited";
// caa-recheck-after's refusal said "0 re-checks" where its help said "0
// checks". A setting whose help or documentation names a 0 and is not
// listed here fails the test, so a new one is checked too.
func TestServeZeroMeaningAgrees(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		if m := regexp.MustCompile("^\\| `([a-z0-9-]+)` \\|").FindStringSubmatch(line); m != nil {
			rows[m[1]] = strings.ReplaceAll(line, "`", "")
		}
	}
	const unlimited = "0 = unlimited"
	zero := map[string]struct {
		phrase string // in the help, the docs row and the refusal
		bad    string // a value refused, whose error names the phrase
		check  func(*Serve) bool
	}{
		"rate-limit-new-accounts-per-ip":                {unlimited, "x", func(s *Serve) bool { return !s.RateLimits.NewAccountsPerIP.Enabled() }},
		"rate-limit-new-orders-per-account":             {unlimited, "x", func(s *Serve) bool { return !s.RateLimits.NewOrdersPerAccount.Enabled() }},
		"rate-limit-certificates-per-domain":            {unlimited, "x", func(s *Serve) bool { return !s.RateLimits.CertificatesPerDomain.Enabled() }},
		"rate-limit-failed-validations-per-account":     {unlimited, "x", func(s *Serve) bool { return !s.RateLimits.FailedValidationsPerAccount.Enabled() }},
		"rate-limit-pending-authorizations-per-account": {unlimited, "-1", func(s *Serve) bool { return s.RateLimits.PendingAuthorizationsPerAccount == 0 }},
		"authz-reuse":       {"0 disables", "-1s", func(s *Serve) bool { return s.AuthzReuse == 0 }},
		"caa-recheck-after": {"0 checks at every finalize", "-1s", func(s *Serve) bool { return s.CAARecheckAfter == 0 }},
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	ServeFlags(fs)
	mentionsZero := regexp.MustCompile(`(^|[^-./\w])0( |\)|;|$)`)
	fs.VisitAll(func(f *pflag.Flag) {
		z, ok := zero[f.Name]
		if !ok {
			// perspective-max-disagree's "0 of 1" is a count of the BR table.
			if f.Name != "perspective-max-disagree" && (mentionsZero.MatchString(f.Usage) || mentionsZero.MatchString(rows[f.Name])) {
				t.Errorf("--%s: its help or docs/configuration.md names a 0 (%q; %q): add it to this test", f.Name, f.Usage, rows[f.Name])
			}
			return
		}
		if !strings.Contains(f.Usage, z.phrase) {
			t.Errorf("--%s help %q: want %q", f.Name, f.Usage, z.phrase)
		}
		if !strings.Contains(rows[f.Name], z.phrase) {
			t.Errorf("docs/configuration.md, %s: %q: want %q", f.Name, rows[f.Name], z.phrase)
		}
		for _, other := range []string{"0 disables", unlimited, "0 re-checks"} {
			if other != z.phrase && (strings.Contains(f.Usage, other) || strings.Contains(rows[f.Name], other)) {
				t.Errorf("--%s: help %q or docs %q also say %q", f.Name, f.Usage, rows[f.Name], other)
			}
		}
		// The value 0 is taken, with the meaning said.
		fs0 := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		resolve := ServeFlags(fs0)
		if err := fs0.Parse([]string{"--" + f.Name, "0"}); err != nil {
			t.Fatalf("--%s 0: %v", f.Name, err)
		}
		s, err := resolve()
		if err != nil || !z.check(s) {
			t.Errorf("--%s 0: %v, or not what the help says (%s)", f.Name, err, z.phrase)
		}
		// A refused value's error says the same.
		fsBad := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		resolve = ServeFlags(fsBad)
		err = fsBad.Parse([]string{"--" + f.Name, z.bad})
		if err == nil {
			_, err = resolve()
		}
		want := z.phrase
		if want == unlimited {
			want = "unlimited"
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--%s %s: %v, want an error naming %q", f.Name, z.bad, err, want)
		}
	})
}
