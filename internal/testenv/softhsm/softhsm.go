// Package softhsm gives tests a real PKCS#11 token: SoftHSM2 (Debian
// package softhsm2) with its token store in a temporary directory.
package softhsm

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Module is the path of SoftHSM2's PKCS#11 module on Debian.
const Module = "/usr/lib/softhsm/libsofthsm2.so"

// Test PINs of the tokens Token initialises.
const (
	PIN   = "1234"     // user PIN
	SOPIN = "12345678" // security officer PIN
)

// Token points SOFTHSM2_CONF (t.Setenv: the test must not be parallel)
// at a new token store in a temporary directory and initialises a token
// labelled label in it, with PIN and SOPIN. It fails the test, naming the
// package to install, when SoftHSM2 is not installed: the PKCS#11 tests
// need a real token and are never skipped. Open tokens of the module
// must all be closed before the next Token call of the process, since the
// module reads SOFTHSM2_CONF when it is first initialised.
func Token(t testing.TB, label string) {
	t.Helper()
	util, err := exec.LookPath("softhsm2-util")
	if _, serr := os.Stat(Module); err != nil || serr != nil {
		t.Fatalf("SoftHSM2 is not installed (softhsm2-util or %s missing): install it with `apt-get install -y softhsm2`; the PKCS#11 tests need a real token", Module)
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	out, err := exec.Command(util, "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SOPIN).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
}
