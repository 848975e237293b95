package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestUnknownProfileFlagRefused: `cert list` and the reports refuse a
// --profile that names no profile (a typo) with one line naming
// --profile, rather than printing an empty listing; the default profile
// and the profile an imported certificate carries are accepted.
func TestUnknownProfileFlagRefused(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	for _, cmd := range [][]string{{"cert", "list"}, {"report", "expiring"}, {"report", "weak-keys"}, {"report", "violations"}} {
		_, _, err := runCLI(t, nil, append(cmd, "--data", data, "--profile", "nosuch")...)
		if err == nil || !strings.HasPrefix(err.Error(), `--profile: no profile "nosuch"`) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v --profile nosuch: err = %v, want one line naming --profile", cmd, err)
		}
		if _, _, err := runCLI(t, nil, append(cmd, "--data", data, "--profile", "default")...); err != nil {
			t.Errorf("%v --profile default: %v", cmd, err)
		}
	}
}

// TestCertListNamesEveryBadFlag: `cert list` with several bad filters
// names each of them, on one line.
func TestCertListNamesEveryBadFlag(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	_, _, err := runCLI(t, nil, "cert", "list", "--data", data, "--suffix", "*.", "--serial", "xyz", "--profile", "nosuch")
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "empty name suffix") ||
		!strings.Contains(err.Error(), `serial "xyz" is not hexadecimal`) || !strings.Contains(err.Error(), "--profile") {
		t.Errorf("err = %v, want one line naming the suffix, the serial and --profile", err)
	}
}

// TestReportNamesEveryBadFlag: the filters a command parses itself
// (--attr, --expiring-within, the expiring report's --within) are named
// together with those the inventory refuses, on one line.
func TestReportNamesEveryBadFlag(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"cert", "list", "--attr", "nokey", "--expiring-within", "soon", "--serial", "xyz"},
			[]string{`attribute "nokey" is not key=value`, `duration "soon"`, `serial "xyz"`}},
		{[]string{"report", "expiring", "--within", "soon", "--profile", "nosuch"}, []string{`duration "soon"`, "--profile"}},
		{[]string{"report", "violations", "--attr", "nokey", "--profile", "nosuch"}, []string{`attribute "nokey"`, "--profile"}},
	} {
		_, _, err := runCLI(t, nil, append(tc.args, "--data", data)...)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: err = %v, want one line", tc.args, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %q lacks %q", tc.args, err, w)
			}
		}
	}
}
