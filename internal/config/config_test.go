package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestPrecedenceFlagEnvFileDefault(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("va-http-port: 1111\nva-tls-port: 2222\nhostname: from-file\ncert-validity: 30d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CERTGATE_VA_TLS_PORT", "3333")
	t.Setenv("CERTGATE_HOSTNAME", "from-env")
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	resolve := ServeFlags(fs)
	if err := fs.Parse([]string{"--config", file, "--hostname", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	s, err := resolve()
	if err != nil {
		t.Fatal(err)
	}
	if s.Hostname != "from-flag" {
		t.Errorf("hostname = %q, want the flag's value", s.Hostname)
	}
	if s.VATLSPort != 3333 {
		t.Errorf("va-tls-port = %d, want the environment's 3333", s.VATLSPort)
	}
	if s.VAHTTPPort != 1111 {
		t.Errorf("va-http-port = %d, want the file's 1111", s.VAHTTPPort)
	}
	if s.CertValidity != 30*24*time.Hour {
		t.Errorf("cert-validity = %s, want 720h from the file", s.CertValidity)
	}
	if s.Listen != ":8443" || s.Data != "./certgate-data" || s.MetricsListen != "" || s.AdminListen != "" {
		t.Errorf("defaults: listen %q data %q metrics-listen %q admin-listen %q (want none)", s.Listen, s.Data, s.MetricsListen, s.AdminListen)
	}
}

// TestHostnameLowerCased: a hostname written in upper or mixed case, from
// any source, is used in lower case (the host of a URL and a DNS name
// compare case-insensitively, RFC 3986 §3.2.2, RFC 4343), so the directory
// URL, the AIA/CRL URLs in certificates and the server certificate's name
// do not depend on how the setting was written; it was kept as written.
func TestHostnameLowerCased(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--hostname", "ACME.Example.COM"}, "", "acme.example.com"},
		{nil, "Ca.Corp.Test", "ca.corp.test"},
		{[]string{"--hostname", "2001:DB8::1"}, "", "2001:db8::1"},
		{nil, "", "localhost"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("CERTGATE_HOSTNAME", tc.env)
			}
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			resolve := ServeFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			s, err := resolve()
			if err != nil {
				t.Fatal(err)
			}
			if s.Hostname != tc.want {
				t.Errorf("%v %q: hostname = %q, want %q", tc.args, tc.env, s.Hostname, tc.want)
			}
		})
	}
}

// TestMetricsListenFromFile: metrics-listen is off unless set, and takes
// an address with or without a host from any source.
func TestMetricsListenFromFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("metrics-listen: 127.0.0.1:9464\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	resolve := ServeFlags(fs)
	if err := fs.Parse([]string{"--config", file}); err != nil {
		t.Fatal(err)
	}
	s, err := resolve()
	if err != nil {
		t.Fatal(err)
	}
	if s.MetricsListen != "127.0.0.1:9464" {
		t.Errorf("metrics-listen = %q, want the file's 127.0.0.1:9464", s.MetricsListen)
	}
	fs = pflag.NewFlagSet("serve", pflag.ContinueOnError)
	resolve = ServeFlags(fs)
	if err := fs.Parse([]string{"--metrics-listen", ":9464"}); err != nil {
		t.Fatal(err)
	}
	if s, err = resolve(); err != nil {
		t.Fatalf("metrics-listen :9464 refused: %v (want accepted: all interfaces, as the operator asked)", err)
	}
	if s.MetricsListen != ":9464" {
		t.Errorf("metrics-listen = %q, want :9464", s.MetricsListen)
	}
}

// TestAdminListenFromEverySource: admin-listen is empty (the admin API on
// listen) unless set, and is taken from the configuration file, the
// environment (CERTGATE_ADMIN_LISTEN) or the flag, with or without a host,
// beside a metrics-listen of another port.
func TestAdminListenFromEverySource(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("admin-listen: 127.0.0.1:9443\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"file", []string{"--config", file}, "", "127.0.0.1:9443"},
		{"environment", nil, "[::1]:9443", "[::1]:9443"},
		{"flag", []string{"--admin-listen", ":9443", "--metrics-listen", "127.0.0.1:9464"}, "", ":9443"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("CERTGATE_ADMIN_LISTEN", tc.env)
			}
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			resolve := ServeFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			s, err := resolve()
			if err != nil {
				t.Fatalf("admin-listen %s refused: %v", tc.want, err)
			}
			if s.AdminListen != tc.want {
				t.Errorf("admin-listen = %q, want %q", s.AdminListen, tc.want)
			}
		})
	}
}

func TestBadInputsNameTheSetting(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "u.yaml")
	os.WriteFile(unknown, []byte("va-http-prot: 80\n"), 0o600)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown yaml key", []string{"--config", unknown}, nil, `unknown setting "va-http-prot"`},
		{"bad env value", nil, map[string]string{"CERTGATE_VA_HTTP_PORT": "eighty"}, "CERTGATE_VA_HTTP_PORT"},
		{"port out of range", []string{"--va-tls-port", "70000"}, nil, "va-tls-port"},
		{"bad duration", nil, map[string]string{"CERTGATE_CERT_VALIDITY": "90 days"}, "CERTGATE_CERT_VALIDITY"},
		{"missing file", []string{"--config", filepath.Join(dir, "nope.yaml")}, nil, "config file"},
		{"empty data", []string{"--data", ""}, nil, "data: must name a directory"},
		{"listen without colon", []string{"--listen", "9444"}, nil, `did you mean ":9444"`},
		{"metrics-listen on a perspective", []string{"--roles", "va", "--perspective", "p1", "--perspective-secret-file", "/x", "--metrics-listen", "127.0.0.1:9464"}, nil, "metrics-listen: a remote perspective (--roles va) serves no metrics"},
		{"metrics-listen without colon", nil, map[string]string{"CERTGATE_METRICS_LISTEN": "9464"}, `metrics-listen: "9464" is not HOST:PORT (did you mean ":9464"?)`},
		{"metrics-listen equal to listen", []string{"--listen", "127.0.0.1:8451", "--metrics-listen", "127.0.0.1:8451"}, nil,
			"metrics-listen 127.0.0.1:8451 and listen 127.0.0.1:8451 are the same address: give metrics-listen a port of its own"},
		{"metrics-listen on listen's port, all interfaces", []string{"--metrics-listen", "127.0.0.1:8443"}, nil, "metrics-listen 127.0.0.1:8443 and listen :8443 are the same address"},
		{"admin-listen on a perspective", []string{"--roles", "va", "--perspective", "p1", "--perspective-secret-file", "/x", "--admin-listen", "127.0.0.1:9443"}, nil, "admin-listen: a remote perspective (--roles va) serves no admin API"},
		{"admin-listen without colon", nil, map[string]string{"CERTGATE_ADMIN_LISTEN": "9443"}, `admin-listen: "9443" is not HOST:PORT (did you mean ":9443"?)`},
		{"admin-listen bad port", []string{"--admin-listen", "127.0.0.1:https1"}, nil, `admin-listen: "127.0.0.1:https1" has no valid port`},
		{"admin-listen equal to listen", []string{"--listen", "127.0.0.1:8451", "--admin-listen", "127.0.0.1:8451"}, nil,
			"admin-listen 127.0.0.1:8451 and listen 127.0.0.1:8451 are the same address: give admin-listen a port of its own"},
		{"admin-listen on listen's port, all interfaces", []string{"--admin-listen", "127.0.0.1:8443"}, nil, "admin-listen 127.0.0.1:8443 and listen :8443 are the same address"},
		{"admin-listen equal to metrics-listen", []string{"--metrics-listen", "127.0.0.1:9464", "--admin-listen", "[::]:9464"}, nil,
			"admin-listen [::]:9464 and metrics-listen 127.0.0.1:9464 are the same address: give admin-listen a port of its own"},
		{"hostname with port", []string{"--hostname", "acme.example:8443"}, nil, `hostname: "acme.example:8443" is not a DNS name or IP address: give the name only, without a port (the port is in listen)`},
		{"hostname with scheme", []string{"--hostname", "https://acme.example"}, nil, "without a scheme (e.g. acme.example.com, not https://acme.example.com)"},
		{"hostname with trailing dot", []string{"--hostname", "acme.example.com."}, nil, `hostname: "acme.example.com." is not a DNS name or IP address: it ends with a dot; give it without the trailing dot (acme.example.com)`},
		{"hostname the root", []string{"--hostname", "."}, nil, "it is the DNS root"},
		{"hostname with empty label", []string{"--hostname", "acme..example"}, nil, "it has an empty label (two dots in a row)"},
		{"hostname with leading dot", []string{"--hostname", ".acme.example"}, nil, "it begins with a dot"},
		{"hostname with underscore", []string{"--hostname", "acme_1.example"}, nil, `'_' is not allowed; a name has letters, digits, hyphens and dots only`},
		{"hostname label with hyphen", []string{"--hostname", "-acme.example"}, nil, `label "-acme" begins or ends with a hyphen`},
		{"hostname long label", []string{"--hostname", strings.Repeat("a", 64) + ".example"}, nil, "is 64 characters long, at most 63 are allowed"},
		{"hostname with space", []string{"--hostname", "bad host"}, nil, "is not a DNS name"},
		{"resolver without port", []string{"--va-dns-resolver", "10.0.0.53"}, nil, "va-dns-resolver"},
		{"terms not a URL", []string{"--terms-of-service", "notaurl"}, nil, "terms-of-service"},
		{"negative grace", []string{"--shutdown-grace", "-1s"}, nil, "shutdown-grace"},
		{"bool from env", nil, map[string]string{"CERTGATE_CLIENT_AUTH": "maybe"}, "want true or false"},
		{"zero revocation refresh", []string{"--revocation-refresh", "0"}, nil, "revocation-refresh: must be positive"},
		{"long revocation refresh", []string{"--revocation-refresh", "13h"}, nil, "at most 12h"},
		{"short ARI retry-after", []string{"--ari-retry-after", "30s"}, nil, "ari-retry-after: must be between 1m and 1d"},
		{"long ARI retry-after", []string{"--ari-retry-after", "25h"}, nil, "ari-retry-after: must be between"},
		{"ARI explanation not a URL", []string{"--ari-explanation-url", "docs/ari"}, nil, "ari-explanation-url"},
		{"db of another engine", []string{"--db", "mysql://u:pw@db.example/certgate"}, nil, "db: mysql:// is not supported (want a SQLite file path or postgres://"},
		{"db postgres without host", []string{"--db", "postgres:///certgate"}, nil, "db: not a valid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			resolve := ServeFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			_, err := resolve()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "36h": 36 * time.Hour, "1d12h": 36 * time.Hour, "0": 0} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "-1d", "1x"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
	// Longer than time.Duration holds: refused, where the day count
	// wrapped around (300000d gave about 237 years, 106752d a negative
	// duration).
	if got, err := ParseDuration("106751d"); err != nil || got != 106751*24*time.Hour {
		t.Errorf("ParseDuration(106751d) = %v, %v", got, err)
	}
	for _, long := range []string{"106752d", "300000d", "106751d24h", "9223372036854775807d"} {
		if got, err := ParseDuration(long); err == nil || !strings.Contains(err.Error(), "too long") {
			t.Errorf("ParseDuration(%q) = %v, %v; want a too-long error", long, got, err)
		}
	}
}

// TestFormatDuration: durations are written as they are given, without
// the zero minutes and seconds of Go's form ("8h0m0s" in serve --help's
// "(default 8h0m0s)", "160h0m0s" in a profile's validity), and read back
// as the same value.
func TestFormatDuration(t *testing.T) {
	for v, want := range map[time.Duration]string{
		90 * 24 * time.Hour: "90d", 8 * time.Hour: "8h", 160 * time.Hour: "160h", time.Minute: "1m", 90 * time.Minute: "1h30m",
		10 * time.Minute: "10m", 90 * time.Second: "1m30s", time.Hour + time.Second: "1h0m1s", 500 * time.Millisecond: "500ms",
		0: "0s", -24 * time.Hour: "-24h", 36*time.Hour + 30*time.Minute: "36h30m",
	} {
		got := FormatDuration(v)
		if got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", v, got, want)
		}
		if back, err := ParseDuration(got); err != nil || back != v {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", got, back, err, v)
		}
	}
}

func TestOtherCommandsReadTheServeFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("data: /srv/certgate\nva-http-port: 8080\n"), 0o600)
	fs := pflag.NewFlagSet("ca root", pflag.ContinueOnError)
	data := fs.String("data", "./certgate-data", "")
	fs.String("config", "", "")
	if err := fs.Parse([]string{"--config", file}); err != nil {
		t.Fatal(err)
	}
	if err := Resolve(fs); err != nil {
		t.Fatalf("a serve setting this command lacks must be ignored: %v", err)
	}
	if *data != "/srv/certgate" {
		t.Fatalf("data = %q, want the file's", *data)
	}
}

func TestUnknownEnv(t *testing.T) {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	ServeFlags(fs)
	got := UnknownEnv(fs, []string{"CERTGATE_DATA=/x", "CERTGATE_DATTA=/x", "CERTGATE_CONFIG=c", "HOME=/root"})
	if len(got) != 1 || got[0] != "CERTGATE_DATTA" {
		t.Fatalf("UnknownEnv = %v, want [CERTGATE_DATTA]", got)
	}
}

func TestOCSPSettings(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		env     map[string]string
		ocsp    bool
		refresh time.Duration
	}{
		{nil, nil, true, time.Minute},
		{[]string{"--ocsp=false", "--revocation-refresh", "5m"}, nil, false, 5 * time.Minute},
		{nil, map[string]string{"CERTGATE_OCSP": "false", "CERTGATE_REVOCATION_REFRESH": "30s"}, false, 30 * time.Second},
	} {
		for k, v := range tt.env {
			t.Setenv(k, v)
		}
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		resolve := ServeFlags(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		s, err := resolve()
		if err != nil {
			t.Fatal(err)
		}
		if s.OCSP != tt.ocsp || s.RevocationRefresh != tt.refresh {
			t.Errorf("%v %v: ocsp %v refresh %v, want %v %v", tt.args, tt.env, s.OCSP, s.RevocationRefresh, tt.ocsp, tt.refresh)
		}
	}
}

// TestSameListenAddress: listen and metrics-listen conflict on the same
// port when the hosts are equal or either is all interfaces; port 0 and
// distinct hosts or ports do not conflict.
func TestSameListenAddress(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"127.0.0.1:8451", "127.0.0.1:8451", true},
		{":8443", "127.0.0.1:8443", true},
		{"0.0.0.0:8443", "[::1]:8443", true},
		{"[::]:8443", "10.0.0.1:8443", true},
		{"LOCALHOST:9", "localhost:9", true},
		{"[::1]:9", "[0:0:0:0:0:0:0:1]:9", true},
		{"[::1]:9443", "localhost:9443", true},
		{"localhost.:9443", "127.0.0.1:9443", true},
		{"localhost:9443", "127.0.0.2:9443", true},
		{"localhost:9443", "10.0.0.1:9443", false},
		{"localhost:9443", "acme.example:9443", false},
		{"127.0.0.1:8443", "127.0.0.1:9464", false},
		{"127.0.0.1:8443", "127.0.0.2:8443", false},
		{"127.0.0.1:0", "127.0.0.1:0", false},
		{":8443", ":9464", false},
	} {
		if got := sameListenAddress(tc.a, tc.b); got != tc.want {
			t.Errorf("sameListenAddress(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	resolve := ServeFlags(fs)
	if err := fs.Parse([]string{"--listen", "127.0.0.1:8451", "--metrics-listen", "127.0.0.1:9464"}); err != nil {
		t.Fatal(err)
	}
	if _, err := resolve(); err != nil {
		t.Errorf("distinct listen and metrics-listen refused: %v", err)
	}
}

// TestCertValidityFollowsBR: the default profile follows the BR only when
// cert-validity is given by no source; a flag, the environment or the
// config file makes it the operator's, even when equal to the default.
func TestCertValidityFollowsBR(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("cert-validity: 90d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		env     string
		follows bool
	}{
		{"no source", nil, "", true},
		{"another setting only", []string{"--hostname", "ca.example.test"}, "", true},
		{"flag", []string{"--cert-validity", "90d"}, "", false},
		{"environment", nil, "30d", false},
		{"config file", []string{"--config", file}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("CERTGATE_CERT_VALIDITY", tc.env)
			}
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			resolve := ServeFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			s, err := resolve()
			if err != nil {
				t.Fatal(err)
			}
			if s.CertValidityFollowsBR != tc.follows {
				t.Errorf("CertValidityFollowsBR = %v, want %v", s.CertValidityFollowsBR, tc.follows)
			}
			if tc.follows && s.CertValidity != DefaultCertValidity {
				t.Errorf("cert-validity = %s, want the default %s", s.CertValidity, DefaultCertValidity)
			}
		})
	}
}

// TestResolveWholeNumberTypes: a non-numeric value for a flag of any
// integer type (audit list --before is an int64) is refused as "want a
// whole number", from the environment or the file, not with the parser's
// internals (strconv.ParseInt: parsing "7d": invalid syntax).
func TestResolveWholeNumberTypes(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte("seq: 7d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, env, file, want string }{
		{"env", "7d", "", `CERTGATE_BEFORE="7d": want a whole number`},
		{"file", "", cfg, "config file " + cfg + ": seq: want a whole number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("CERTGATE_BEFORE", tc.env)
			}
			fs := pflag.NewFlagSet("audit list", pflag.ContinueOnError)
			fs.Int64("before", 0, "")
			fs.Uint("seq", 0, "")
			fs.String("config", tc.file, "")
			err := Resolve(fs)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestARISettings: ari-retry-after (default 6h) and ari-explanation-url
// (default none) from flags and the environment.
func TestARISettings(t *testing.T) {
	for _, tt := range []struct {
		args        []string
		env         map[string]string
		retryAfter  time.Duration
		explanation string
	}{
		{nil, nil, 6 * time.Hour, ""},
		{[]string{"--ari-retry-after", "1h", "--ari-explanation-url", "https://ca.example.test/ari"}, nil, time.Hour, "https://ca.example.test/ari"},
		{nil, map[string]string{"CERTGATE_ARI_RETRY_AFTER": "24h", "CERTGATE_ARI_EXPLANATION_URL": "http://ca.example.test/ari"}, 24 * time.Hour, "http://ca.example.test/ari"},
	} {
		for k, v := range tt.env {
			t.Setenv(k, v)
		}
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		resolve := ServeFlags(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		s, err := resolve()
		if err != nil {
			t.Fatalf("%v %v: %v", tt.args, tt.env, err)
		}
		if s.ARIRetryAfter != tt.retryAfter || s.ARIExplanationURL != tt.explanation {
			t.Errorf("%v %v: ari-retry-after %v, ari-explanation-url %q; want %v, %q", tt.args, tt.env, s.ARIRetryAfter, s.ARIExplanationURL, tt.retryAfter, tt.explanation)
		}
	}
}

// TestCASubjectSettings: ca-organization (default certgate) and ca-country
// (default none) are read from flags and the environment; the country is
// upper-cased and must be an ISO 3166-1 two-letter code, the organization
// a name short enough for the CA's common names, each refused in one line
// naming the setting.
func TestCASubjectSettings(t *testing.T) {
	for _, tt := range []struct {
		args          []string
		env           map[string]string
		org, country  string
		wantErrSubstr string
	}{
		{nil, nil, "certgate", "", ""},
		{[]string{"--ca-organization", "Example Corp", "--ca-country", "de"}, nil, "Example Corp", "DE", ""},
		{nil, map[string]string{"CERTGATE_CA_COUNTRY": "US", "CERTGATE_CA_ORGANIZATION": "Acme"}, "Acme", "US", ""},
		{[]string{"--ca-country", "Germany"}, nil, "", "", "ca-country: \"Germany\" is not an ISO 3166-1 two-letter country code"},
		{[]string{"--ca-country", "QQ"}, nil, "", "", "ca-country: \"QQ\" is not"},
		{[]string{"--ca-organization", " "}, nil, "", "", "ca-organization:"},
		{[]string{"--ca-organization", strings.Repeat("o", MaxCAOrganization+1)}, nil, "", "", "ca-organization:"},
	} {
		for k, v := range tt.env {
			t.Setenv(k, v)
		}
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		resolve := ServeFlags(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		s, err := resolve()
		if tt.wantErrSubstr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstr) {
				t.Errorf("%v: err %v, want %q", tt.args, err, tt.wantErrSubstr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v %v: %v", tt.args, tt.env, err)
		}
		if s.CAOrganization != tt.org || s.CACountry != tt.country {
			t.Errorf("%v %v: ca-organization %q, ca-country %q; want %q, %q", tt.args, tt.env, s.CAOrganization, s.CACountry, tt.org, tt.country)
		}
	}
}

// TestScanSettings: scan-interval and scan-targets come together (flags,
// environment), the interval is at least a minute, and targets are kept
// as given (server.New parses them).
func TestScanSettings(t *testing.T) {
	for _, tt := range []struct {
		args          []string
		env           map[string]string
		interval      time.Duration
		targets       []string
		wantErrSubstr string
	}{
		{nil, nil, 0, nil, ""},
		{[]string{"--scan-interval", "6h", "--scan-targets", "10.0.0.0/28:443,8443", "--scan-targets", "www.example.com"}, nil,
			6 * time.Hour, []string{"10.0.0.0/28:443,8443", "www.example.com"}, ""},
		{[]string{"--scan-interval", "6h"}, nil, 0, nil, "scan-interval: set, but scan-targets is not: set both"},
		{[]string{"--scan-targets", "10.0.0.1"}, nil, 0, nil, "scan-targets: set, but scan-interval is not: set both"},
		{[]string{"--scan-interval", "30s", "--scan-targets", "10.0.0.1"}, nil, 0, nil, "scan-interval: must be 0 (no scheduled scan) or at least 1m"},
		// Last: t.Setenv lasts to the end of the test.
		{nil, map[string]string{"CERTGATE_SCAN_INTERVAL": "1d", "CERTGATE_SCAN_TARGETS": "a.example.com b.example.com:8443"}, 24 * time.Hour,
			[]string{"a.example.com b.example.com:8443"}, ""},
	} {
		for k, v := range tt.env {
			t.Setenv(k, v)
		}
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		resolve := ServeFlags(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		s, err := resolve()
		if tt.wantErrSubstr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstr) {
				t.Errorf("%v: err %v, want %q", tt.args, err, tt.wantErrSubstr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v %v: %v", tt.args, tt.env, err)
		}
		if s.ScanInterval != tt.interval || strings.Join(s.ScanTargets, "|") != strings.Join(tt.targets, "|") {
			t.Errorf("%v %v: scan-interval %v, scan-targets %q", tt.args, tt.env, s.ScanInterval, s.ScanTargets)
		}
	}
}

// TestEmptyListSettings: a list setting given an empty or blank value
// (`scan-targets:`, `scan-targets: ""` or a list of blanks in the file,
// CERTGATE_SCAN_TARGETS=) has none, as an empty scan-starttls,
// notify-rules or caa-identities has: it was one empty target, so the
// start failed "set both ... or neither" without scan-interval, in an
// error that did not name the file. The SSO lists likewise count as not
// given (they were "given" without sso-issuer). A refusal for scan
// targets without scan-interval names the file it comes from.
func TestEmptyListSettings(t *testing.T) {
	lists := []string{"scan-targets", "scan-starttls", "caa-identities", "notify-rules", "va-dns-resolver", "va-deny-networks",
		"perspectives", "sso-role-map", "sso-allowed-email-domains"}
	for _, name := range lists {
		for _, v := range []string{"", `""`, `" "`, "[]", `[""]`, `["", " "]`} {
			s, _, err := serveWithFile(t, "", name+": "+v+"\n")
			if err != nil {
				t.Errorf("file %s: %s: %v, want none", name, v, err)
				continue
			}
			if len(s.ScanTargets) != 0 {
				t.Errorf("file %s: %s: scan targets %q, want none", name, v, s.ScanTargets)
			}
		}
		for _, v := range []string{"", " "} {
			t.Run(name, func(t *testing.T) {
				t.Setenv(EnvName(name), v)
				if _, _, err := serveWithFile(t, "", ""); err != nil {
					t.Errorf("%s=%q: %v, want none", EnvName(name), v, err)
				}
			})
		}
	}
	// Targets among blanks are kept; alone they need scan-interval, and
	// the refusal names the file.
	s, _, err := serveWithFile(t, "", "scan-interval: 1h\nscan-targets: [\"\", a.example]\n")
	if err != nil || strings.Join(s.ScanTargets, "|") != "a.example" {
		t.Errorf("targets among blanks: %q, %v; want a.example", s.ScanTargets, err)
	}
	_, file, err := serveWithFile(t, "", "scan-targets: a.example\n")
	if want := "config file " + file + ": scan-targets: set, but scan-interval is not"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("scan-targets without scan-interval: %v, want %q", err, want)
	}
}
