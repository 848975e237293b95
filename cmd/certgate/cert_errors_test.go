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

// TestSerialWhiteSpaceRefused: a serial (or fingerprint) with white space
// or a control character around or in it is refused in one line naming
// it, by every command that takes one, as the admin API refuses it (422):
// `cert show|export|revoke|suggest-renewal`, `cert list --serial
// --fingerprint` and `audit list --object-id` of a certificate. The
// inventory trimmed the space around a serial, so `cert show " 53"` showed
// and `cert revoke " 53"` revoked the certificate while `cert show "5 3"`
// and the API refused theirs; nothing is revoked here.
func TestSerialWhiteSpaceRefused(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	files := t.TempDir()
	writeSelfSigned(t, filepath.Join(files, "c.pem"), 0x53, 20, 0, "space.example.org")
	if _, _, err := runCLI(t, nil, "cert", "import", "--data", data, files); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{" 53", "53 ", "53\t", "\u00a053", "5 3", "00:53\n"} {
		for _, args := range [][]string{
			{"cert", "show", ref},
			{"cert", "export", ref},
			{"cert", "revoke", ref},
			{"cert", "suggest-renewal", ref, "--before", "2h"},
			{"cert", "list", "--serial", ref},
			{"cert", "list", "--fingerprint", ref + strings.Repeat("ab", 31)},
			{"audit", "list", "--object-type", "certificate", "--object-id", ref},
		} {
			_, _, err := runCLI(t, nil, append(args, "--data", data)...)
			if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "white space or a control character") {
				t.Errorf("%q: %v, want one line refusing the white space", args, err)
			}
		}
	}
	if _, _, err := runCLI(t, nil, "audit", "list", "--object-id", " 00:53", "--data", data); err == nil || !strings.Contains(err.Error(), "--object-id: ") {
		t.Errorf("audit list --object-id ' 00:53': %v, want a refusal naming --object-id", err)
	}
	out, _, err := runCLI(t, nil, "cert", "show", "53", "--data", data)
	if err != nil || !strings.Contains(out, "space.example.org") || strings.Contains(out, "revoked") {
		t.Errorf("cert show 53: %v\n%s\nwant the certificate, not revoked", err, out)
	}
}

// TestCertRevokeChecksIssuersFile: `cert revoke --issuers-file` with a
// file that does not exist is refused in one line, and the certificate
// (here an imported one, which no upstream issued) is not revoked, as
// `profile create --issuers-file` refuses it. The former code read the
// file only for a certificate of an upstream CA and ignored it otherwise.
func TestCertRevokeChecksIssuersFile(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	files := t.TempDir()
	writeSelfSigned(t, filepath.Join(files, "c.pem"), 0x54, 20, 0, "plain.example.org")
	if _, _, err := runCLI(t, nil, "cert", "import", "--data", data, files); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "nonexist.yaml")
	_, _, err := runCLI(t, nil, "cert", "revoke", "--data", data, "54", "--issuers-file", missing)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "--issuers-file") || !strings.Contains(err.Error(), missing) {
		t.Errorf("revoke --issuers-file %s: %v, want refused in one line naming it", missing, err)
	}
	if out, _, err := runCLI(t, nil, "cert", "revoke", "--data", data, "54"); err != nil || !strings.Contains(out, "revoked 54") {
		t.Errorf("revoke after the refusal: %q, %v; want revoked (the refusal revoked nothing)", out, err)
	}
}
