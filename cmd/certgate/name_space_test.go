package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestNameWhiteSpaceRefused: a --name or --suffix filter with white space
// or a control character around or in it is refused in one line naming
// the flag, as a serial or fingerprint is; it was trimmed silently, so
// `cert list --name " a.example"` listed a.example's certificates.
func TestNameWhiteSpaceRefused(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	files := t.TempDir()
	writeSelfSigned(t, filepath.Join(files, "c.pem"), 0x54, 20, 0, "space.example.org")
	if _, _, err := runCLI(t, nil, "cert", "import", "--data", data, files); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{" space.example.org", "space.example.org ", "space.example.org\t", "\u00a0space.example.org", "space .example.org"} {
		for _, args := range [][]string{
			{"cert", "list", "--name", name},
			{"cert", "list", "--suffix", strings.Replace(name, "space.", "", 1)},
		} {
			_, _, err := runCLI(t, nil, append(args, "--data", data)...)
			flag := args[2]
			if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), flag+": ") ||
				!strings.Contains(err.Error(), "white space or a control character") {
				t.Errorf("%q: %v, want one line naming %s and refusing the white space", args, err, flag)
			}
		}
	}
	for _, args := range [][]string{{"cert", "list", "--name", "SPACE.example.org."}, {"cert", "list", "--suffix", "*.example.org"}} {
		out, _, err := runCLI(t, nil, append(args, "--data", data)...)
		if err != nil || !strings.Contains(out, "space.example.org") {
			t.Errorf("%q: %v\n%s\nwant the certificate", args, err, out)
		}
	}
}
