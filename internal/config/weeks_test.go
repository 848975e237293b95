package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWeeksEverywhere: every duration setting of serve — flags, CERTGATE_*
// variables and the YAML file (cert-validity, authz-reuse,
// caa-recheck-after) and rate limit periods — takes weeks ("2w", "1w3d",
// "2w12h") as `report expiring --within` does; before, only days did, and
// "2w" was an invalid duration.
func TestWeeksEverywhere(t *testing.T) {
	const week = 7 * 24 * time.Hour
	for in, want := range map[string]time.Duration{"2w": 2 * week, "1w3d": week + 72*time.Hour, "2w12h": 2*week + 12*time.Hour,
		"1w2d3h": week + 51*time.Hour, "0w": 0, "15250w": 15250 * week} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"1d1w", "5h1w", "1.5w", "w", "1w1w", "-1w", "1w-2d", "15251w"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
	s, err := resolveArgs(t, "--cert-validity", "2w", "--authz-reuse", "1w3d", "--caa-recheck-after", "0w",
		"--rate-limit-new-orders-per-account", "50/1w")
	if err != nil {
		t.Fatal(err)
	}
	if s.CertValidity != 2*week || s.AuthzReuse != 10*24*time.Hour || s.CAARecheckAfter != 0 ||
		s.RateLimits.NewOrdersPerAccount.Count != 50 || s.RateLimits.NewOrdersPerAccount.Period != week {
		t.Errorf("flags: cert-validity %v, authz-reuse %v, caa-recheck-after %v, new orders %+v", s.CertValidity, s.AuthzReuse,
			s.CAARecheckAfter, s.RateLimits.NewOrdersPerAccount)
	}
	t.Setenv("CERTGATE_AUTHZ_REUSE", "2w")
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("cert-validity: 1w\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err = resolveArgs(t, "--config", file); err != nil {
		t.Fatal(err)
	}
	if s.AuthzReuse != 2*week || s.CertValidity != week {
		t.Errorf("environment and file: authz-reuse %v, cert-validity %v; want 2w, 1w", s.AuthzReuse, s.CertValidity)
	}
}
