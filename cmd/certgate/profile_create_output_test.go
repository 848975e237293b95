package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestProfileCreatePrintsDirectoryURL: `certgate profile create` and
// `profile update` print the profile's name and the absolute URL of its
// ACME directory, from the server's hostname and listen settings as `eab
// create` takes them (flags, CERTGATE_*, --config; the path without
// either), and with --format json the stored profile, as `profile show
// --format json` prints it. They printed the directory's path only and
// had no --format.
func TestProfileCreatePrintsDirectoryURL(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	cfg := filepath.Join(t.TempDir(), "certgate.yaml")
	if err := os.WriteFile(cfg, []byte("hostname: acme.corp.test\nlisten: 0.0.0.0:9443\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string // the directory, after https://HOST:PORT
	}{
		{"flags", nil, []string{"--hostname", "ca.example.test", "--listen", ":443"}, "https://ca.example.test:443"},
		{"hostname only", nil, []string{"--hostname", "ca.example.test"}, "https://ca.example.test:8443"},
		{"environment", map[string]string{"CERTGATE_HOSTNAME": "env.example.test", "CERTGATE_LISTEN": ":8444"}, nil, "https://env.example.test:8444"},
		{"configuration file", nil, []string{"--config", cfg}, "https://acme.corp.test:9443"},
		{"neither: the path", nil, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			name := []string{"p-flags", "p-host", "p-env", "p-config", "p-none"}[i]
			dir := tc.want + "/acme/" + name + "/directory"
			out, _, err := runCLI(t, nil, append([]string{"profile", "create", name, "--data", data, "--validity", "30d"}, tc.args...)...)
			if want := "created profile " + name + ": directory " + dir + "\n"; err != nil || out != want {
				t.Fatalf("profile create: %v\n%q\nwant %q", err, out, want)
			}
			out, _, err = runCLI(t, nil, append([]string{"profile", "update", name, "--data", data, "--validity", "20d"}, tc.args...)...)
			if want := "updated profile " + name + ": directory " + dir + "\n"; err != nil || out != want {
				t.Fatalf("profile update: %v\n%q\nwant %q", err, out, want)
			}
		})
	}
	// --format json: the profile as stored, as profile show prints it.
	out, _, err := runCLI(t, nil, "profile", "create", "j", "--data", data, "--allow", "*.example.test", "--require-attr", "team", "--format", "json")
	show, _, serr := runCLI(t, nil, "profile", "show", "j", "--data", data, "--format", "json")
	if err != nil || serr != nil || out != show {
		t.Fatalf("profile create --format json: %v\n%s\nprofile show --format json: %v\n%s", err, out, serr, show)
	}
	out, _, err = runCLI(t, nil, "profile", "update", "j", "--data", data, "--validity", "10d", "--format", "json")
	show, _, serr = runCLI(t, nil, "profile", "show", "j", "--data", data, "--format", "json")
	if err != nil || serr != nil || out != show {
		t.Fatalf("profile update --format json: %v\n%s\nprofile show --format json: %v\n%s", err, out, serr, show)
	}
	if _, _, err := runCLI(t, nil, "profile", "create", "bad-listen", "--data", data, "--listen", "ca.example.test"); err == nil ||
		err.Error() != `--listen "ca.example.test": not the server's HOST:PORT (e.g. :8443)` {
		t.Fatalf("profile create --listen without a port: %v", err)
	}
	if _, _, err := runCLI(t, nil, "profile", "show", "bad-listen", "--data", data); err == nil {
		t.Errorf("a refused --listen stored the profile")
	}
}
