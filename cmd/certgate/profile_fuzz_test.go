package main

// Fuzz target for the profile files of `certgate profile create|update
// --file` (YAML or JSON). Findings are kept in
// testdata/fuzz/FuzzProfileFile/ and replayed by plain `go test`.
//
//	go test -run '^$' -fuzz '^FuzzProfileFile$' -fuzztime 3m -parallel 1 ./cmd/certgate/

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/certgate/certgate/internal/policy"
	"go.yaml.in/yaml/v3"
)

// FuzzProfileFile reads arbitrary profile files: readProfileFile never
// panics and refuses with one line of text; a file it reads whose profile
// is valid (Validate) is the same profile when written as JSON and read by
// the admin API's parser (policy.Parse), and when written as YAML and read
// again.
func FuzzProfileFile(f *testing.F) {
	for _, s := range []string{
		"name: web\nvalidity: 90d\nmaxValidity: 199d\nauthzReuse: 7d\nidentifierTypes: [dns, ip]\nkeyTypes: [ecdsa-p256]\nekus: [serverAuth]\nwildcard: true\n",
		"name: internal\nvalidity: 30d\nallow: ['*.corp.test', 10.0.0.0/8]\ndeny: [secret.corp.test]\napproval:\n  identifiers: ['*.pay.corp.test']\n  escalateAfter: 2h\n",
		"name: mtls\nvalidity: 24h\nekus: [clientAuth]\nsubjectFields: [O, C]\nattributes:\n  - name: team\n    required: true\n    enum: [a, b]\n  - name: cost\n    regex: '[0-9]+'\n",
		"name: short\nvalidity: 1d\nrenewalWindow: {start: 50%, end: 75%}\nchallenges: [dns-01]\nvalidation: {dnsResolvers: ['127.0.0.1:53'], dnsTimeout: 5s, dnssec: true}\n",
		`{"name":"json","validity":"90d","wildcard":false}`,
		"name: x\nvalidity: 1w\n", "name: x\nvalidity: 90\n", "name: x\nvalidity: -1d\n", "name: x\nvalidty: 90d\n",
		"name: x\nwildcard: maybe\n", "name: [a]\n", "- name: x\n", "", "~\n", "name: x\n---\nname: y\n",
		"name: &a x\ndescription: *a\n", "name: x\nvalidity: !!binary aGVsbG8=\n", "name: x\nekus: serverAuth\n",
		"name: x\nattributes: {team: a}\n", "name: 'x\n", "\xff\xfe", "name: x\nvalidity: 90d\nvalidity: 30d\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		file := filepath.Join(dir, "profile.yaml")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := readProfileFile(file)
		if err != nil {
			if msg := err.Error(); msg == "" || strings.ContainsAny(msg, "\r\n") || !utf8.ValidString(msg) {
				t.Fatalf("unclear error %q", msg)
			}
			return
		}
		if p.Validate() != nil {
			return
		}
		js, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("profile read from %q does not marshal: %v", data, err)
		}
		q, err := policy.Parse(js)
		if err != nil {
			t.Fatalf("profile read from %q, written as %s, refused by policy.Parse: %v", data, js, err)
		}
		if js2, _ := json.Marshal(q); !bytes.Equal(js, js2) {
			t.Fatalf("profile read from %q is %s, through JSON %s", data, js, js2)
		}
		y, err := yaml.Marshal(p)
		if err != nil {
			t.Fatalf("profile read from %q does not marshal as YAML: %v", data, err)
		}
		if err := os.WriteFile(file, y, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := readProfileFile(file)
		if err != nil {
			t.Fatalf("profile read from %q, written as YAML %q, refused: %v", data, y, err)
		}
		if js3, _ := json.Marshal(r); !bytes.Equal(js, js3) {
			t.Fatalf("profile read from %q is %s, through YAML %q %s", data, js, y, js3)
		}
	})
}
