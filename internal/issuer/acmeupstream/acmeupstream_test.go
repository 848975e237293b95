package acmeupstream

import (
	"crypto"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/issuer"
)

// load writes body as an issuers file and loads it with this connector.
func load(t *testing.T, body string) ([]issuer.Issuer, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "issuers.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return issuer.Load(path, issuer.Env{Data: filepath.Join(dir, "data")}, Connector())
}

// TestLoad: a valid entry becomes an issuer of its name and timeout, and
// each mistake stops the load with a line naming the key at fault.
func TestLoad(t *testing.T) {
	iss, err := load(t, "issuers:\n  - name: up\n    type: acme\n    directory: https://ca.example.test/dir\n    timeout: 45s\n")
	if err != nil || len(iss) != 1 || iss[0].Name() != "up" {
		t.Fatalf("load: %v, %v", iss, err)
	}
	if rm, ok := iss[0].(issuer.Remote); !ok || rm.IssueTimeout().Seconds() != 45 {
		t.Fatalf("issuer %T is not a Remote with the 45s timeout", iss[0])
	}
	if _, ok := iss[0].(issuer.Revoker); !ok {
		t.Fatal("issuer is not a Revoker")
	}
	const head = "issuers:\n  - name: up\n    type: acme\n"
	for name, tc := range map[string]struct{ body, want string }{
		"http directory": {head + "    directory: http://ca.example.test/dir\n", `directory: "http://ca.example.test/dir" is not an https URL`},
		"unknown key":    {head + "    directory: https://ca.example.test/dir\n    hmac: x\n", `line 5: unknown key "hmac" (the keys are name, type, directory, email, eabKid, eabHmacFile, caBundle, challenge, timeout, profile`},
		"top key":        {"issuer:\n  - name: up\n", `line 1: unknown key "issuer" (the file has one key, issuers`},
		"not a list":     {"issuers: up\n", "line 1: issuers is not a list: write each issuer as a list element"},
		"top list":       {"- name: up\n  type: acme\n", "line 1: want the key issuers: with a list of issuers"},
		"wrong type":     {head + "    directory: https://ca.example.test/dir\n    email: [a, b]\n", "line 5: cannot unmarshal !!seq into string"},
		"eab half":       {head + "    directory: https://ca.example.test/dir\n    eabKid: k\n", "eabKid and eabHmacFile: give both or neither"},
		"eab file":       {head + "    directory: https://ca.example.test/dir\n    eabKid: k\n    eabHmacFile: /nonexistent/hmac\n", "eabHmacFile:"},
		"ca bundle":      {head + "    directory: https://ca.example.test/dir\n    caBundle: /nonexistent/ca.pem\n", "caBundle:"},
		"challenge":      {head + "    directory: https://ca.example.test/dir\n    challenge: dns-01\n", `challenge: "dns-01" is not supported`},
		"timeout":        {head + "    directory: https://ca.example.test/dir\n    timeout: soon\n", `timeout: "soon" is not a positive duration`},
		"type":           {"issuers:\n  - name: up\n    type: vault\n", `type "vault" is not one of acme`},
		"local":          {"issuers:\n  - name: local\n    type: acme\n", `"local" is the built-in CA`},
		"twice":          {head + "    directory: https://a.example.test/dir\n  - name: up\n    type: acme\n    directory: https://b.example.test/dir\n", `"up" is given twice`},
		"bad name":       {"issuers:\n  - name: Up CA\n    type: acme\n", `name "Up CA": use 1-63 lower-case letters`},
		// An entry that is a plain string, or whose name is a list: no Go
		// type name, no "unmarshal errors:;" (it was "cannot unmarshal !!str
		// `up` into issuer.entryHead").
		"string entry": {"issuers:\n  - up\n", "line 2: issuers[0] is not a mapping: write each issuer as keys and values"},
		"list name":    {"issuers:\n  - name: [a]\n    type: acme\n", "issuers[0]: line 2: cannot unmarshal !!seq into string"},
	} {
		if _, err := load(t, tc.body); err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") ||
			strings.Contains(err.Error(), "entryHead") || strings.Contains(err.Error(), ":;") {
			t.Errorf("%s: %v; want one line containing %q", name, err, tc.want)
		}
	}
}

// TestNames: what a profile's issuer may name is local and the file's
// names, in order.
func TestNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "issuers.yaml")
	if err := os.WriteFile(path, []byte("issuers:\n  - {name: b, type: acme}\n  - {name: a, type: acme}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := issuer.Names(path)
	if err != nil || !reflect.DeepEqual(got, []string{"local", "b", "a"}) {
		t.Fatalf("Names: %v, %v", got, err)
	}
	if got, err := issuer.Names(""); err != nil || !reflect.DeepEqual(got, []string{"local"}) {
		t.Fatalf("Names without a file: %v, %v", got, err)
	}
}

// TestAccountKey: the account key is made once, mode 0600 in a directory
// of mode 0700, and the same key is read back afterwards.
func TestAccountKey(t *testing.T) {
	path := KeyFile(t.TempDir(), "up")
	k1, err := loadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	if di, err := os.Stat(filepath.Dir(path)); err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("key directory: %v, %v; want mode 0700", di, err)
	}
	k2, err := loadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.signer.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k2.signer.Public()) {
		t.Fatal("the second load made another key")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("key directory holds %d entries; want the key only (no temporary file left)", len(entries))
	}
}
