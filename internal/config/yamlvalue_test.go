package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// resolveFile resolves serve's settings from a --config file holding yaml.
func resolveFile(t *testing.T, yaml string) (*Serve, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	r := ServeFlags(fs)
	if err := fs.Parse([]string{"--config", file}); err != nil {
		t.Fatal(err)
	}
	return r()
}

// TestConfigFileValuesAsWritten: a YAML value is read as the text a flag
// would take: a list as its comma-separated elements (not Go's "[a b]"),
// a date-like scalar as written (not a time.Time's "2024-01-01 00:00:00
// +0000 UTC"); a mapping is refused naming the setting and what it takes
// (one value, or a value or a list for a setting of several values).
func TestConfigFileValuesAsWritten(t *testing.T) {
	s, err := resolveFile(t, "caa-identities: [a.example, B.example]\nva-deny-networks:\n  - 10.0.0.0/8\n  - 192.0.2.1\nhostname: 2024-01-01\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.example", "b.example"}; !slices.Equal(s.CAAIdentities, want) {
		t.Errorf("caa-identities = %q, want %q", s.CAAIdentities, want)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32")}; !slices.Equal(s.VADenyNetworks, want) {
		t.Errorf("va-deny-networks = %v, want %v", s.VADenyNetworks, want)
	}
	if s.Hostname != "2024-01-01" {
		t.Errorf("hostname = %q, want 2024-01-01 as written", s.Hostname)
	}
	for yaml, want := range map[string]string{
		"hostname: {a: b}\n":         "hostname: want one value, not a mapping",
		"caa-identities: {a: b}\n":   "caa-identities: want a value or a list of values, not a mapping",
		"caa-identities: [[a], b]\n": "caa-identities: want a value or a list of values, not a nested list or mapping",
	} {
		if _, err := resolveFile(t, yaml); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", yaml, err, want)
		}
	}
}

// TestConfigFileListOnlyWhereSeveralValues: a YAML list is read as several
// values only by a setting that takes several (caa-identities; the
// comma-separated va-dns-resolver, va-deny-networks, perspectives). Any
// other setting refuses it, naming the setting, instead of reading
// "approval-webhook: [https://a.example/x, https://b.example/y]" as the one
// URL "https://a.example/x,https://b.example/y", or "data: [a, b]" as a
// data directory named "a,b".
func TestConfigFileListOnlyWhereSeveralValues(t *testing.T) {
	for _, yaml := range []string{
		"approval-webhook: [https://a.example/x, https://b.example/y]\n",
		"terms-of-service: [https://a.example/tos]\n",
		"data: [a, b]\n",
		"db: [x.db, y.db]\n",
		"cert-validity: [90d]\n",
		"ocsp: [true]\n",
		"va-http-port: [80]\n",
	} {
		key, _, _ := strings.Cut(yaml, ":")
		want := key + ": want one value, not a list"
		if _, err := resolveFile(t, yaml); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", yaml, err, want)
		}
	}
	s, err := resolveFile(t, "va-dns-resolver: [127.0.0.1:53, '[::1]:53']\nva-deny-networks: [private]\ncaa-identities: [a.example]\n")
	if err != nil {
		t.Fatal(err)
	}
	if s.VADNSResolver != "127.0.0.1:53,[::1]:53" {
		t.Errorf("va-dns-resolver = %q, want both servers", s.VADNSResolver)
	}
	if len(s.VADenyNetworks) == 0 || !slices.Equal(s.CAAIdentities, []string{"a.example"}) {
		t.Errorf("va-deny-networks = %v, caa-identities = %q", s.VADenyNetworks, s.CAAIdentities)
	}
	// perspectives takes a list too: it is read (and then wants its
	// secret file), not refused as a list.
	if _, err := resolveFile(t, "perspectives: [a=https://a.example:1, b=https://b.example:2]\n"); err == nil || !strings.Contains(err.Error(), "perspective-secret-file") {
		t.Errorf("perspectives list: error %v, want the missing perspective-secret-file", err)
	}
}

// TestConfigFileBlockScalarsAndDocuments: a value written as a YAML block
// scalar ("|" or ">", whose text ends with a line break) is read without
// its final line breaks, as the one-line value it stands for; a file of
// more than one YAML document is refused instead of its later documents
// being ignored.
func TestConfigFileBlockScalarsAndDocuments(t *testing.T) {
	s, err := resolveFile(t, "terms-of-service: |\n  https://ca.example/tos\nwebsite: >\n  https://ca.example/\n\n")
	if err != nil {
		t.Fatal(err)
	}
	if s.TermsOfService != "https://ca.example/tos" || s.Website != "https://ca.example/" {
		t.Errorf("terms-of-service = %q, website = %q, want the URLs without line breaks", s.TermsOfService, s.Website)
	}
	_, err = resolveFile(t, "hostname: a.example\n---\nhostname: b.example\n")
	if err == nil || !strings.Contains(err.Error(), "more than one YAML document") {
		t.Errorf("two documents: error %v, want one naming the second document", err)
	}
	// A lone document marker and a trailing one are one document.
	if s, err := resolveFile(t, "---\nhostname: a.example\n...\n"); err != nil || s.Hostname != "a.example" {
		t.Errorf("one marked document: %v, hostname %q", err, s.Hostname)
	}
}

// TestConfigFileShapeErrors: a configuration file that is not valid YAML
// is named as such with the parser's line (it was called "not a YAML
// mapping of settings"), a file whose top level is a list or a single
// value says which, without the decoder's Go types ("cannot unmarshal
// !!seq into map[string]yaml.Node"), and a setting given twice names the
// key and both lines. An empty file, or one of comments only, has no
// settings.
func TestConfigFileShapeErrors(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want []string
	}{
		{"listen: [a\n", []string{"not valid YAML", "line 1"}},
		{"\tva-http-port: 80\n", []string{"not valid YAML"}},
		{"- listen: :8443\n- data: x\n", []string{"line 1: the file is a YAML list", "want a mapping of settings"}},
		{"listen\n", []string{`the file is the single value "listen"`, "want a mapping of settings"}},
		{"va-http-port: 80\nva-http-port: 81\n", []string{`line 2: mapping key "va-http-port" already defined at line 1`}},
	} {
		_, err := resolveFile(t, tc.yaml)
		if err == nil {
			t.Errorf("%q: no error", tc.yaml)
			continue
		}
		msg := err.Error()
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%q: error %q, want it to contain %q", tc.yaml, msg, w)
			}
		}
		for _, bad := range []string{"not a YAML mapping", "map[string]", "yaml.Node", "unmarshal errors", "\n"} {
			if strings.Contains(msg, bad) {
				t.Errorf("%q: error %q contains %q", tc.yaml, msg, bad)
			}
		}
	}
	for _, y := range []string{"", "# only a comment\n", "~\n"} {
		if _, err := resolveFile(t, y); err != nil {
			t.Errorf("%q: %v, want no settings and no error", y, err)
		}
	}
}
