package e2e

import (
	"path/filepath"
	"testing"
)

// TestCertbot: Debian's certbot 2.1 obtains a certificate with its
// standalone http-01 responder, then revokes it.
func TestCertbot(t *testing.T) {
	t.Parallel()
	requireTool(t, "certbot", "certbot")
	requireTool(t, "openssl", "openssl")
	s := startServer(t)
	dir := t.TempDir()
	const name = "certbot-1.example.test"
	certbot := func(label string, args ...string) cmdSpec {
		return certbotCmd(label, s.TrustFile, s.DirURL, dir, args...)
	}
	logFileOnFailure(t, certbotLog(dir), 300)

	var cert *issued
	if !t.Run("certonly-standalone-http-01", func(t *testing.T) {
		run(t, certbot("certonly", certbotStandalone(s.HTTPPort,
			"certonly", "--agree-tos", "--register-unsafely-without-email", "-d", name)...))
		live := filepath.Join(dir, "config", "live", name)
		cert = checkIssued(t, s, filepath.Join(live, "fullchain.pem"), name)
		// cert.pem + chain.pem must describe the same chain.
		checkLeafWithChain(t, s, filepath.Join(live, "cert.pem"), filepath.Join(live, "chain.pem"), name)
	}) {
		return
	}

	t.Run("revoke", func(t *testing.T) {
		run(t, certbot("revoke", "revoke", "--cert-path", cert.File, "--reason", "superseded", "--no-delete-after-revoke"))
		assertRevoked(t, s, cert)
	})
}
