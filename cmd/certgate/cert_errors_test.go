package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCertNotFoundAndRevokedErrorsArePlain: `cert show|export|revoke` of a
// serial the inventory does not hold, and `cert revoke` of a revoked
// certificate, say so in the command's terms; they printed the package
// sentinels "inventory: certificate not found: abc" and "inventory:
// certificate already revoked: 53".
func TestCertNotFoundAndRevokedErrorsArePlain(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	files := t.TempDir()
	writeSelfSigned(t, filepath.Join(files, "c.pem"), 0x53, 20, 0, "plain.example.org")
	if _, _, err := runCLI(t, nil, "cert", "import", "--data", data, files); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, nil, "cert", "revoke", "--data", data, "53"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cert", "show", "abc"}, `there is no certificate with serial or SHA-256 fingerprint "abc" (see 'certgate cert list')`},
		{[]string{"cert", "export", "abc"}, `there is no certificate with serial or SHA-256 fingerprint "abc" (see 'certgate cert list')`},
		{[]string{"cert", "revoke", "abc"}, `there is no certificate with serial or SHA-256 fingerprint "abc" (see 'certgate cert list')`},
		{[]string{"cert", "revoke", "53"}, `certificate 53 is revoked already (see 'certgate cert show 53')`},
	} {
		_, _, err := runCLI(t, nil, append(tc.args, "--data", data)...)
		if err == nil || err.Error() != tc.want || strings.Contains(err.Error(), "inventory: ") {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
