package e2e

import (
	"crypto/ecdsa"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
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
	if os.Geteuid() != 0 {
		t.Fatalf("uacme 1.7.4 has no custom-CA option; this test bind-mounts the root over the system bundle and must run as root")
	}
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
		webroot := filepath.Join(t.TempDir(), "www")
		chdir := filepath.Join(webroot, ".well-known", "acme-challenge")
		if err := os.MkdirAll(chdir, 0o755); err != nil {
			t.Fatal(err)
		}
		serveDir(t, s.HTTPPort, "", webroot)
		hook := filepath.Join(t.TempDir(), "http01.sh")
		// uacme runs: HOOK begin|done|failed TYPE IDENT TOKEN AUTH; a
		// non-zero exit on begin makes it try the next challenge type.
		writeScript(t, hook, fmt.Sprintf(`#!/bin/sh
[ "$2" = http-01 ] || exit 1
case "$1" in
begin) printf '%%s' "$5" > %[1]q/"$4" ;;
done|failed) rm -f %[1]q/"$4" ;;
esac
`, chdir))
		uacme(t, "issue http-01", "-t", "EC", "-h", hook, "issue", httpName)
		httpCert = checkIssued(t, s, filepath.Join(confdir, httpName, "cert.pem"), httpName)
		if _, ok := httpCert.Leaf.PublicKey.(*ecdsa.PublicKey); !ok {
			t.Errorf("uacme -t EC: leaf key is %T, want ECDSA", httpCert.Leaf.PublicKey)
		}
	})

	t.Run("tls-alpn-01", func(t *testing.T) {
		const name = "uacme-alpn.example.test"
		tmp := t.TempDir()
		sock := filepath.Join(tmp, "ualpn.sock")
		backend := freePorts(t, 1)[0] // nothing listens: ualpn only proxies non-ACME traffic there
		exited := startDaemon(t, "ualpn", filepath.Join(tmp, "ualpn.log"), nil, "ualpn", "-vv",
			"-b", "127.0.0.1@"+strconv.Itoa(s.TLSPort),
			"-c", "127.0.0.1@"+strconv.Itoa(backend),
			"-n", "1",
			"-s", sock,
			"-p", filepath.Join(tmp, "ualpn.pid"),
		)
		for deadline := time.Now().Add(10 * time.Second); ; {
			if _, err := os.Stat(sock); err == nil {
				break
			}
			select {
			case <-exited:
				t.Fatalf("ualpn exited:\n%s", tailFile(filepath.Join(tmp, "ualpn.log"), 50))
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("ualpn did not create %s", sock)
			}
			time.Sleep(50 * time.Millisecond)
		}
		hook := filepath.Join(tmp, "ualpn-hook.sh")
		writeScript(t, hook, fmt.Sprintf(`#!/bin/sh
[ "$2" = tls-alpn-01 ] || exit 1
case "$1" in
begin) out=$(echo "auth $3 $5" | ualpn -s %[1]q) ;;
done|failed) out=$(echo "unauth $3" | ualpn -s %[1]q) ;;
esac
echo "ualpn: $out" >&2
[ "$out" = OK ]
`, sock))
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
