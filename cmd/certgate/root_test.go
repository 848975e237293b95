package main

import (
	"io"
	"testing"
)

// TestRootCommandsAreUnique checks that every subcommand is registered once:
// a command added twice is listed twice by `certgate --help`, and cobra runs
// only the first of the two.
func TestRootCommandsAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range newRoot(io.Discard, io.Discard).Commands() {
		if seen[c.Name()] {
			t.Errorf("command %q is registered more than once", c.Name())
		}
		seen[c.Name()] = true
	}
	for _, want := range []string{"serve", "cert", "account", "report", "profile", "eab", "approval", "token", "audit", "ratelimit"} {
		if !seen[want] {
			t.Errorf("command %q is not registered", want)
		}
	}
}
