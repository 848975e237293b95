package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNotFoundMessagesConsistent: every command that looks up an object by
// the name or ID given says so in the same words, `there is no KIND "REF"
// (see 'certgate ... list')`, one line; before, `account show` said `no
// account "nope"` where `account set-attributes` said `there is no account
// "nope"`, and `cert show|suggest-renewal` and `eab revoke` each had their
// own form.
func TestNotFoundMessagesConsistent(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	re := regexp.MustCompile(`^there is no [a-zA-Z0-9 -]+ "(nope|abcd)"[a-z ,]* \(see 'certgate [a-z]+ list[a-z -]*'\)$`)
	for _, args := range [][]string{
		{"account", "show", "nope"},
		{"account", "deactivate", "nope"},
		{"account", "set-attributes", "nope", "env=prod"},
		{"eab", "revoke", "nope"},
		{"cert", "show", "abcd"},
		{"cert", "suggest-renewal", "abcd", "--before", "24h"},
		{"approval", "approve", "nope"},
		{"approval", "reject", "nope", "--comment", "no"},
		{"token", "revoke", "nope"},
		{"profile", "show", "nope"},
		{"ratelimit", "set", "new-orders-per-account", "--rate", "5/1h", "--account", "nope"},
	} {
		_, _, err := runCLI(t, nil, append(args, "--data", data)...)
		if err == nil || !re.MatchString(strings.TrimPrefix(err.Error(), "--account: ")) {
			t.Errorf("%v: %v, want `there is no KIND \"REF\" (see 'certgate ... list')`", args, err)
		}
	}
}

// TestBadDurationMessagesConsistent: a malformed or non-positive duration
// flag is refused as `--FLAG: invalid duration "VALUE" (use ...)` by every
// command; before, `eab create --expires soon` said `--expires "soon": use
// a positive duration such as 30d` where `token create --expires soon`
// said `--expires: invalid duration "soon" (use e.g. 90d, 2w, 36h, 1d12h)`,
// and the reports said `--since: duration "soon" (e.g. 30d, 12h)`.
func TestBadDurationMessagesConsistent(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"eab", "create", "--expires", "soon"}, `--expires: invalid duration "soon" (use e.g. 90d, 2w, 36h, 1d12h)`},
		{[]string{"token", "create", "--role", "auditor", "--name", "x", "--expires", "soon"}, `--expires: invalid duration "soon" (use e.g. 90d, 2w, 36h, 1d12h)`},
		{[]string{"eab", "create", "--expires", "0d"}, `--expires: invalid duration "0d" (use a positive one, e.g. 90d, 2w, 36h, 1d12h)`},
		{[]string{"token", "create", "--role", "auditor", "--name", "x", "--expires", "0d"}, `--expires: invalid duration "0d" (use a positive one, e.g. 90d, 2w, 36h, 1d12h)`},
		{[]string{"profile", "create", "p", "--validity", "soon"}, `--validity: invalid duration "soon" (use e.g. 90d, 2w, 36h, 1d12h)`},
		{[]string{"profile", "list", "--cert-validity", "soon"}, `--cert-validity: invalid duration "soon" (use e.g. 90d, 2w, 36h, 1d12h)`},
		{[]string{"report", "violations", "--cert-validity", "soon"}, `--cert-validity: invalid duration "soon" (use e.g. 90d, 2w, 36h, 1d12h)`},
		{[]string{"report", "issued", "--since", "soon"}, `--since: invalid duration "soon" (use e.g. 30d, 2w, 12h)`},
		{[]string{"report", "expiring", "--within", "soon"}, `--within: invalid duration "soon" (use e.g. 30d, 2w, 12h)`},
		{[]string{"cert", "list", "--expiring-within", "soon"}, `--expiring-within: invalid duration "soon" (use e.g. 30d, 2w, 12h)`},
	} {
		_, _, err := runCLI(t, nil, append(c.args, "--data", data)...)
		if err == nil || err.Error() != c.want {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}
