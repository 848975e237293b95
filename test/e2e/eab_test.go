package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// certgateCLI runs an administrative certgate command beside server s.
func certgateCLI(t *testing.T, s *acmeServer, args ...string) []byte {
	t.Helper()
	return run(t, cmdSpec{Name: "certgate " + strings.Join(args[:2], " "), Args: append(append([]string{certgateBin}, args...), "--data", s.Data)})
}

// newEAB creates an EAB key for profile with `certgate eab create` and
// returns its key id and HMAC key as printed.
func newEAB(t *testing.T, s *acmeServer, profile string) (kid, hmac string) {
	t.Helper()
	var k struct{ KID, HMAC string }
	out := certgateCLI(t, s, "eab", "create", "--profile", profile, "--owner", "e2e", "--format", "json")
	if err := json.Unmarshal(out, &k); err != nil || k.KID == "" || k.HMAC == "" {
		t.Fatalf("certgate eab create printed %q: %v", out, err)
	}
	return k.KID, k.HMAC
}

// eabBound reports whether EAB key kid has bound an account.
func eabBound(t *testing.T, s *acmeServer, kid string) bool {
	t.Helper()
	var keys []struct{ KID, Account string }
	if err := json.Unmarshal(certgateCLI(t, s, "eab", "list", "--format", "json"), &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.KID == kid {
			return k.Account != ""
		}
	}
	return false
}

// TestEABClients: Debian's lego (--eab --kid --hmac) and certbot
// (--eab-kid --eab-hmac-key) register with EAB keys made by `certgate eab
// create` on a profile that requires external account binding, through
// that profile's directory, and get certificates; lego without EAB is
// refused.
func TestEABClients(t *testing.T) {
	t.Parallel()
	if serverKind != "certgate" {
		t.Skip("certgate profiles and `certgate eab` exist only on certgate") // the harness's pebble mode only
	}
	requireTool(t, "lego", "lego")
	requireTool(t, "certbot", "certbot")
	requireTool(t, "openssl", "openssl")
	s := startServer(t)
	certgateCLI(t, s, "profile", "create", "partners", "--require-eab", "--validity", "30d", "--description", "Partner web servers")
	dirURL := strings.Replace(s.DirURL, "/acme/directory", "/acme/partners/directory", 1)
	httpAddr := "127.0.0.1:" + strconv.Itoa(s.HTTPPort)

	t.Run("lego", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "lego")
		env := []string{"LEGO_CA_CERTIFICATES=" + s.TrustFile}
		const name = "lego-eab.example.test"
		base := legoArgs(dirURL, path, "eab@example.test", "--key-type", "ec256", "--domains", name, "--http", "--http.port", httpAddr)
		if _, out, err := runErr(t, cmdSpec{Name: "lego run without EAB", Env: env, Args: append(base, "run")}); err == nil ||
			!strings.Contains(strings.ToLower(out), "external") {
			t.Errorf("lego without EAB: err %v; want a refusal naming external account binding:\n%s", err, out)
		}
		kid, hmac := newEAB(t, s, "partners")
		run(t, cmdSpec{Name: "lego run --eab", Env: env, Args: append(base, "--eab", "--kid", kid, "--hmac", hmac, "run")})
		c := checkIssued(t, s, filepath.Join(path, "certificates", name+".crt"), name)
		if d := c.Leaf.NotAfter.Sub(c.Leaf.NotBefore); d.Hours() > 30*24+1 {
			t.Errorf("validity %s, want the partners profile's 30d", d)
		}
		if !eabBound(t, s, kid) {
			t.Errorf("EAB key %s bound no account", kid)
		}
	})

	t.Run("certbot", func(t *testing.T) {
		dir := t.TempDir()
		logFileOnFailure(t, certbotLog(dir), 300)
		kid, hmac := newEAB(t, s, "partners")
		const name = "certbot-eab.example.test"
		run(t, certbotCmd("certonly --eab", s.TrustFile, dirURL, dir, certbotStandalone(s.HTTPPort,
			"certonly", "--agree-tos", "--register-unsafely-without-email",
			"--eab-kid", kid, "--eab-hmac-key", hmac, "-d", name)...))
		checkIssued(t, s, filepath.Join(dir, "config", "live", name, "fullchain.pem"), name)
		if !eabBound(t, s, kid) {
			t.Errorf("EAB key %s bound no account", kid)
		}
	})
}

// TestEABDehydratedUacme: Debian's dehydrated 0.7.0 (EAB_KID and
// EAB_HMAC_KEY in its config; its EAB payload is the account JWK written
// with spaces) and uacme 1.7.4 (-e KEYID:KEY) register with EAB keys on
// a profile that requires external account binding and get certificates.
func TestEABDehydratedUacme(t *testing.T) {
	t.Parallel()
	if serverKind != "certgate" {
		t.Skip("certgate profiles and `certgate eab` exist only on certgate") // the harness's pebble mode only
	}
	requireTool(t, "dehydrated", "dehydrated")
	requireTool(t, "uacme", "uacme")
	requireTool(t, "unshare", "util-linux")
	requireTool(t, "curl", "curl")
	requireTool(t, "openssl", "openssl")
	s := startServer(t)
	certgateCLI(t, s, "profile", "create", "partners", "--require-eab", "--validity", "30d")
	dirURL := strings.Replace(s.DirURL, "/acme/directory", "/acme/partners/directory", 1)
	webroot, chdir := newWebroot(t, t.TempDir())
	serveDir(t, s.HTTPPort, "", webroot)

	t.Run("dehydrated", func(t *testing.T) {
		base := filepath.Join(t.TempDir(), "dehydrated")
		kid, hmac := newEAB(t, s, "partners")
		cfg := writeDehydratedConfig(t, base, dirURL, s.TrustFile, fmt.Sprintf("WELLKNOWN=%q", chdir), `CHALLENGETYPE="http-01"`, "KEY_ALGO=prime256v1",
			fmt.Sprintf("EAB_KID=%q", kid), fmt.Sprintf("EAB_HMAC_KEY=%q", hmac))
		run(t, cmdSpec{Name: "dehydrated --register (EAB)", Args: dehydratedArgs(cfg, "--register", "--accept-terms")})
		const name = "dehydrated-eab.example.test"
		run(t, cmdSpec{Name: "dehydrated -c", Args: dehydratedArgs(cfg, "-c", "-d", name)})
		checkIssued(t, s, filepath.Join(base, "certs", name, "fullchain.pem"), name)
		if !eabBound(t, s, kid) {
			t.Errorf("EAB key %s bound no account", kid)
		}
	})

	t.Run("uacme", func(t *testing.T) {
		requireRootForUacme(t)
		confdir := filepath.Join(t.TempDir(), "uacme")
		hook := filepath.Join(t.TempDir(), "http01.sh")
		writeUacmeHook(t, hook, chdir, "", false)
		uacme := func(label string, args ...string) cmdSpec {
			return cmdSpec{Name: "uacme " + label, Args: uacmeArgs(s.TrustFile, confdir, dirURL, append([]string{"-y"}, args...)...)}
		}
		// uacme reads meta.externalAccountRequired from the directory.
		if _, out, err := runErr(t, uacme("new without EAB", "new")); err == nil || !strings.Contains(out, "requires external credentials") {
			t.Errorf("uacme new without EAB: err %v; want it to say the server requires external credentials", err)
		}
		kid, hmac := newEAB(t, s, "partners")
		run(t, uacme("new -e", "-e", kid+":"+hmac, "new"))
		const name = "uacme-eab.example.test"
		run(t, uacme("issue", "-h", hook, "issue", name))
		checkIssued(t, s, filepath.Join(confdir, name, "cert.pem"), name)
		if !eabBound(t, s, kid) {
			t.Errorf("EAB key %s bound no account", kid)
		}
	})
}
