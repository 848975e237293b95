package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// badNonce with real clients: each client's hook restarts certgate in the
// middle of an order, so the nonce the client took from the server's last
// response (kept in the old process's memory, SQLite) is unknown to the
// new one. The client's next POST gets a badNonce problem and must retry
// with the Replay-Nonce of that problem response (RFC 8555 §6.5): lego
// retries only if the problem has "status": 400, certbot retries once.

// restartHook serves http://127.0.0.1:PORT/restart on loopback: each GET
// restarts s and answers once the new process is ready. It returns the URL
// and how many restarts were done.
func restartHook(t *testing.T, s *acmeServer) (string, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.restart(t); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		n.Add(1)
		fmt.Fprintln(w, "restarted")
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String() + "/restart", &n
}

// assertBadNonceRetried checks that the restarted server answered badNonce
// (its access log after the restart names the problem) and that the client
// went on to get its certificate, which the caller checked.
func assertBadNonceRetried(t *testing.T, s *acmeServer, restarts *atomic.Int32) {
	t.Helper()
	if restarts.Load() == 0 {
		t.Fatalf("the client's hook did not restart the server")
	}
	b, err := os.ReadFile(s.LogFile + ".2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "problem=urn:ietf:params:acme:error:badNonce") {
		t.Fatalf("the restarted server answered no badNonce (the client fetched a fresh nonce instead): the path is not exercised")
	}
}

// TestBadNonceCertbot: certbot's --manual-auth-hook restarts the server
// before certbot answers the http-01 challenge.
func TestBadNonceCertbot(t *testing.T) {
	t.Parallel()
	requireTool(t, "certbot", "certbot")
	requireTool(t, "curl", "curl")
	requireTool(t, "openssl", "openssl")
	if serverKind != "certgate" {
		t.Skip("restarts certgate") // the harness's pebble mode only
	}
	s := startServer(t)
	url, restarts := restartHook(t, s)
	dir := t.TempDir()
	webroot, chdir := newWebroot(t, dir)
	serveDir(t, s.HTTPPort, "", webroot)
	hook := filepath.Join(dir, "auth.sh")
	writeScript(t, hook, fmt.Sprintf(`#!/bin/sh
set -e
printf '%%s' "$CERTBOT_VALIDATION" > %q/"$CERTBOT_TOKEN"
curl -fsS %s >&2
`, chdir, url))
	logFileOnFailure(t, certbotLog(dir), 300)
	const name = "certbot-nonce.example.test"
	run(t, certbotCmd("certonly --manual", s.TrustFile, s.DirURL, dir,
		"certonly", "--manual", "--preferred-challenges", "http-01",
		"--manual-auth-hook", hook,
		"--agree-tos", "--register-unsafely-without-email", "-d", name))
	checkIssued(t, s, filepath.Join(dir, "config", "live", name, "fullchain.pem"), name)
	assertBadNonceRetried(t, s, restarts)
}

// TestBadNonceLego: lego's exec DNS provider restarts the server when it
// presents the dns-01 record, before lego answers the challenge.
func TestBadNonceLego(t *testing.T) {
	t.Parallel()
	requireTool(t, "lego", "lego")
	requireTool(t, "curl", "curl")
	requireTool(t, "openssl", "openssl")
	if serverKind != "certgate" {
		t.Skip("restarts certgate") // the harness's pebble mode only
	}
	s := startServer(t)
	url, restarts := restartHook(t, s)
	dnsEnv, dnsArgs := legoExecDNS(t, filepath.Join(t.TempDir(), "dns-hook.sh"), dnsHookTXT("set-txt", "$2", "$3")+"; curl -fsS "+url+" >&2")
	path := filepath.Join(t.TempDir(), "lego")
	const name = "lego-nonce.example.test"
	args := append(append([]string{"--key-type", "ec256", "--domains", name}, dnsArgs...), "run")
	run(t, cmdSpec{Name: "lego run dns-01", Env: append([]string{"LEGO_CA_CERTIFICATES=" + s.TrustFile}, dnsEnv...),
		Args: legoArgs(s.DirURL, path, "e2e@example.test", args...)})
	checkIssued(t, s, filepath.Join(path, "certificates", name+".crt"), name)
	assertBadNonceRetried(t, s, restarts)
}

// TestBadNonceUacme: uacme's hook restarts the server on "begin", before
// uacme answers the http-01 challenge.
func TestBadNonceUacme(t *testing.T) {
	t.Parallel()
	requireTool(t, "uacme", "uacme")
	requireTool(t, "unshare", "util-linux")
	requireTool(t, "curl", "curl")
	requireTool(t, "openssl", "openssl")
	requireRootForUacme(t)
	if serverKind != "certgate" {
		t.Skip("restarts certgate") // the harness's pebble mode only
	}
	s := startServer(t)
	url, restarts := restartHook(t, s)
	dir := t.TempDir()
	webroot, chdir := newWebroot(t, dir)
	serveDir(t, s.HTTPPort, "", webroot)
	hook := filepath.Join(dir, "http01.sh")
	writeUacmeHook(t, hook, chdir, "curl -fsS "+url+" >&2", false)
	confdir := filepath.Join(dir, "uacme")
	uacme := func(label string, args ...string) cmdSpec {
		return cmdSpec{Name: "uacme " + label, Args: uacmeArgs(s.TrustFile, confdir, s.DirURL, append([]string{"-y"}, args...)...)}
	}
	run(t, uacme("new", "new"))
	const name = "uacme-nonce.example.test"
	run(t, uacme("issue", "-h", hook, "issue", name))
	checkIssued(t, s, filepath.Join(confdir, name, "cert.pem"), name)
	assertBadNonceRetried(t, s, restarts)
}

// TestRateLimitedCertbot: once its account's new-orders-per-account limit
// (set with `certgate ratelimit set`) is spent, certbot's next order is
// refused with a 429 rateLimited problem carrying Retry-After and a
// rel="help" link to the policy (RFC 8555 §6.6); certbot's log shows
// the response as received.
func TestRateLimitedCertbot(t *testing.T) {
	t.Parallel()
	requireTool(t, "certbot", "certbot")
	requireTool(t, "openssl", "openssl")
	if serverKind != "certgate" {
		t.Skip("certgate ratelimit exists only on certgate") // the harness's pebble mode only
	}
	s := startServer(t)
	dir := t.TempDir()
	certonly := func(name string) cmdSpec {
		return certbotCmd("certonly "+name, s.TrustFile, s.DirURL, dir, certbotStandalone(s.HTTPPort,
			"certonly", "--agree-tos", "--register-unsafely-without-email", "-d", name)...)
	}
	run(t, certonly("certbot-rl-1.example.test"))
	checkIssued(t, s, filepath.Join(dir, "config", "live", "certbot-rl-1.example.test", "fullchain.pem"), "certbot-rl-1.example.test")
	a := onlyAccount(t, s)
	certgateCLI(t, s, "ratelimit", "set", "new-orders-per-account", "--account", a.ID, "--rate", "1/1h")

	// The override applies within ratelimit.OverrideRefresh (10s), and a
	// rate of 1/1h admits one more order from a bucket that is (nearly)
	// full: order new names until one is refused.
	var log string
	deadline := time.Now().Add(30 * time.Second)
	for n := 2; ; n++ {
		_, _, err := runErr(t, certonly(fmt.Sprintf("certbot-rl-%d.example.test", n)))
		log = string(readFile(t, certbotLog(dir)))
		if err != nil && strings.Contains(log, "rateLimited") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("certbot was not refused as rateLimited 30s after the 1/1h override (last err %v)", err)
		}
	}
	i := strings.Index(log, "HTTP 429")
	if i < 0 {
		t.Fatalf("certbot's log shows no HTTP 429 response:\n%s", tailFile(certbotLog(dir), 80))
	}
	resp := log[i:]
	if j := strings.Index(resp, "\n\n"); j > 0 {
		resp = resp[:j]
	}
	var retry int
	for _, line := range strings.Split(resp, "\n") {
		if v, ok := strings.CutPrefix(line, "Retry-After: "); ok {
			retry, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if retry <= 0 || retry > 3600 {
		t.Errorf("the 429 rateLimited response's Retry-After is %d; want 1..3600 seconds (the 1/1h window):\n%s", retry, resp)
	}
	if !strings.Contains(resp, `rel="help"`) {
		t.Errorf("the 429 rateLimited response has no rel=\"help\" link to the rate limit policy:\n%s", resp)
	}
}
