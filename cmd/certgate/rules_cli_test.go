package main

import (
	"strings"
	"testing"
)

// TestCLIRefusesUnmatchableRules: profile create/update and eab create
// refuse an identifier rule no name can match, with one line naming the
// rule, and store nothing; eab create for a profile that does not exist
// is one line naming it.
func TestCLIRefusesUnmatchableRules(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"profile", "create", "web", "--validity", "30d", "--allow", "*.example.com", "--allow", "a..example.com"},
			`profile web: allow: identifier rule "a..example.com" can match no name: empty label`},
		{[]string{"profile", "create", "web", "--validity", "30d", "--deny", "bad_name.example.com"},
			`profile web: deny: identifier rule "bad_name.example.com" can match no name: only letters, digits and hyphens`},
		{[]string{"eab", "create", "--allow", "*.ex ample.com"}, `identifier rule "*.ex ample.com" can match no name`},
		{[]string{"eab", "create", "--profile", "nosuch"}, `there is no profile "nosuch"`},
	} {
		_, _, err := runCLI(t, nil, append(tc.args, "--data", data)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v, want one line with %q", tc.args, err, tc.want)
		}
	}
	if out, _, err := runCLI(t, nil, "profile", "list", "--data", data); err != nil || strings.Contains(out, "web") {
		t.Errorf("a refused profile was stored: %q %v", out, err)
	}
	if _, _, err := runCLI(t, nil, "profile", "create", "web", "--validity", "30d", "--allow", "*.example.com", "--data", data); err != nil {
		t.Fatal(err)
	}
	_, _, err := runCLI(t, nil, "profile", "update", "web", "--pre-authorize", "x.-bad.example.com", "--data", data)
	if want := `profile web: preAuthorized: identifier rule "x.-bad.example.com" can match no name`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("profile update: %v, want %q", err, want)
	}
}
