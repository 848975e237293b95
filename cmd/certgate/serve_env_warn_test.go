package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeEnvWarningsKnowCommandFlags: `certgate serve` warns about a
// CERTGATE_* variable that names no flag (a typo), but not about one that
// names a flag of an administrative command (CERTGATE_LIMIT for `cert list
// --limit`, CERTGATE_FORMAT, CERTGATE_COMMENT), which those commands
// apply: before, serve called them "names no setting" although they work.
func TestServeEnvWarningsKnowCommandFlags(t *testing.T) {
	t.Setenv("CERTGATE_DB", "")
	t.Setenv("CERTGATE_LIMIT", "5")
	t.Setenv("CERTGATE_FORMAT", "json")
	t.Setenv("CERTGATE_COMMENT", "because")
	t.Setenv("CERTGATE_VA_HTTP_PROT", "8080")
	// The address in use stops the start, after the variables were checked.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, stderr, err := runCLI(t, nil, "serve", "--data", filepath.Join(t.TempDir(), "d"), "--listen", busy.Addr().String())
	if err == nil {
		t.Fatal("serve on an address in use started")
	}
	for _, name := range []string{"CERTGATE_LIMIT", "CERTGATE_FORMAT", "CERTGATE_COMMENT"} {
		if strings.Contains(stderr, "variable="+name) {
			t.Errorf("serve warns about %s, a flag of an administrative command:\n%s", name, stderr)
		}
	}
	if !strings.Contains(stderr, "variable=CERTGATE_VA_HTTP_PROT did_you_mean=CERTGATE_VA_HTTP_PORT") {
		t.Errorf("no warning naming the typo CERTGATE_VA_HTTP_PROT:\n%s", stderr)
	}
}
