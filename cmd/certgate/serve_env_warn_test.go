package main

import (
	"net"
	"os"
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
	t.Setenv("CERTGATE_MAX_VALIDITY", "30d") // a profile field: only --max-validity sets it
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
	if !strings.Contains(stderr, "variable=CERTGATE_MAX_VALIDITY") {
		t.Errorf("no warning naming CERTGATE_MAX_VALIDITY, which no command applies:\n%s", stderr)
	}
	if !strings.Contains(stderr, "variable=CERTGATE_VA_HTTP_PROT did_you_mean=CERTGATE_VA_HTTP_PORT") {
		t.Errorf("no warning naming the typo CERTGATE_VA_HTTP_PROT:\n%s", stderr)
	}
}

// TestConfigFileSharedByCommands: one configuration file can hold the
// settings of every command: `serve` (and `ca root`) accept a key naming a
// flag of an administrative command (format, limit) without applying it,
// the administrative commands apply it, and a key naming no flag of any
// command is still refused. Before, serve refused `format: json` as an
// unknown setting though `token list` applied it.
func TestConfigFileSharedByCommands(t *testing.T) {
	t.Setenv("CERTGATE_DB", "")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "certgate.yaml")
	if err := os.WriteFile(cfg, []byte("data: "+data+"\nformat: json\nlimit: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, stderr, err := runCLI(t, nil, "serve", "--config", cfg, "--listen", busy.Addr().String())
	if err == nil || strings.Contains(err.Error(), "unknown setting") || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("serve with format and limit in its file: %v (want the address in use)\n%s", err, stderr)
	}
	// A profile field of `profile create` is set on the command line only:
	// in the file it is no setting of any command.
	if err := os.WriteFile(cfg, []byte("data: "+data+"\nvalidity: 30d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, nil, "serve", "--config", cfg, "--listen", busy.Addr().String()); err == nil ||
		!strings.Contains(err.Error(), `unknown setting "validity"`) {
		t.Fatalf("serve with a profile field in its file: %v", err)
	}
	if err := os.WriteFile(cfg, []byte("data: "+data+"\nformat: json\nlimmit: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, nil, "serve", "--config", cfg, "--listen", busy.Addr().String()); err == nil ||
		!strings.Contains(err.Error(), `unknown setting "limmit" (did you mean "limit"?)`) {
		t.Fatalf("serve with a typo in its file: %v", err)
	}
}

// TestKeysNoCommandResolves: a CERTGATE_* variable or configuration-file
// key naming only a flag of a command that does not resolve them (`bench
// acme --insecure`, `--flows`; `completion --no-descriptions`) is
// no setting of any command: serve warns about the variable, and serve
// and the administrative commands refuse the key. Before, both passed in
// silence as "another command's setting", though no command applies them.
func TestKeysNoCommandResolves(t *testing.T) {
	t.Setenv("CERTGATE_DB", "")
	t.Setenv("CERTGATE_INSECURE", "true")
	t.Setenv("CERTGATE_FLOWS", "2")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	_, stderr, err := runCLI(t, nil, "serve", "--data", data, "--listen", busy.Addr().String())
	if err == nil {
		t.Fatal("serve on an address in use started")
	}
	for _, name := range []string{"CERTGATE_INSECURE", "CERTGATE_FLOWS"} {
		if !strings.Contains(stderr, "variable="+name) {
			t.Errorf("no warning naming %s, which no command applies:\n%s", name, stderr)
		}
	}
	cfg := filepath.Join(dir, "certgate.yaml")
	for _, key := range []string{"insecure: true", "no-descriptions: true"} {
		if err := os.WriteFile(cfg, []byte("data: "+data+"\n"+key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		name, _, _ := strings.Cut(key, ":")
		for _, args := range [][]string{{"serve", "--listen", busy.Addr().String()}, {"token", "list"}} {
			if _, _, err := runCLI(t, nil, append(args, "--config", cfg)...); err == nil ||
				!strings.Contains(err.Error(), `unknown setting "`+name+`"`) {
				t.Errorf("%s with %q in its file: %v (want unknown setting)", args[0], key, err)
			}
		}
	}
}
