package config

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestARIRetryAfterRangeAgrees: `certgate serve --help`, the refusal of a
// value out of range and docs/configuration.md name the same range for
// ari-retry-after. The help said "1m to 24h" where the refusal and the
// docs said "between 1m and 1d".
func TestARIRetryAfterRangeAgrees(t *testing.T) {
	const want = "between 1m and 1d"
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	load := ServeFlags(fs)
	if u := fs.Lookup("ari-retry-after").Usage; !strings.Contains(u, want) {
		t.Errorf("help %q: want %q", u, want)
	}
	if err := fs.Parse([]string{"--ari-retry-after", "25h"}); err != nil {
		t.Fatal(err)
	}
	if _, err := load(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("refusal of 25h: %v; want %q", err, want)
	}
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "| `ari-retry-after` |") && !strings.Contains(strings.ToLower(strings.ReplaceAll(line, "`", "")), want) {
			t.Errorf("docs/configuration.md row %q: want %q", line, want)
		}
	}
}
