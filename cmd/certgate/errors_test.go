package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRuntimeErrorsAreOneClearLine: bad flag values, arguments and files,
// and objects that do not exist, each give one line that says what is
// wrong in the command's terms: no strconv or yaml function, Go type or
// package sentinel ("auth: ", "store: not found", "inventory: invalid
// request: ") in it.
func TestRuntimeErrorsAreOneClearLine(t *testing.T) {
	data := filepath.Join(t.TempDir(), "d")
	initDataDir(t, data)
	dir := t.TempDir()
	profile := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(profile, []byte("name: p1\nvalidity: 30d\nmaxValidty: 10d\nwildcard: maybe\nkeyTypes: ecdsa-p256\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(dir, "list.yaml")
	if err := os.WriteFile(list, []byte("- a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, nil, "token", "create", "--role", "auditor", "--name", "taken", "--data", data); err != nil {
		t.Fatal(err)
	}
	internals := regexp.MustCompile(`strconv\.|Parse(Int|Bool|Float)|invalid syntax|not found in type|policy\.|!!str|auth: |store: |inventory: |time: |^EOF$|: EOF`)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"account", "list", "--limit", "abc"}, `invalid argument "abc" for "--limit" flag: not a whole number`},
		{[]string{"account", "list", "--limit", "99999999999999999999"}, `invalid argument "99999999999999999999" for "--limit" flag: out of range`},
		{[]string{"token", "list", "--all=maybe"}, `invalid argument "maybe" for "--all" flag: use true or false`},
		{[]string{"audit", "list", "--before", "x"}, `invalid argument "x" for "--before" flag: not a whole number`},
		{[]string{"audit", "list", "--before", "-3"}, `--before -3: must be a seq of 1 or more`},
		{[]string{"account", "list", "--cursor", "!!!"}, `--cursor "!!!": not an account ID`},
		{[]string{"account", "list", "extra"}, `account list: takes no arguments, received "extra" (usage: certgate account list [flags])`},
		{[]string{"cert", "show", "nope"}, `serial "nope" is not hexadecimal`},
		{[]string{"cert", "list", "--cursor", "garbage"}, `malformed cursor`},
		{[]string{"report", "expiring", "--within", "abc"}, `invalid duration "abc" (use e.g. 30d, 2w, 12h)`},
		{[]string{"token", "create", "--role", "admin", "--name", "taken"}, `an unrevoked token is already named "taken"`},
		{[]string{"token", "revoke", "nope"}, `there is no token with ID "nope", nor an unrevoked one named so`},
		{[]string{"ratelimit", "delete", "new-orders-per-account", "--account", "nope"}, `there is no new-orders-per-account override for account:nope`},
		{[]string{"profile", "create", "--file", profile}, `line 3: unknown field "maxValidty" (docs/profiles.md lists the fields); line 4: "maybe" where true or false is expected; line 5: "ecdsa-p256" where a list is expected`},
		{[]string{"profile", "create", "--file", list}, `line 1: a list where a mapping of profile fields (name: ..., validity: ...) is expected`},
		{[]string{"profile", "create", "--file", empty}, `is empty`},
	} {
		_, _, err := runCLI(t, nil, append(tc.args, "--data", data)...)
		if err == nil {
			t.Errorf("%v: no error", tc.args)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") || internals.MatchString(msg) {
			t.Errorf("%v:\n got %s\nwant one line with %s, without Go internals", tc.args, msg, tc.want)
		}
	}
}

// TestCLIJSONSnakeCase: the JSON of approvals and EAB keys that the CLI
// prints uses the admin API's snake_case field names.
func TestCLIJSONSnakeCase(t *testing.T) {
	data := filepath.Join(t.TempDir(), "d")
	initDataDir(t, data)
	if _, _, err := runCLI(t, nil, "eab", "create", "--profile", "default", "--single-use", "--data", data); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, nil, "eab", "list", "--format", "json", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	var keys []map[string]any
	if err := json.Unmarshal([]byte(out), &keys); err != nil || len(keys) != 1 {
		t.Fatalf("eab list: %v: %s", err, out)
	}
	if keys[0]["single_use"] != true {
		t.Errorf("eab list --format json: %s, want single_use", out)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	for k := range keys[0] {
		if !snake.MatchString(k) {
			t.Errorf("eab list --format json: field %q is not snake_case", k)
		}
	}
}

// TestGroupAndHelpErrors: a command that only groups others, run without
// one or with an unknown one, and `help` of an unknown topic, fail with
// one line (cobra printed the usage and exited 0); their help still works.
func TestGroupAndHelpErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"account"}, `account: give a command: deactivate, list, set-attributes, show (see 'certgate account --help')`},
		{[]string{"account", "nope"}, `account: unknown command "nope"; use deactivate, list, set-attributes, show (see 'certgate account --help')`},
		{[]string{"bench"}, `bench: give a command: acme, inventory, seed`},
		{[]string{"completion", "nope"}, `completion: unknown command "nope"; use bash, fish, powershell, zsh`},
		{[]string{"help", "nope"}, `unknown help topic "nope" (see 'certgate --help')`},
		{[]string{"help", "cert", "nope"}, `unknown help topic "cert nope"`},
	} {
		out, _, err := runCLI(t, nil, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") || out != "" {
			t.Errorf("%v: error %v, stdout %q; want one line with %s", tc.args, err, out, tc.want)
		}
	}
	out, _, err := runCLI(t, nil, "account", "--help")
	if err != nil || !strings.Contains(out, "Usage:\n  certgate account [command]\n\nAvailable Commands:") {
		t.Errorf("account --help: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, nil, "help", "account", "list")
	if err != nil || !strings.Contains(out, "Usage:\n  certgate account list [flags]") {
		t.Errorf("help account list: %v\n%s", err, out)
	}
}

// TestUnknownRootCommand: a mistyped command is one line naming the
// commands it may be a typo of (or every command), as below the root;
// cobra's error went on over further lines ("\n\nDid you mean this?\n\t...").
// Without arguments, certgate still prints its help and succeeds.
func TestUnknownRootCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serv"}, `unknown command "serv"; did you mean cert or serve? (see 'certgate --help')`},
		{[]string{"tokn", "list"}, `unknown command "tokn"; did you mean token? (see 'certgate --help')`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"; use account, approval, audit, backup, bench, ca, cert, completion, db, eab, init, notify, profile, ratelimit, report, restore, scan, serve, token, version (see 'certgate --help')`},
	} {
		out, _, err := runCLI(t, nil, tc.args...)
		if err == nil || err.Error() != tc.want || out != "" {
			t.Errorf("%v: error %v, stdout %q; want %q", tc.args, err, out, tc.want)
		}
	}
	out, _, err := runCLI(t, nil)
	if err != nil || !strings.Contains(out, "Usage:\n  certgate [command]\n") || strings.Contains(out, "certgate [flags]") {
		t.Errorf("certgate without arguments: %v\n%s", err, out)
	}
}

// TestUnknownFlag: a mistyped or foreign flag is one line naming the flag
// it most likely means (a typo, another tool's name for the setting, a
// prefix of one flag) and the command's help, as mistyped commands and
// settings are; pflag said only "unknown flag: --port". An argument given
// where the command takes a required flag is named as that flag's value.
func TestUnknownFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--port", "8443"}, `unknown flag --port; did you mean --listen? (see 'certgate serve --help')`},
		{[]string{"serve", "--dir=/tmp/x"}, `unknown flag --dir; did you mean --data? (see 'certgate serve --help')`},
		{[]string{"serve", "--va-http", "8080"}, `unknown flag --va-http; did you mean --va-http-port? (see 'certgate serve --help')`},
		{[]string{"serve", "--lisen", ":1"}, `unknown flag --lisen; did you mean --listen? (see 'certgate serve --help')`},
		{[]string{"cert", "list", "--json"}, `unknown flag --json; did you mean --format? (see 'certgate cert list --help')`},
		{[]string{"cert", "list", "--frobnicate"}, `unknown flag --frobnicate (see 'certgate cert list --help')`},
		// An argument where a command takes only flags: the value of its
		// one required flag not given.
		{[]string{"restore", "bk"}, `restore: takes no arguments, received "bk"; give it as --from bk (usage: certgate restore [flags])`},
	} {
		out, _, err := runCLI(t, nil, tc.args...)
		if err == nil || err.Error() != tc.want || out != "" {
			t.Errorf("%v: error %v, stdout %.80q; want %q", tc.args, err, out, tc.want)
		}
	}
}

// TestUnknownCommandWithHelp: a mistyped command followed by --help (or
// -h) is the unknown command, at the root as in a group, not the root's
// or the group's help printed with success, which hid the typo; --help
// alone still prints the help. A command after "--" is not taken for a
// typo of itself ("did you mean serve?").
func TestUnknownCommandWithHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serv", "--help"}, `unknown command "serv"; did you mean cert or serve? (see 'certgate --help')`},
		{[]string{"frobnicate", "-h"}, `unknown command "frobnicate"; use account, approval, audit, backup, bench, ca, cert, completion, db, eab, init, notify, profile, ratelimit, report, restore, scan, serve, token, version (see 'certgate --help')`},
		{[]string{"cert", "lst", "--help"}, `cert: unknown command "lst"; use export, import, list, revoke, show, suggest-renewal (see 'certgate cert --help')`},
		{[]string{"--", "serve"}, `"serve" after "--" is not read as a command: use 'certgate serve'`},
	} {
		out, _, err := runCLI(t, nil, tc.args...)
		if err == nil || err.Error() != tc.want || out != "" {
			t.Errorf("%v: error %v, stdout %.80q; want %q", tc.args, err, out, tc.want)
		}
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"cert", "--help"}, {"help", "serve"}} {
		out, _, err := runCLI(t, nil, args...)
		if err != nil || !strings.Contains(out, "Usage:\n") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
}

// TestHelpWithStrayArgument: --help (or -h) with an argument the command
// does not take is refused in one line with an error, as the argument is
// without --help; cobra printed the help and succeeded, hiding it. Valid
// arguments with --help still print the help.
func TestHelpWithStrayArgument(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--help", "extra"}, `unknown command "extra"; use account, approval`},
		{[]string{"-h", "extra"}, `unknown command "extra"; use account, approval`},
		{[]string{"cert", "list", "--help", "extra"}, `cert list: takes no arguments, received "extra" (usage: certgate cert list [flags])`},
		{[]string{"cert", "list", "extra", "-h"}, `cert list: takes no arguments, received "extra"`},
		{[]string{"cert", "--help", "extra"}, `cert: unknown command "extra"; use export, import`},
		{[]string{"cert", "show", "--help", "a", "b"}, `cert show: accepts 1 arg(s), received 2`},
		{[]string{"token", "create", "--help", "x"}, `token create: takes no arguments, received "x"`},
	} {
		out, _, err := runCLI(t, nil, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") || out != "" {
			t.Errorf("%v: error %v, stdout %.80q; want one line with %s", tc.args, err, out, tc.want)
		}
	}
	for _, args := range [][]string{{"--help"}, {"cert", "list", "-h"}, {"cert", "show", "0a", "--help"}, {"token", "create", "--help"}} {
		out, _, err := runCLI(t, nil, args...)
		if err != nil || !strings.Contains(out, "Usage:\n") || !strings.Contains(out, "-h, --help ") {
			t.Errorf("%v: %v\n%.200s", args, err, out)
		}
	}
}

// TestOneLine: an error of several lines (errors.Join's, a library's) is
// printed as one line, its lines joined by "; ", blank ones dropped.
func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                             "plain",
		"first\nsecond":                     "first; second",
		"a: b\n\n  indented line  \nlast\n": "a: b; indented line; last",
	} {
		if got := oneLine(in); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}
