package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Certificate approval with real clients: on a profile with an approval
// rule an order stays "processing" after finalize (with Retry-After) until
// `certgate approval approve|reject` decides; each client keeps polling
// the order and gets the certificate, or the rejection.

// decideWhenPending waits (in the background) for one pending approval on
// s and approves it, or rejects it with comment when reject is set. The
// returned channel yields the error of the wait, nil once decided.
func decideWhenPending(t *testing.T, s *acmeServer, reject bool, comment string) <-chan error {
	done := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			out, err := exec.Command(certgateBin, "approval", "list", "--format", "json", "--data", s.Data).Output()
			if err != nil {
				done <- fmt.Errorf("certgate approval list: %v", err)
				return
			}
			var list []map[string]any
			if err := json.Unmarshal(out, &list); err != nil {
				var page struct{ Items []map[string]any }
				if err2 := json.Unmarshal(out, &page); err2 != nil {
					done <- fmt.Errorf("certgate approval list printed %q: %v", out, err)
					return
				}
				list = page.Items
			}
			if len(list) > 0 {
				id := fmt.Sprint(list[0]["id"])
				args := []string{"approval", "approve", id, "--by", "e2e", "--data", s.Data}
				if reject {
					args = []string{"approval", "reject", id, "--by", "e2e", "--comment", comment, "--data", s.Data}
				}
				if b, err := exec.Command(certgateBin, args...).CombinedOutput(); err != nil {
					done <- fmt.Errorf("certgate %s: %v\n%s", strings.Join(args[:2], " "), err, b)
					return
				}
				done <- nil
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		done <- fmt.Errorf("no approval became pending within 90s")
	}()
	return done
}

// TestApprovalClients: lego, certbot, uacme, dehydrated and acme-tiny each
// wait through an approval and get their certificate; lego is shown the
// rejection's comment.
func TestApprovalClients(t *testing.T) {
	t.Parallel()
	if serverKind != "certgate" {
		t.Skip("approvals exist only on certgate") // the harness's pebble mode only
	}
	for _, tool := range []string{"lego", "certbot", "uacme", "dehydrated", "acme-tiny", "openssl", "curl"} {
		requireTool(t, tool, tool)
	}
	s := startServer(t)
	certgateCLI(t, s, "profile", "create", "gated", "--approval")
	dirURL := strings.Replace(s.DirURL, "/acme/directory", "/acme/gated/directory", 1)
	httpAddr := "127.0.0.1:" + strconv.Itoa(s.HTTPPort)
	webroot, chdir := newWebroot(t, t.TempDir())
	// The subtests run in order: they share the validation port.
	approved := func(t *testing.T, done <-chan error) {
		t.Helper()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}

	t.Run("lego", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "lego")
		const name = "lego-gated.example.test"
		done := decideWhenPending(t, s, false, "")
		run(t, cmdSpec{Name: "lego run (approval)", Env: []string{"LEGO_CA_CERTIFICATES=" + s.TrustFile}, Args: legoArgs(dirURL, path, "e2e@example.test",
			"--key-type", "ec256", "--domains", name, "--http", "--http.port", httpAddr, "--cert.timeout", "90", "run")})
		approved(t, done)
		checkIssued(t, s, filepath.Join(path, "certificates", name+".crt"), name)
	})

	t.Run("lego-rejected", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "lego")
		const name = "lego-rejected.example.test"
		const comment = "not for this team"
		// lego 4.9.1 keeps polling an invalid order until --cert.timeout
		// and then shows the order's error: keep the timeout short.
		done := decideWhenPending(t, s, true, comment)
		_, out, err := runErr(t, cmdSpec{Name: "lego run (rejected)", Env: []string{"LEGO_CA_CERTIFICATES=" + s.TrustFile}, Args: legoArgs(dirURL, path, "e2e@example.test",
			"--key-type", "ec256", "--domains", name, "--http", "--http.port", httpAddr, "--cert.timeout", "10", "run")})
		approved(t, done)
		if err == nil || !strings.Contains(out, comment) || !strings.Contains(out, "urn:ietf:params:acme:error:") {
			t.Errorf("lego with a rejected request: err %v; want a failure showing the problem with the comment %q", err, comment)
		}
	})

	t.Run("certbot", func(t *testing.T) {
		dir := t.TempDir()
		logFileOnFailure(t, certbotLog(dir), 200)
		const name = "certbot-gated.example.test"
		done := decideWhenPending(t, s, false, "")
		run(t, certbotCmd("certonly (approval)", s.TrustFile, dirURL, dir, certbotStandalone(s.HTTPPort,
			"certonly", "--agree-tos", "--register-unsafely-without-email", "-d", name)...))
		approved(t, done)
		checkIssued(t, s, filepath.Join(dir, "config", "live", name, "fullchain.pem"), name)
	})

	// The others answer http-01 from the web root.
	serveDir(t, s.HTTPPort, "", webroot)

	t.Run("uacme", func(t *testing.T) {
		requireRootForUacme(t)
		confdir := filepath.Join(t.TempDir(), "uacme")
		hook := filepath.Join(t.TempDir(), "http01.sh")
		writeUacmeHook(t, hook, chdir, "", false)
		uacme := func(label string, args ...string) cmdSpec {
			return cmdSpec{Name: "uacme " + label, Args: uacmeArgs(s.TrustFile, confdir, dirURL, append([]string{"-y"}, args...)...)}
		}
		run(t, uacme("new", "new"))
		const name = "uacme-gated.example.test"
		done := decideWhenPending(t, s, false, "")
		run(t, uacme("issue (approval)", "-h", hook, "issue", name))
		approved(t, done)
		checkIssued(t, s, filepath.Join(confdir, name, "cert.pem"), name)
	})

	t.Run("dehydrated", func(t *testing.T) {
		base := filepath.Join(t.TempDir(), "dehydrated")
		cfg := writeDehydratedConfig(t, base, dirURL, s.TrustFile, fmt.Sprintf("WELLKNOWN=%q", chdir), `CHALLENGETYPE="http-01"`, "KEY_ALGO=prime256v1")
		run(t, cmdSpec{Name: "dehydrated --register", Args: dehydratedArgs(cfg, "--register", "--accept-terms")})
		const name = "dehydrated-gated.example.test"
		done := decideWhenPending(t, s, false, "")
		run(t, cmdSpec{Name: "dehydrated -c (approval)", Args: dehydratedArgs(cfg, "-c", "-d", name)})
		approved(t, done)
		checkIssued(t, s, filepath.Join(base, "certs", name, "fullchain.pem"), name)
	})

	t.Run("acme-tiny", func(t *testing.T) {
		dir := t.TempDir()
		const name = "acme-tiny-gated.example.test"
		accountKey, csr := acmeTinyKeys(t, dir, name)
		done := decideWhenPending(t, s, false, "")
		chain := run(t, cmdSpec{Name: "acme-tiny (approval)", Env: []string{"SSL_CERT_FILE=" + s.TrustFile}, Args: []string{
			"acme-tiny", "--account-key", accountKey, "--csr", csr, "--acme-dir", chdir,
			"--disable-check", "--directory-url", dirURL}})
		approved(t, done)
		out := filepath.Join(dir, "chain.pem")
		writeFile(t, out, chain)
		checkIssued(t, s, out, name)
	})
}
