package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// serveWithFile resolves the serve settings of args with a configuration
// file holding yaml (in dir, or a new temporary directory when dir is "")
// given as --config before them; it returns the file's path.
func serveWithFile(t *testing.T, dir, yaml string, args ...string) (*Serve, string, error) {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	resolve := ServeFlags(fs)
	if err := fs.Parse(append([]string{"--config", file}, args...)); err != nil {
		t.Fatal(err)
	}
	s, err := resolve()
	return s, file, err
}

// TestOverriddenFileValueIsChecked: a configuration file value that a flag
// or a CERTGATE_* variable overrides is still checked, both for its form
// (a malformed duration, a list where one value goes) and as the file
// alone would set it (a port out of range, a listen address the same as
// metrics-listen), and refused in one line naming the file, the setting
// and what overrides it; it was ignored, so the file failed only on the
// day the override was dropped. A good overridden value passes, and the
// values in force are those of the flags and variables.
func TestOverriddenFileValueIsChecked(t *testing.T) {
	cases := []struct {
		name, yaml string
		args       []string
		env        map[string]string
		want       []string // substrings of the error
	}{
		{"malformed duration, flag", "cert-validity: 5x\n", []string{"--cert-validity", "30d"}, nil,
			[]string{"cert-validity", `invalid duration "5x"`, "--cert-validity overrides it"}},
		{"list for one value, flag", "listen: [1, 2]\n", []string{"--listen", "127.0.0.1:8443"}, nil,
			[]string{"listen: want one value, not a list", "--listen overrides it"}},
		{"not a number, variable", "va-http-port: abc\n", nil, map[string]string{"CERTGATE_VA_HTTP_PORT": "8080"},
			[]string{"va-http-port: want a whole number", "CERTGATE_VA_HTTP_PORT overrides it"}},
		{"port out of range, flag", "va-http-port: 99999\n", []string{"--va-http-port", "8080"}, nil,
			[]string{"va-http-port: 99999 is not a port number", "without the override by --va-http-port"}},
		{"bad log level, variable", "log-level: loud\n", nil, map[string]string{"CERTGATE_LOG_LEVEL": "debug"},
			[]string{`log-level: "loud" is not one of`, "without the override by CERTGATE_LOG_LEVEL"}},
		{"same address as metrics-listen", "listen: 127.0.0.1:9464\nmetrics-listen: 127.0.0.1:9464\n",
			[]string{"--metrics-listen", "127.0.0.1:9465"}, nil,
			[]string{"are the same address", "without the override by --metrics-listen"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			_, file, err := serveWithFile(t, "", c.yaml, c.args...)
			if err == nil {
				t.Fatalf("file %q overridden by %v %v: accepted", c.yaml, c.args, c.env)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "config file "+file+": ") || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line beginning with the file", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

// TestOverriddenGoodFileValues: good file values overridden by flags and
// variables (of several kinds: duration, whole number, list, address)
// pass, and the settings in force, with the fields derived from them, are
// the overriding ones after the file's were checked.
func TestOverriddenGoodFileValues(t *testing.T) {
	yaml := "cert-validity: 30d\nva-http-port: 1111\nhostname: FILE.example\nva-deny-networks: [private]\n" +
		"caa-identities: [file.example]\nlisten: 127.0.0.1:9464\nmetrics-listen: 127.0.0.1:9465\n"
	t.Setenv("CERTGATE_VA_HTTP_PORT", "2222")
	s, _, err := serveWithFile(t, "", yaml, "--cert-validity", "10d", "--hostname", "Flag.Example", "--va-deny-networks", "loopback",
		"--caa-identities", "flag.example", "--listen", "127.0.0.1:9465", "--metrics-listen", "127.0.0.1:9464")
	if err != nil {
		t.Fatal(err)
	}
	if s.CertValidity != 10*24*time.Hour || s.VAHTTPPort != 2222 || s.Hostname != "flag.example" ||
		!slices.Equal(s.CAAIdentities, []string{"flag.example"}) || s.Listen != "127.0.0.1:9465" || s.MetricsListen != "127.0.0.1:9464" {
		t.Errorf("in force: validity %s, va-http-port %d, hostname %q, caa %v, listen %q, metrics-listen %q; want the flags' and the variable's",
			s.CertValidity, s.VAHTTPPort, s.Hostname, s.CAAIdentities, s.Listen, s.MetricsListen)
	}
	if len(s.VADenyNetworks) != 2 || !s.VADenyNetworks[0].Addr().IsLoopback() {
		t.Errorf("va-deny-networks in force: %v, want loopback's (127.0.0.0/8, ::1/128)", s.VADenyNetworks)
	}
}

// TestOverriddenFileValueOtherCommand: an administrative command's flag
// set (Resolve alone) also refuses a malformed file value that its flag
// overrides.
func TestOverriddenFileValueOtherCommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("data: [a, b]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("ca root", pflag.ContinueOnError)
	fs.String("data", "./certgate-data", "")
	fs.String("config", "", "")
	if err := fs.Parse([]string{"--config", file, "--data", "/srv/certgate"}); err != nil {
		t.Fatal(err)
	}
	err := Resolve(fs)
	if err == nil || !strings.Contains(err.Error(), "data: want one value, not a list (--data overrides it") {
		t.Errorf("Resolve: %v", err)
	}
}

// TestOverriddenFileWithPINFile: the file's values are checked from the
// settings as resolved, not from those a first check filled in (the PIN
// read from pkcs11-pin-file, which a second check took for pkcs11-pin
// set beside pkcs11-pin-file), and the PIN in force is the file's.
func TestOverriddenFileWithPINFile(t *testing.T) {
	dir := t.TempDir()
	pin := filepath.Join(dir, "pin")
	if err := os.WriteFile(pin, []byte("1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := "listen: 127.0.0.1:8443\npkcs11-module: /usr/lib/softhsm/libsofthsm2.so\npkcs11-token-label: t\npkcs11-key-label: k\npkcs11-pin-file: " + pin + "\n"
	s, _, err := serveWithFile(t, dir, yaml, "--listen", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if s.PKCS11.PIN != "1234" || s.Listen != "127.0.0.1:0" {
		t.Errorf("PIN %q, listen %q: want the PIN file's 1234 and the flag's 127.0.0.1:0", s.PKCS11.PIN, s.Listen)
	}
}

// TestFileValueErrorNamesTheFile: a value from the configuration file that
// the start checks refuse (a port out of range, two listeners on one
// address) is reported after the file's name, and one from a variable
// after the variable, as a malformed one is; it named the setting only,
// and the reader looked for the flag. The same value given as a flag is
// reported without either.
func TestFileValueErrorNamesTheFile(t *testing.T) {
	run := func(yaml string, args []string, inFile bool, want string) {
		t.Helper()
		_, file, err := serveWithFile(t, "", yaml, args...)
		if inFile {
			want = "config file " + file + ": " + want
		}
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q %v: %v, want one line beginning %q", yaml, args, err, want)
		}
	}
	for _, c := range []struct {
		yaml   string
		args   []string
		inFile bool
		want   string
	}{
		{"va-http-port: 99999\n", nil, true, "va-http-port: 99999 is not a port number"},
		{"hostname: a.example\n", []string{"--va-http-port", "99999"}, false, "va-http-port: 99999 is not a port number"},
		{"metrics-listen: 127.0.0.1:9464\n", []string{"--listen", "127.0.0.1:9464"}, true, "metrics-listen 127.0.0.1:9464 and listen 127.0.0.1:9464 are the same address"},
		{"log-level: loud\n", nil, true, `log-level: "loud" is not one of`},
	} {
		run(c.yaml, c.args, c.inFile, c.want)
	}
	// From a variable: named as a malformed one is.
	t.Setenv("CERTGATE_VA_HTTP_PORT", "99999")
	run("", nil, false, `CERTGATE_VA_HTTP_PORT="99999": va-http-port: 99999 is not a port number`)
}
