package main

import (
	"strings"
	"testing"
)

// TestProfileDeleteInUse: `profile delete` refuses, in one line naming
// what uses it, a profile with an EAB key that is not revoked; it deletes
// it with --force, and deletes an unused profile without.
func TestProfileDeleteInUse(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	for _, name := range []string{"used", "unused"} {
		if _, _, err := runCLI(t, nil, "profile", "create", name, "--data", data, "--validity", "30d"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := runCLI(t, nil, "eab", "create", "--profile", "used", "--data", data); err != nil {
		t.Fatal(err)
	}
	_, _, err := runCLI(t, nil, "profile", "delete", "used", "--data", data)
	want := "profile used is still used by 1 EAB key not revoked: pass --force to delete it anyway"
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("delete of a profile in use: %v, want one line containing %q", err, want)
	}
	if _, _, err := runCLI(t, nil, "profile", "show", "used", "--data", data); err != nil {
		t.Fatalf("refused delete removed the profile: %v", err)
	}
	if out, _, err := runCLI(t, nil, "profile", "delete", "used", "--force", "--data", data); err != nil || out != "deleted profile used\n" {
		t.Fatalf("forced delete: %q, %v", out, err)
	}
	if out, _, err := runCLI(t, nil, "profile", "delete", "unused", "--data", data); err != nil || out != "deleted profile unused\n" {
		t.Fatalf("delete of an unused profile: %q, %v", out, err)
	}
}
