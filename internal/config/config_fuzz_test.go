package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// FuzzParseDuration checks the duration syntax of every duration setting
// (flags, CERTGATE_* variables, the YAML file) and of profiles: it never
// panics, and a duration it accepts round-trips: FormatDuration writes
// it as a string ParseDuration reads back as the same value, and so does
// the flag value's String (what --help and error messages show).
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90d", "36h", "1d12h", "0", "", "d", "-1d", "1x", "106751d", "106752d", "300000d",
		"106751d24h", "9223372036854775807d", "+0", "-0", "0s", "0d", "+5d", "007d", "1.5h", ".5h", "5.h", "1h30m",
		"300ms", "2us", "2µs", "2μs", "10ns", "1d-5h", "-5h", "1d0", "1.5d", "5h1d", "1d5d", "90 d",
		"2w", "1w3d", "2w12h", "1d1w", "15250w", "15251w", "1w-5h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseDuration(s)
		if err != nil {
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("ParseDuration(%q): error of several lines %q", s, msg)
			}
			return
		}
		out := FormatDuration(v)
		back, err := ParseDuration(out)
		if err != nil || back != v {
			t.Fatalf("ParseDuration(%q) = %d, written %q, read back as %d, %v", s, v, out, back, err)
		}
		var p time.Duration
		val := DurationValue(&p, 0)
		if err := val.Set(s); err != nil || p != v {
			t.Fatalf("flag Set(%q) = %v, %v; ParseDuration gives %v", s, p, err, v)
		}
		if err := val.Set(val.String()); err != nil || p != v {
			t.Fatalf("flag Set(String()) of %q: %v, %v; want %v", s, p, err, v)
		}
	})
}

// FuzzServeConfigFile checks the --config YAML file of certgate serve on
// arbitrary contents: resolving the settings never panics, and either
// gives settings or an error of one line.
func FuzzServeConfigFile(f *testing.F) {
	for _, s := range []string{
		"va-http-port: 1111\nva-tls-port: 2222\nhostname: from-file\ncert-validity: 30d\n",
		"metrics-listen: 127.0.0.1:9464\n", "va-http-prot: 80\n", "data: /srv/certgate\nva-http-port: 8080\n",
		"cert-validity: 90d\n", "seq: 7d\n", "ca-identities: [a.test, b.test]\n", "va-deny-networks: 10.0.0.0/8,::1/128\n",
		"rate-limit-new-orders-per-account: 300/3h\n", "revocation-refresh: 13h\n", "va-dns-resolver: 127.0.0.1:53,[::1]:53\n",
		"authz-reuse: -1d\n", "listen: :8443\nmetrics-listen: :8443\n", "- a\n- b\n", "a: {b: c}\n", "~\n", "",
		"hostname: &a x\nwebsite: *a\n", "va-dns-timeout: 0\n", "db: postgres://u@h/db\n", "ocsp: yes\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(t.TempDir(), "certgate.yaml")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		resolve := ServeFlags(fs)
		if err := fs.Parse([]string{"--config", file}); err != nil {
			t.Fatal(err)
		}
		s, err := resolve()
		switch {
		case err != nil && s != nil:
			t.Fatalf("settings and error %v", err)
		case err != nil && strings.ContainsAny(err.Error(), "\r\n"):
			t.Fatalf("error of several lines %q", err)
		case err == nil && s == nil:
			t.Fatal("no settings and no error")
		}
	})
}
