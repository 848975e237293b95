package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
)

// TestUnknownSettingSuggestsName: an unknown key of the YAML file is
// refused with the setting it most likely means — a typo, or the name
// written with underscores or in camelCase, as other CAs' configuration
// files spell keys — and an unknown CERTGATE_* variable is paired with
// the variable it most likely means (the warning names it). A key like no
// setting gets no suggestion.
func TestUnknownSettingSuggestsName(t *testing.T) {
	for key, want := range map[string]string{
		"va-http-prot":   `unknown setting "va-http-prot" (did you mean "va-http-port"?)`,
		"va_http_port":   `unknown setting "va_http_port" (did you mean "va-http-port"?)`,
		"vaHttpPort":     `unknown setting "vaHttpPort" (did you mean "va-http-port"?)`,
		"listen-adress":  `unknown setting "listen-adress" (did you mean "listen"?)`,
		"certValidity":   `unknown setting "certValidity" (did you mean "cert-validity"?)`,
		"database":       `unknown setting "database"`,
		"provisioners":   `unknown setting "provisioners"`,
		"metrics_listen": `unknown setting "metrics_listen" (did you mean "metrics-listen"?)`,
		"VA-HTTP-PORT":   `unknown setting "VA-HTTP-PORT" (did you mean "va-http-port"?)`,
	} {
		file := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(file, []byte(key+": 1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		resolve := ServeFlags(fs)
		if err := fs.Parse([]string{"--config", file}); err != nil {
			t.Fatal(err)
		}
		_, err := resolve()
		if err == nil || err.Error() != "config file "+file+": "+want {
			t.Errorf("%s: %v, want %q", key, err, "config file "+file+": "+want)
		}
	}

	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	ServeFlags(fs)
	for name, want := range map[string]string{
		"CERTGATE_VA_HTTP_PROT": "CERTGATE_VA_HTTP_PORT",
		"CERTGATE_LISTEN_ADDR":  "CERTGATE_LISTEN",
		"CERTGATE_NOTHING_LIKE": "",
	} {
		if got := SuggestEnv(fs, name); got != want {
			t.Errorf("SuggestEnv(%s) = %q, want %q", name, got, want)
		}
	}
}
