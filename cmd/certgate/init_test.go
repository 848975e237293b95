package main

import (
	"crypto/rsa"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
)

// TestInitCreatesTheCAServeUses: `certgate init` creates the built-in CA
// with the key types, names, validity and PKI URL asked for, and writes a
// starter configuration that serve's configuration loader reads back as
// given; `serve` on that data directory signs with that CA (it does not
// make one of its own). A second init is refused in one line naming the
// CA and the commands that change one; so are a key type the BR do not
// allow and an existing --config-out, before anything is created. The
// former code had no init: the first serve made the CA with fixed key
// types and names.
func TestInitCreatesTheCAServeUses(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cfgFile := filepath.Join(t.TempDir(), "certgate.yaml")
	for _, args := range [][]string{
		{"--ca-key-type", "ed25519"},
		{"--ca-root-key-type", "rsa-1024"},
		{"--ca-country", "D1"},
		{"--ca-intermediate-validity", "20d", "--ca-root-validity", "10d"},
		{"--pki-url", "https://ca.example.test"},
		{"--listen", ":0"},
		{"--ca-root-cn", "Same", "--ca-intermediate-cn", "Same"},
	} {
		_, _, err := runCLI(t, nil, append([]string{"init", "--data", data}, args...)...)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("init %v: %v, want refused in one line", args, err)
		}
		if ok, _ := local.Exists(server.CADir(data)); ok {
			t.Fatalf("init %v created a CA though refused", args)
		}
	}
	out, _, err := runCLI(t, nil, "init", "--data", data, "--ca-key-type", "rsa-2048", "--ca-root-key-type", "ecdsa-p256",
		"--ca-organization", "Example Corp", "--ca-country", "de", "--ca-root-cn", "Example Root R1", "--ca-intermediate-cn", "Example Issuing CA I1",
		"--ca-root-validity", "3000d", "--ca-intermediate-validity", "400d", "--pki-url", "http://pki.example.test:8080",
		"--hostname", "acme.example.test", "--config-out", cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "created the built-in CA") || !strings.Contains(out, cfgFile) {
		t.Errorf("init printed %q", out)
	}
	dir := server.CADir(data)
	inter, err := local.ReadIntermediate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := inter.PublicKey.(*rsa.PublicKey); !ok || inter.Subject.CommonName != "Example Issuing CA I1" ||
		inter.Subject.String() != "CN=Example Issuing CA I1,O=Example Corp,C=DE" {
		t.Errorf("intermediate %s (%T), want RSA, CN=Example Issuing CA I1,O=Example Corp,C=DE", inter.Subject, inter.PublicKey)
	}
	if got := inter.NotAfter.Sub(inter.NotBefore).Hours() / 24; got != 400 {
		t.Errorf("intermediate valid %v days, want 400", got)
	}
	if len(inter.CRLDistributionPoints) != 1 || inter.CRLDistributionPoints[0] != "http://pki.example.test:8080/pki/root.crl" ||
		len(inter.IssuingCertificateURL) != 1 || inter.IssuingCertificateURL[0] != "http://pki.example.test:8080/pki/root.crt" {
		t.Errorf("intermediate CRL DP %q, AIA %q, want the root's under --pki-url", inter.CRLDistributionPoints, inter.IssuingCertificateURL)
	}
	if inter.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Errorf("intermediate signed with %v, want ecdsa-with-SHA256 (a P-256 root)", inter.SignatureAlgorithm)
	}

	// The starter configuration is what serve reads.
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	resolve := config.ServeFlags(fs)
	if err := fs.Parse([]string{"--config", cfgFile}); err != nil {
		t.Fatal(err)
	}
	cfg, err := resolve()
	if err != nil {
		t.Fatalf("serve reading the starter configuration: %v", err)
	}
	abs, _ := filepath.Abs(data)
	if cfg.Data != abs || cfg.Hostname != "acme.example.test" || cfg.CAOrganization != "Example Corp" || cfg.CACountry != "DE" || cfg.Listen != ":8443" {
		t.Errorf("starter configuration read as data %q hostname %q organization %q country %q listen %q", cfg.Data, cfg.Hostname, cfg.CAOrganization, cfg.CACountry, cfg.Listen)
	}
	if fi, err := os.Stat(cfgFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("starter configuration mode %v, %v; want 0600", fi.Mode(), err)
	}

	_, _, err = runCLI(t, nil, "init", "--data", data)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "already holds the CA with root SHA-256") ||
		!strings.Contains(err.Error(), "ca rotate") || !strings.Contains(err.Error(), "ca import") {
		t.Errorf("second init: %v, want refused in one line suggesting ca rotate and ca import", err)
	}
	other := filepath.Join(t.TempDir(), "other")
	if _, _, err := runCLI(t, nil, "init", "--data", other, "--config-out", cfgFile); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("init with an existing --config-out: %v, want refused", err)
	}
	if ok, _ := local.Exists(server.CADir(other)); ok {
		t.Error("init with an existing --config-out created a CA")
	}

	srv, err := startNode(t, data, "")
	if err != nil {
		t.Fatal(err)
	}
	if !srv.CA().Intermediate().Equal(inter) || srv.CA().Root().Subject.CommonName != "Example Root R1" {
		t.Errorf("serve signs with %q under %q, want init's intermediate and root", srv.CA().Intermediate().Subject, srv.CA().Root().Subject)
	}
}

// TestInitRefusesBeforeMakingAnything: an --config-out that cannot be
// created (its directory does not exist) and a root CN with a control
// character are refused in one line before the CA is created, and a
// data directory init would have made is not left behind (a re-run is
// then not refused as "already holds the CA"); a key type other than
// Ed25519 is refused without the note about Ed25519. The former code
// created the CA and then failed writing the configuration, and took the
// lock (making DATA/certgate.lock) before checking the name.
func TestInitRefusesBeforeMakingAnything(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{
		{"--config-out", filepath.Join(t.TempDir(), "nonexist", "x.yaml")},
		{"--ca-root-cn", "a\nb"},
		{"--ca-intermediate-cn", " x"},
	} {
		_, _, err := runCLI(t, nil, append([]string{"init", "--data", data}, args...)...)
		if err == nil || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "created the CA") {
			t.Errorf("init %q: %v, want refused in one line", args, err)
		}
		if _, err := os.Lstat(data); err == nil {
			t.Fatalf("init %q left %s behind", args, data)
		}
	}
	_, _, err := runCLI(t, nil, "init", "--data", data, "--ca-root-key-type", "rsa-1024")
	if err == nil || strings.Contains(err.Error(), "Ed25519") {
		t.Errorf("init --ca-root-key-type rsa-1024: %v, want refused without the Ed25519 note", err)
	}
	if _, _, err := runCLI(t, nil, "init", "--data", data, "--ca-key-type", "ed25519"); err == nil || !strings.Contains(err.Error(), "Ed25519") {
		t.Errorf("init --ca-key-type ed25519: %v, want refused naming Ed25519", err)
	}
	cfg := filepath.Join(t.TempDir(), "x.yaml")
	if _, _, err := runCLI(t, nil, "init", "--data", data, "--config-out", cfg); err != nil {
		t.Fatalf("init after the refusals: %v", err)
	}
	if ok, _ := local.Exists(server.CADir(data)); !ok {
		t.Error("init created no CA")
	}
	if b, err := os.ReadFile(cfg); err != nil || !strings.Contains(string(b), "data:") {
		t.Errorf("starter configuration %q, %v", b, err)
	}
}
