package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// TestAcmeTiny: Debian's acme-tiny 5.0.1 (RSA account, RS256) obtains a
// certificate for a CSR made with openssl, over http-01.
func TestAcmeTiny(t *testing.T) {
	t.Parallel()
	requireTool(t, "acme-tiny", "acme-tiny")
	requireTool(t, "openssl", "openssl")
	s := startServer(t)
	dir := t.TempDir()
	const name = "acme-tiny-1.example.test"
	acmeDir := filepath.Join(dir, "challenges")
	if err := os.MkdirAll(acmeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	serveDir(t, s.HTTPPort, "/.well-known/acme-challenge/", acmeDir)

	accountKey, csr := acmeTinyKeys(t, dir, name)

	chain := run(t, cmdSpec{Name: "acme-tiny", Env: []string{"SSL_CERT_FILE=" + s.TrustFile}, Args: []string{
		"acme-tiny", "--account-key", accountKey, "--csr", csr, "--acme-dir", acmeDir,
		"--disable-check", "--directory-url", s.DirURL, "--contact", "mailto:e2e@example.test"}})
	out := filepath.Join(dir, "signed_chain.crt")
	writeFile(t, out, chain)
	checkIssued(t, s, out, name)
}
