package e2e

import (
	"crypto/ecdsa"
	"os"
	"path/filepath"
	"testing"
)

// TestUacme drives Debian's uacme 1.7.4: http-01 through a hook that writes
// into a web root, tls-alpn-01 through ualpn, and revocation signed with the
// certificate's own key.
//
// uacme 1.7.4 cannot be told which CA to trust (UACME_CAINFO came in 1.7.6),
// so each run happens in a private mount namespace where the server's trust
// bundle is bind-mounted over /etc/ssl/certs/ca-certificates.crt. That needs
// root (or CAP_SYS_ADMIN).
func TestUacme(t *testing.T) {
	t.Parallel()
	requireTool(t, "uacme", "uacme")
	requireTool(t, "ualpn", "uacme")
	requireTool(t, "unshare", "util-linux")
	requireTool(t, "mount", "mount")
	requireTool(t, "openssl", "openssl")
	requireRootForUacme(t)
	s := startServer(t)
	dir := t.TempDir()
	confdir := filepath.Join(dir, "uacme")
	uacme := func(t *testing.T, label string, args ...string) {
		t.Helper()
		run(t, cmdSpec{Name: "uacme " + label, Args: uacmeArgs(s.TrustFile, confdir, s.DirURL, args...)})
	}

	if !t.Run("new-account", func(t *testing.T) {
		uacme(t, "new", "-y", "new", "e2e@example.test")
		if _, err := os.Stat(filepath.Join(confdir, "private", "key.pem")); err != nil {
			t.Fatalf("uacme new created no account key: %v", err)
		}
	}) {
		return
	}

	var httpCert *issued
	const httpName = "uacme-http.example.test"
	t.Run("http-01", func(t *testing.T) {
		webroot, chdir := newWebroot(t, t.TempDir())
		serveDir(t, s.HTTPPort, "", webroot)
		hook := filepath.Join(t.TempDir(), "http01.sh")
		writeUacmeHook(t, hook, chdir, "", false)
		uacme(t, "issue http-01", "-t", "EC", "-h", hook, "issue", httpName)
		httpCert = checkIssued(t, s, filepath.Join(confdir, httpName, "cert.pem"), httpName)
		if _, ok := httpCert.Leaf.PublicKey.(*ecdsa.PublicKey); !ok {
			t.Errorf("uacme -t EC: leaf key is %T, want ECDSA", httpCert.Leaf.PublicKey)
		}
	})

	t.Run("tls-alpn-01", func(t *testing.T) {
		const name = "uacme-alpn.example.test"
		hook, _ := startUalpn(t, t.TempDir(), s.TLSPort, "127.0.0.1")
		uacme(t, "issue tls-alpn-01", "-h", hook, "issue", name)
		checkIssued(t, s, filepath.Join(confdir, name, "cert.pem"), name)
	})

	if httpCert != nil {
		t.Run("revoke-with-cert-key", func(t *testing.T) {
			key := filepath.Join(confdir, "private", httpName, "key.pem")
			uacme(t, "revoke", "revoke", httpCert.File, key)
			assertRevoked(t, s, httpCert)
		})
	}
}
