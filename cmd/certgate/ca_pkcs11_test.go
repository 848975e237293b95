package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/hsm"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/testenv/softhsm"
)

// TestCARotateIntoPKCS11Token: `certgate ca rotate --pkcs11-...` makes the
// new intermediate's key in a real SoftHSM2 token, leaves no
// intermediate.key in DATA/ca, and `certgate serve` with the same settings
// starts with it. A start with a wrong PIN, a key label the token lacks,
// or without the settings fails in one line naming the setting; the PIN
// on the command line is refused.
func TestCARotateIntoPKCS11Token(t *testing.T) {
	softhsm.Token(t, "certgate-ca")
	data := filepath.Join(t.TempDir(), "data")
	if err := serveCLI(t, "--data", data, "--listen", "127.0.0.1:0"); err != nil { // creates the CA and the database
		t.Fatal(err)
	}
	before, err := local.ReadIntermediate(server.CADir(data))
	if err != nil {
		t.Fatal(err)
	}
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(softhsm.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p11 := []string{"--pkcs11-module", softhsm.Module, "--pkcs11-token-label", "certgate-ca", "--pkcs11-pin-file", pinFile, "--pkcs11-key-label", "issuing-1"}

	if _, _, err := runCLI(t, nil, append([]string{"ca", "rotate", "--data", data, "--pkcs11-pin", softhsm.PIN}, p11...)...); err == nil ||
		!strings.HasPrefix(err.Error(), "pkcs11-pin: not accepted on the command line") {
		t.Fatalf("the PIN on the command line: %v, want refused", err)
	}
	out, _, err := runCLI(t, nil, append([]string{"ca", "rotate", "--data", data, "--key-type", "ecdsa-p384"}, p11...)...)
	if err != nil {
		t.Fatal(err)
	}
	if want := `its key is pkcs11-key-label "issuing-1" in the token "certgate-ca" (ecdsa-p384), not on disk`; !strings.Contains(out, want) {
		t.Errorf("rotate printed %q, want %q", out, want)
	}
	caDir := server.CADir(data)
	if _, err := os.Stat(filepath.Join(caDir, local.IntermediateKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s is on disk after the rotation into the token: %v", local.IntermediateKeyFile, err)
	}
	if _, err := os.Stat(filepath.Join(caDir, local.RetiredDir, local.IntermediateID(before), local.IntermediateKeyFile)); err != nil {
		t.Fatalf("the old intermediate's key is not retired: %v", err)
	}
	cur, err := local.ReadIntermediate(caDir)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Equal(before) || local.KeyTypeOf(cur.PublicKey) != "ecdsa-p384" {
		t.Fatalf("the intermediate after the rotation: %s, %s", cur.Subject, local.KeyTypeOf(cur.PublicKey))
	}

	// The label is taken now: a second rotation into it is refused, and
	// changes nothing.
	if _, _, err := runCLI(t, nil, append([]string{"ca", "rotate", "--data", data}, p11...)...); err == nil ||
		!strings.Contains(err.Error(), "already holds a key of that label") {
		t.Errorf("rotating into a taken label: %v", err)
	}

	// Commands that sign nothing with the intermediate work without the
	// token: a profile's lint, and revoking the retired intermediate (the
	// root key signs its CRL).
	if _, _, err := runCLI(t, nil, "profile", "create", "web", "--data", data, "--validity", "30d"); err != nil {
		t.Errorf("profile create on a CA whose key is in a token: %v", err)
	}
	if _, _, err := runCLI(t, nil, "ca", "revoke-intermediate", local.IntermediateID(before), "--data", data); err != nil {
		t.Errorf("revoke-intermediate on a CA whose key is in a token: %v", err)
	}
	// Rotating away from the token's key is refused (not supported yet).
	if _, _, err := runCLI(t, nil, "ca", "rotate", "--data", data); err == nil || !strings.Contains(err.Error(), "rotating away from a key in a token is not supported yet") {
		t.Errorf("rotating away from the token's key: %v", err)
	}

	serveArgs := func(extra ...string) []string {
		return append([]string{"--data", data, "--listen", "127.0.0.1:0"}, extra...)
	}
	if err := serveCLI(t, serveArgs(p11...)...); err != nil {
		t.Fatalf("serve with the token's key: %v", err)
	}
	wrongPIN := filepath.Join(t.TempDir(), "wrong-pin")
	if err := os.WriteFile(wrongPIN, []byte("9999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyPIN := filepath.Join(t.TempDir(), "empty-pin")
	if err := os.WriteFile(emptyPIN, []byte("\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		// An empty pkcs11-pin-file is named, not reported as pkcs11-pin not set.
		{"empty PIN file", []string{"--pkcs11-module", softhsm.Module, "--pkcs11-token-label", "certgate-ca", "--pkcs11-pin-file", emptyPIN, "--pkcs11-key-label", "issuing-1"},
			`pkcs11-pin-file ` + emptyPIN + `: the file is empty`},
		{"wrong PIN", []string{"--pkcs11-module", softhsm.Module, "--pkcs11-token-label", "certgate-ca", "--pkcs11-pin-file", wrongPIN, "--pkcs11-key-label", "issuing-1"},
			`built-in CA: pkcs11-pin-file ` + wrongPIN + `: the token "certgate-ca" refused the PIN (CKR_PIN_INCORRECT)`},
		{"key not in the token", []string{"--pkcs11-module", softhsm.Module, "--pkcs11-token-label", "certgate-ca", "--pkcs11-pin-file", pinFile, "--pkcs11-key-label", "issuing-2"},
			`built-in CA: pkcs11-key-label "issuing-2": the token "certgate-ca" holds no key pair by that name`},
		{"module missing", []string{"--pkcs11-module", "/nonexistent/libpkcs11.so", "--pkcs11-token-label", "certgate-ca", "--pkcs11-pin-file", pinFile, "--pkcs11-key-label", "issuing-1"},
			`built-in CA: pkcs11-module: /nonexistent/libpkcs11.so: no such file or directory`},
		{"no settings", nil, "built-in CA: directory is partially initialised: " + caDir + " has"},
		{"no module", []string{"--pkcs11-key-label", "issuing-1"}, "pkcs11-key-label: set, but pkcs11-module is not: give the PKCS#11 module's path too"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := serveCLI(t, serveArgs(c.args...)...)
			if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("serve: %v\nwant one line starting %q", err, c.want)
			}
			if c.args == nil && !strings.Contains(err.Error(), "give the pkcs11-* settings") {
				t.Errorf("serve without the settings: %v, want them named", err)
			}
		})
	}
}

// TestInitIntoPKCS11Token: `certgate init --pkcs11-...` makes the
// intermediate's key (of --ca-key-type) in a real SoftHSM2 token, writes
// no intermediate.key, and puts the pkcs11-* settings but the PIN in the
// starter configuration, with which `certgate serve` starts. A second
// init on the data directory is refused and makes no key.
func TestInitIntoPKCS11Token(t *testing.T) {
	softhsm.Token(t, "certgate-init")
	dir := t.TempDir()
	data, cfgFile, pinFile := filepath.Join(dir, "data"), filepath.Join(dir, "certgate.yaml"), filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, []byte(softhsm.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p11 := func(label string) []string {
		return []string{"--pkcs11-module", softhsm.Module, "--pkcs11-token-label", "certgate-init", "--pkcs11-pin-file", pinFile, "--pkcs11-key-label", label}
	}
	out, _, err := runCLI(t, nil, append([]string{"init", "--data", data, "--ca-key-type", "ecdsa-p384", "--config-out", cfgFile}, p11("issuing")...)...)
	if err != nil {
		t.Fatal(err)
	}
	if want := `the intermediate's key is pkcs11-key-label "issuing" in the token "certgate-init", not on disk`; !strings.Contains(out, want) {
		t.Errorf("init printed %q, want %q", out, want)
	}
	caDir := server.CADir(data)
	if _, err := os.Stat(filepath.Join(caDir, local.IntermediateKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s is on disk: %v", local.IntermediateKeyFile, err)
	}
	inter, err := local.ReadIntermediate(caDir)
	if err != nil {
		t.Fatal(err)
	}
	if kt := local.KeyTypeOf(inter.PublicKey); kt != "ecdsa-p384" {
		t.Errorf("intermediate key %s, want ecdsa-p384", kt)
	}
	yaml, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`pkcs11-module: "` + softhsm.Module + `"`, `pkcs11-token-label: "certgate-init"`, `pkcs11-key-label: "issuing"`, `pkcs11-pin-file: "` + pinFile + `"`} {
		if !strings.Contains(string(yaml), want) {
			t.Errorf("the starter configuration lacks %q:\n%s", want, yaml)
		}
	}
	if strings.Contains(string(yaml), "pkcs11-pin:") {
		t.Errorf("the starter configuration holds the PIN:\n%s", yaml)
	}
	if err := serveCLI(t, "--config", cfgFile, "--listen", "127.0.0.1:0"); err != nil {
		t.Fatalf("serve with the starter configuration: %v", err)
	}
	if _, _, err := runCLI(t, nil, append([]string{"init", "--data", data}, p11("second")...)...); err == nil || !strings.Contains(err.Error(), "certgate init never replaces it") {
		t.Fatalf("a second init: %v, want refused", err)
	}
	tok, err := hsm.Open(hsm.Config{Module: softhsm.Module, TokenLabel: "certgate-init", Slot: -1, PIN: softhsm.PIN, KeyLabel: "second"})
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	if _, err := tok.Key(); err == nil {
		t.Error("the refused init made a key in the token")
	}
}
