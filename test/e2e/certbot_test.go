package e2e

import (
	"path/filepath"
	"strconv"
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
	common := []string{
		"--server", s.DirURL,
		"--config-dir", filepath.Join(dir, "config"),
		"--work-dir", filepath.Join(dir, "work"),
		"--logs-dir", filepath.Join(dir, "logs"),
		"--non-interactive",
	}
	env := []string{"REQUESTS_CA_BUNDLE=" + s.TrustFile}
	// certbot 2.1 reports most ACME errors as "AttributeError: can't set
	// attribute"; the real problem is in its log.
	logFileOnFailure(t, filepath.Join(dir, "logs", "letsencrypt.log"), 300)

	var cert *issued
	if !t.Run("certonly-standalone-http-01", func(t *testing.T) {
		run(t, cmdSpec{Name: "certbot certonly", Env: env, Args: append([]string{
			"certbot", "certonly", "--standalone",
			"--preferred-challenges", "http-01",
			"--http-01-address", "127.0.0.1",
			"--http-01-port", strconv.Itoa(s.HTTPPort),
			"--agree-tos", "--register-unsafely-without-email",
			"-d", name,
		}, common...)})
		live := filepath.Join(dir, "config", "live", name)
		cert = checkIssued(t, s, filepath.Join(live, "fullchain.pem"), name)
		// cert.pem + chain.pem must describe the same chain.
		checkLeafWithChain(t, s, filepath.Join(live, "cert.pem"), filepath.Join(live, "chain.pem"), name)
	}) {
		return
	}

	t.Run("revoke", func(t *testing.T) {
		run(t, cmdSpec{Name: "certbot revoke", Env: env, Args: append([]string{
			"certbot", "revoke",
			"--cert-path", cert.File,
			"--reason", "superseded",
			"--no-delete-after-revoke",
		}, common...)})
		assertRevoked(t, s, cert)
	})
}
