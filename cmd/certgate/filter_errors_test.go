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
		// The message said "(none is defined, ...)", which read as if
		// no profile at all were defined.
		const want = "--profile: no profile \"nosuch\" is defined and no certificate names it " +
			"(profile names are case-sensitive; `certgate profile list` lists them)"
		if err == nil || err.Error() != want {
			t.Errorf("%v --profile nosuch: err = %v, want %q", cmd, err, want)
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

// TestInventoryErrorsNameTheirFlag: every refused filter of `cert list`
// and the reports is named by its flag (--since, --within, --suffix,
// --sort, ...), so that a window or a value in the message says which flag
// to fix; a serial given as argument (`cert show xyz`) gets no flag. Before,
// only --profile was named (`certgate: the report window must be
// positive`, `duration "x" (e.g. 30d, 12h)` said neither --since nor
// --within).
func TestInventoryErrorsNameTheirFlag(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "issued", "--since", "x"}, `--since: invalid duration "x" (use e.g. 30d, 2w, 12h)`},
		{[]string{"report", "issued", "--since", "0d"}, `--since: invalid duration "0d" (use a positive one, e.g. 30d, 2w, 12h)`},
		{[]string{"report", "issued", "--by", "week"}, `--by: group by "week" (day, profile or issuer)`},
		{[]string{"report", "expiring", "--within", "0s"}, `--within: invalid duration "0s" (use a positive one, e.g. 30d, 2w, 12h)`},
		// A zero window was read as "no window": --expiring-within 0
		// listed every certificate.
		{[]string{"cert", "list", "--expiring-within", "0"}, `--expiring-within: invalid duration "0" (use a positive one, e.g. 30d, 2w, 12h)`},
		{[]string{"cert", "list", "--expiring-within", "-5d"}, `--expiring-within: invalid duration "-5d" (use a positive one, e.g. 30d, 2w, 12h)`},
		{[]string{"cert", "list", "--expiring-within", "20000w"}, `--expiring-within: invalid duration "20000w" (use at most 100 years, e.g. 30d, 2w)`},
		{[]string{"cert", "list", "--sort", "bogus"}, `--sort: sort "bogus" (not_after, -not_after or serial)`},
		{[]string{"cert", "list", "--cursor", "zz"}, `--cursor: malformed cursor`},
		{[]string{"cert", "list", "--attr", "nokey", "--suffix", "*.", "--serial", "xyz"},
			`--attr: attribute "nokey" is not key=value; --suffix: empty name suffix; --serial: serial "xyz" is not hexadecimal`},
		{[]string{"cert", "list", "--status", "revoked", "--expiring-within", "3d"}, `--status: an expiry window selects valid certificates, not revoked ones`},
		{[]string{"cert", "list", "--suffix", "0.0.1"},
			`--suffix: name suffix "0.0.1" ends in a number: an IP address, not a domain (an address is found by a name search: --name, ?name=, or "name (exact)" in the dashboard)`},
		{[]string{"cert", "list", "--suffix", "..example.com"}, `--suffix: name suffix "..example.com" has an empty label`},
		{[]string{"cert", "show", "xyz"}, `serial "xyz" is not hexadecimal`},
	} {
		_, _, err := runCLI(t, nil, append(tc.args, "--data", data)...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestEmptyFlagIsDefault: an empty --status (approval list), --within
// (report expiring), --by or --since (report issued) is the flag's
// default, as the same empty query parameter of the admin API is
// (GET /api/v1/approvals?status=, /reports/expiring?within=,
// /reports/issued?by=&since=); the CLI refused them.
func TestEmptyFlagIsDefault(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	for _, tc := range []struct{ empty, dflt []string }{
		{[]string{"approval", "list", "--status", ""}, []string{"approval", "list"}},
		{[]string{"report", "expiring", "--within", ""}, []string{"report", "expiring"}},
		{[]string{"report", "issued", "--by", "", "--since", ""}, []string{"report", "issued"}},
	} {
		want, _, err := runCLI(t, nil, append(tc.dflt, "--data", data)...)
		if err != nil {
			t.Fatalf("%v: %v", tc.dflt, err)
		}
		got, _, err := runCLI(t, nil, append(tc.empty, "--data", data)...)
		if err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q as %v", tc.empty, got, err, want, tc.dflt)
		}
	}
}

// TestBadFilterNamedWithoutDatabase: a filter that needs no database to
// be refused (--status, --sort, --within, --limit) is named even where no
// certgate database is (a newcomer running `cert list` outside the data
// directory), before "no certgate database"; one that needs the database
// (--profile, whose existence is looked up) gets the database error.
func TestBadFilterNamedWithoutDatabase(t *testing.T) {
	data := filepath.Join(t.TempDir(), "none")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cert", "list", "--status", "bogus"}, `--status: status "bogus" (valid, revoked or expired)`},
		{[]string{"report", "expiring", "--within", "3x", "--sort", "x"},
			`--within: invalid duration "3x" (use e.g. 30d, 2w, 12h); --sort: sort "x" (not_after, -not_after or serial)`},
		{[]string{"cert", "list", "--source", "elsewhere"}, `--source: source "elsewhere" (issued, imported, discovered or listener)`},
		{[]string{"cert", "list", "--limit", "0"}, `--limit 0: must be 1 to 1000`},
		{[]string{"cert", "list", "--profile", "nosuch"}, `no certgate database`},
	} {
		_, _, err := runCLI(t, nil, append(tc.args, "--data", data)...)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}
