package main

import (
	"strings"
	"testing"
)

// TestListLimitRange: every list command with --limit refuses a page size
// outside 1..1000 (negative, zero, too large) with one line, instead of
// falling back to the default page.
func TestListLimitRange(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	for _, c := range [][]string{{"audit", "list"}, {"account", "list"}, {"cert", "list"}, {"report", "expiring"},
		{"report", "violations"}, {"bench", "inventory"}} {
		for _, l := range []string{"-1", "0", "1001"} {
			_, _, err := runCLI(t, nil, append(c, "--data", data, "--limit="+l)...)
			if want := "--limit " + l + ": must be 1 to 1000"; err == nil || err.Error() != want {
				t.Errorf("%s --limit %s: got %v, want %q", strings.Join(c, " "), l, err, want)
			}
		}
	}
	if _, _, err := runCLI(t, nil, "audit", "list", "--data", data, "--limit", "1000"); err != nil {
		t.Errorf("audit list --limit 1000: %v", err)
	}
}
