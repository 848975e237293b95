package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestDehydrated: Debian's dehydrated 0.7.0 registers an RSA-4096 account
// and obtains a P-384 certificate over http-01, with the challenge files
// served from its WELLKNOWN directory.
func TestDehydrated(t *testing.T) {
	t.Parallel()
	requireTool(t, "dehydrated", "dehydrated")
	requireTool(t, "curl", "curl")
	requireTool(t, "openssl", "openssl")
	s := startServer(t)
	base := filepath.Join(t.TempDir(), "dehydrated")
	wellknown := filepath.Join(base, "wellknown")
	if err := os.MkdirAll(wellknown, 0o755); err != nil {
		t.Fatal(err)
	}
	serveDir(t, s.HTTPPort, "/.well-known/acme-challenge/", wellknown)
	cfg := writeDehydratedConfig(t, base, s.DirURL, s.TrustFile, fmt.Sprintf("WELLKNOWN=%q", wellknown),
		`CONTACT_EMAIL="e2e@example.test"`, `CHALLENGETYPE="http-01"`, "KEY_ALGO=secp384r1")
	const name = "dehydrated-1.example.test"

	if !t.Run("register", func(t *testing.T) {
		run(t, cmdSpec{Name: "dehydrated --register", Args: dehydratedArgs(cfg, "--register", "--accept-terms")})
	}) {
		return
	}
	t.Run("http-01", func(t *testing.T) {
		run(t, cmdSpec{Name: "dehydrated -c", Args: dehydratedArgs(cfg, "-c", "-d", name)})
		live := filepath.Join(base, "certs", name)
		c := checkIssued(t, s, filepath.Join(live, "fullchain.pem"), name)
		checkLeafWithChain(t, s, filepath.Join(live, "cert.pem"), filepath.Join(live, "chain.pem"), name)
		if k, ok := c.Leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P384() {
			t.Errorf("leaf key is %T, want ECDSA P-384", c.Leaf.PublicKey)
		}
	})
}
