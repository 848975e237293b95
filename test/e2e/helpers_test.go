package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// clientTimeout bounds every client invocation so a hung client cannot stall
// the whole suite.
const clientTimeout = 2 * time.Minute

// freePort returns a port that is free on 127.0.0.1 for both TCP and UDP.
func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, errors.New("no free loopback port")
}

var portMu sync.Mutex
var portsHanded = map[int]bool{}

// freePorts returns n distinct free ports, never handing out the same port
// twice in this process so parallel tests cannot collide.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	var ports []int
	for len(ports) < n {
		p, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		if portsHanded[p] {
			continue
		}
		portsHanded[p] = true
		ports = append(ports, p)
	}
	return ports
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeScript(t *testing.T, path, body string) {
	t.Helper()
	writeFile(t, path, []byte(body))
	if err := os.Chmod(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tailFile returns the last n lines of a file (or the read error).
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d earlier lines)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// logFileOnFailure adds the tail of a client's own log file to the test log
// if the test fails.
func logFileOnFailure(t *testing.T, path string, lines int) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s:\n%s", path, tailFile(path, lines))
		}
	})
}

// requireTool fails the test unless bin is in PATH, naming the Debian
// package that provides it.
func requireTool(t *testing.T, bin, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("%s not found in PATH: install the Debian package %q (apt-get install %s)", bin, debianPackage, debianPackage)
	}
	return p
}

// cmdSpec describes one client invocation.
type cmdSpec struct {
	Name string   // short label for logs
	Args []string // argv, Args[0] is the program
	Env  []string // added to the environment
	Dir  string   // working directory
}

// run executes a client and returns its stdout. Its combined output is put
// into the test log only if the command or the test fails.
func run(t *testing.T, c cmdSpec) []byte {
	t.Helper()
	stdout, log, err := runErr(t, c)
	if err != nil {
		t.Fatalf("%s failed: %v\n$ %s\n%s", c.Name, err, showCmd(c), log)
	}
	return stdout
}

// runErr is run without failing the test on a non-zero exit.
func runErr(t *testing.T, c cmdSpec) (stdout []byte, combined string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Dir = c.Dir
	cmd.Stdin = nil
	cmd.WaitDelay = 5 * time.Second
	var out, all bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, &syncWriter{w: &all})
	cmd.Stderr = &syncWriter{w: &all}
	start := time.Now()
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", clientTimeout, err)
	}
	combined = all.String()
	label := fmt.Sprintf("%s (%.1fs)", c.Name, time.Since(start).Seconds())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("output of %s:\n$ %s\n%s", label, showCmd(c), combined)
		}
	})
	return out.Bytes(), combined, err
}

var syncMu sync.Mutex

type syncWriter struct{ w io.Writer }

func (s *syncWriter) Write(p []byte) (int, error) {
	syncMu.Lock()
	defer syncMu.Unlock()
	return s.w.Write(p)
}

func showCmd(c cmdSpec) string {
	var b strings.Builder
	for _, e := range c.Env {
		b.WriteString(e + " ")
	}
	b.WriteString(strings.Join(c.Args, " "))
	return b.String()
}

// serveDir serves dir over plain HTTP on 127.0.0.1:port, as a web server
// would serve /.well-known/acme-challenge/ for http-01. urlPrefix is
// stripped before looking up files (use "" to serve dir as the web root).
func serveDir(t *testing.T, port int, urlPrefix, dir string) {
	t.Helper()
	var mu sync.Mutex
	var reqs []string
	fs := http.StripPrefix(urlPrefix, http.FileServer(http.Dir(dir)))
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			reqs = append(reqs, fmt.Sprintf("%s Host=%s %s from %s", r.Method, r.Host, r.URL.Path, r.RemoteAddr))
			mu.Unlock()
			fs.ServeHTTP(w, r)
		}),
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("http-01 file server: %v", err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if t.Failed() {
			mu.Lock()
			t.Logf("http-01 file server on port %d saw %d requests:\n%s", port, len(reqs), strings.Join(reqs, "\n"))
			mu.Unlock()
		}
	})
}

// parsePEMCerts parses every CERTIFICATE block in b.
func parsePEMCerts(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no CERTIFICATE PEM block")
	}
	return certs, nil
}

func pemCerts(certs []*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

// issued is a certificate chain a client obtained, already checked.
type issued struct {
	Leaf  *x509.Certificate
	Chain []*x509.Certificate // intermediates, leaf excluded
	File  string              // where the client stored it
}

// checkIssued checks a PEM chain a client obtained: it holds the leaf and
// its intermediate, `openssl verify` accepts it against the server's root,
// Go's verifier accepts it for every name, the SANs are exactly wantSANs, and
// the leaf passes the project's lints.
func checkIssued(t *testing.T, s *acmeServer, chainFile string, wantSANs ...string) *issued {
	t.Helper()
	certs, err := parsePEMCerts(readFile(t, chainFile))
	if err != nil {
		t.Fatalf("%s: %v", chainFile, err)
	}
	if len(certs) < 2 {
		t.Fatalf("%s holds %d certificate(s); want the leaf followed by its intermediate", chainFile, len(certs))
	}
	got := &issued{Leaf: certs[0], Chain: certs[1:], File: chainFile}
	return checkLeaf(t, s, got, wantSANs...)
}

// checkLeafWithChain is checkIssued for clients that store the leaf and the
// intermediates in separate files.
func checkLeafWithChain(t *testing.T, s *acmeServer, leafFile, chainFile string, wantSANs ...string) *issued {
	t.Helper()
	leaf, err := parsePEMCerts(readFile(t, leafFile))
	if err != nil {
		t.Fatalf("%s: %v", leafFile, err)
	}
	chain, err := parsePEMCerts(readFile(t, chainFile))
	if err != nil {
		t.Fatalf("%s: %v", chainFile, err)
	}
	return checkLeaf(t, s, &issued{Leaf: leaf[0], Chain: chain, File: leafFile}, wantSANs...)
}

func checkLeaf(t *testing.T, s *acmeServer, got *issued, wantSANs ...string) *issued {
	t.Helper()
	dir := t.TempDir()
	leafFile, untrusted := filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "chain.pem")
	writeFile(t, leafFile, pemCerts([]*x509.Certificate{got.Leaf}))
	writeFile(t, untrusted, pemCerts(got.Chain))
	out, log, err := runErr(t, cmdSpec{Name: "openssl verify", Args: []string{
		"openssl", "verify", "-purpose", "sslserver", "-CAfile", s.RootFile, "-untrusted", untrusted, leafFile}})
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify of %s against the server root failed (%v):\n%s", got.File, err, log)
	}

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(readFile(t, s.RootFile))
	inter := x509.NewCertPool()
	for _, c := range got.Chain {
		inter.AddCert(c)
	}
	for _, name := range wantSANs {
		if _, err := got.Leaf.Verify(x509.VerifyOptions{
			DNSName: name, Roots: roots, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}); err != nil {
			t.Errorf("%s: Go verification for %q: %v", got.File, name, err)
		}
	}

	gotSANs := slices.Clone(got.Leaf.DNSNames)
	want := slices.Clone(wantSANs)
	slices.Sort(gotSANs)
	slices.Sort(want)
	if !slices.Equal(gotSANs, want) {
		t.Errorf("%s: DNS SANs = %q, want %q", got.File, gotSANs, want)
	}
	if n := len(got.Leaf.IPAddresses) + len(got.Leaf.EmailAddresses) + len(got.Leaf.URIs); n != 0 {
		t.Errorf("%s: leaf has %d unrequested IP/email/URI SANs", got.File, n)
	}
	lintLeaf(t, got.Leaf.Raw)
	if t.Failed() {
		t.FailNow()
	}
	return got
}

// assertRevoked checks that the server reports the certificate as revoked.
// certgate: every CRL distribution point of the leaf that is on this machine
// must list the serial (the CRL is polled for a while, as it may be
// regenerated periodically). A certificate without a reachable CRL is only
// checked by the client's exit status, which the caller already asserted.
func assertRevoked(t *testing.T, s *acmeServer, cert *issued) {
	t.Helper()
	if s.Kind == "pebble" {
		assertRevokedPebble(t, s, cert)
		return
	}
	if len(cert.Leaf.CRLDistributionPoints) == 0 {
		t.Logf("NOTE: %s has no CRL distribution point; revocation checked by the client's exit status only", cert.File)
		return
	}
	checked := false
	for _, u := range cert.Leaf.CRLDistributionPoints {
		if !isLocalURL(u) {
			t.Logf("NOTE: CRL %s is not on this machine; not fetched", u)
			continue
		}
		checked = true
		deadline := time.Now().Add(20 * time.Second)
		for {
			listed, thisUpdate, der, err := crlLists(s, u, cert)
			if err != nil {
				t.Fatalf("CRL %s: %v", u, err)
			}
			if listed {
				lintCRL(t, u, der)
				t.Logf("CRL %s (thisUpdate %s) lists serial %x", u, thisUpdate.Format(time.RFC3339), cert.Leaf.SerialNumber)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("CRL %s (thisUpdate %s) does not list revoked serial %x", u, thisUpdate.Format(time.RFC3339), cert.Leaf.SerialNumber)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	if !checked {
		t.Logf("NOTE: no CRL of %s reachable; revocation checked by the client's exit status only", cert.File)
	}
}

func isLocalURL(u string) bool {
	i := strings.Index(u, "://")
	if i < 0 {
		return false
	}
	host := u[i+3:]
	if j := strings.IndexAny(host, "/?#"); j >= 0 {
		host = host[:j]
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// crlLists fetches a CRL, checks its signature against the leaf's issuer and
// reports whether it lists the leaf's serial.
func crlLists(s *acmeServer, url string, cert *issued) (listed bool, thisUpdate time.Time, der []byte, err error) {
	resp, err := s.client.Get(url) //nolint:noctx // bounded by the client timeout
	if err != nil {
		return false, time.Time{}, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 10<<20))
	if resp.StatusCode != http.StatusOK {
		return false, time.Time{}, nil, fmt.Errorf("GET: %s\n%s", resp.Status, b)
	}
	if blk, _ := pem.Decode(b); blk != nil {
		b = blk.Bytes
	}
	crl, err := x509.ParseRevocationList(b)
	if err != nil {
		return false, time.Time{}, nil, fmt.Errorf("parse: %v", err)
	}
	if len(cert.Chain) > 0 {
		if err := crl.CheckSignatureFrom(cert.Chain[0]); err != nil {
			return false, crl.ThisUpdate, nil, fmt.Errorf("not signed by the leaf's issuer %q: %v", cert.Chain[0].Subject, err)
		}
	}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(cert.Leaf.SerialNumber) == 0 {
			return true, crl.ThisUpdate, b, nil
		}
	}
	return false, crl.ThisUpdate, b, nil
}

func assertRevokedPebble(t *testing.T, s *acmeServer, cert *issued) {
	t.Helper()
	url := fmt.Sprintf("https://%s/cert-status-by-serial/%x", s.mgmt, cert.Leaf.SerialNumber)
	resp, err := s.client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var st struct{ Status string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &st) != nil {
		t.Logf("NOTE: pebble %s: %s %s; revocation checked by exit status only", url, resp.Status, b)
		return
	}
	if !strings.EqualFold(st.Status, "revoked") {
		t.Fatalf("pebble reports status %q for revoked certificate %s", st.Status, cert.File)
	}
}

// uacmeArgs is the command line of `uacme -v -c CONFDIR -a DIRURL ARGS...`
// run in a mount namespace of its own in which trustFile is bind-mounted
// over the system CA bundle: uacme trusts only that bundle and has no
// option for another. It needs root (unshare --mount).
func uacmeArgs(trustFile, confdir, dirURL string, args ...string) []string {
	return append([]string{
		"unshare", "--mount", "--", "sh", "-c",
		`mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec "$@"`,
		trustFile, "uacme", "-v", "-c", confdir, "-a", dirURL,
	}, args...)
}

// requireRootForUacme fails the test unless it runs as root, which
// uacmeArgs needs.
func requireRootForUacme(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("uacme 1.7.4 has no custom-CA option; this test bind-mounts the root over the system bundle and must run as root")
	}
}

// writeUacmeHook writes an executable uacme hook at path (uacme runs it as
// HOOK begin|done|failed TYPE IDENT TOKEN AUTH). It answers http-01 by
// writing AUTH to chdir/TOKEN on begin, then running the shell command
// afterBegin unless it is "", and removing the file on done or failed; with
// dns01 it answers dns-01 by setting the TXT record _acme-challenge.IDENT.
// at pebble-challtestsrv and clearing it. Any other type exits 1, which
// makes uacme try the next challenge type.
func writeUacmeHook(t *testing.T, path, chdir, afterBegin string, dns01 bool) {
	t.Helper()
	begin := fmt.Sprintf(`printf '%%s' "$5" > %q/"$4"`, chdir)
	if afterBegin != "" {
		begin += " && " + afterBegin
	}
	var dns string
	if dns01 {
		dns = fmt.Sprintf("dns-01:begin) %s ;;\ndns-01:done|dns-01:failed) %s ;;\n",
			dnsHookTXT("set-txt", "_acme-challenge.$3.", "$5"), dnsHookTXT("clear-txt", "_acme-challenge.$3.", ""))
	}
	writeScript(t, path, fmt.Sprintf(`#!/bin/sh
set -e
case "$2:$1" in
http-01:begin) %s ;;
http-01:done|http-01:failed) rm -f %q/"$4" ;;
%s*) exit 1 ;;
esac
`, begin, chdir, dns))
}

// startUalpn starts ualpn -vv in dir, answering tls-alpn-01 on port at
// each of addrs (proxying other TLS traffic to a port where nothing
// listens), waits for its control socket, and writes the uacme hook that
// hands it the challenges. It returns the hook's path and ualpn's log file.
func startUalpn(t *testing.T, dir string, port int, addrs ...string) (hook, logFile string) {
	t.Helper()
	sock := filepath.Join(dir, "ualpn.sock")
	logFile = filepath.Join(dir, "ualpn.log")
	backend := freePorts(t, 1)[0] // nothing listens: ualpn only proxies non-ACME traffic there
	args := []string{"-vv"}
	for _, a := range addrs {
		args = append(args, "-b", a+"@"+strconv.Itoa(port))
	}
	args = append(args, "-c", "127.0.0.1@"+strconv.Itoa(backend), "-n", "1", "-s", sock, "-p", filepath.Join(dir, "ualpn.pid"))
	exited := startDaemon(t, "ualpn", logFile, nil, "ualpn", args...)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("ualpn exited:\n%s", tailFile(logFile, 50))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ualpn did not create %s", sock)
		}
		time.Sleep(50 * time.Millisecond)
	}
	hook = filepath.Join(dir, "ualpn-hook.sh")
	writeScript(t, hook, fmt.Sprintf(`#!/bin/sh
[ "$2" = tls-alpn-01 ] || exit 1
case "$1" in
begin) out=$(echo "auth $3 $5" | ualpn -s %[1]q) ;;
done|failed) out=$(echo "unauth $3" | ualpn -s %[1]q) ;;
esac
echo "ualpn: $out" >&2
[ "$out" = OK ]
`, sock))
	return hook, logFile
}

// newWebroot makes the web root dir/www and its .well-known/acme-challenge
// directory, where http-01 answers go, and returns both paths.
func newWebroot(t *testing.T, dir string) (webroot, chdir string) {
	t.Helper()
	webroot = filepath.Join(dir, "www")
	chdir = filepath.Join(webroot, ".well-known", "acme-challenge")
	if err := os.MkdirAll(chdir, 0o755); err != nil {
		t.Fatal(err)
	}
	return webroot, chdir
}

// certbotCmd is `certbot ARGS... --server DIRURL --config-dir DIR/config
// --work-dir DIR/work --logs-dir DIR/logs --non-interactive` trusting the
// server root trustFile: certbot keeps its account, its certificates
// (DIR/config/live/NAME) and its log (certbotLog) under dir.
func certbotCmd(label, trustFile, dirURL, dir string, args ...string) cmdSpec {
	return cmdSpec{Name: "certbot " + label, Env: []string{"REQUESTS_CA_BUNDLE=" + trustFile}, Args: append(append([]string{"certbot"}, args...),
		"--server", dirURL,
		"--config-dir", filepath.Join(dir, "config"),
		"--work-dir", filepath.Join(dir, "work"),
		"--logs-dir", filepath.Join(dir, "logs"),
		"--non-interactive",
	)}
}

// certbotLog is the log of a certbotCmd run with dir. Debian's certbot 2.1
// reports most ACME errors as "AttributeError: can't set attribute"; the
// real problem is in this log.
func certbotLog(dir string) string { return filepath.Join(dir, "logs", "letsencrypt.log") }

// certbotStandalone is args followed by certbot's options to answer
// http-01 with its own responder on 127.0.0.1:port.
func certbotStandalone(port int, args ...string) []string {
	return append(args, "--standalone", "--preferred-challenges", "http-01",
		"--http-01-address", "127.0.0.1", "--http-01-port", strconv.Itoa(port))
}

// legoArgs is the command line of `lego --server DIRURL --path PATH
// --accept-tos --email EMAIL ARGS...`; lego trusts the server root named by
// LEGO_CA_CERTIFICATES in its environment.
func legoArgs(dirURL, path, email string, args ...string) []string {
	return append([]string{"lego", "--server", dirURL, "--path", path, "--accept-tos", "--email", email}, args...)
}

// legoExecDNS writes a hook at path for lego's exec DNS provider (lego
// runs HOOK present|cleanup FQDN VALUE) that runs the shell command present
// on present (dnsHookTXT("set-txt", "$2", "$3") sets the real record) and
// clears the TXT record at pebble-challtestsrv on cleanup. It returns the
// environment and the arguments (before lego's command) for dns-01 through
// it, with the loopback DNS server as lego's resolver.
func legoExecDNS(t *testing.T, path, present string) (env, args []string) {
	t.Helper()
	writeScript(t, path, fmt.Sprintf(`#!/bin/sh
set -e
case "$1" in
present) %s ;;
cleanup) %s ;;
*) echo "unknown action $1" >&2; exit 1 ;;
esac
`, present, dnsHookTXT("clear-txt", "$2", "")))
	return []string{"EXEC_PATH=" + path, "EXEC_PROPAGATION_TIMEOUT=30", "EXEC_POLLING_INTERVAL=1", "EXEC_SEQUENCE_INTERVAL=1"},
		[]string{"--dns", "exec", "--dns.resolvers", dnsAddr, "--dns.disable-cp"}
}

// writeDehydratedConfig writes dehydrated's config base/config, which makes
// it use the directory dirURL, keep its state under base and trust the
// server root trustFile, followed by settings (lines VAR=VALUE), and returns
// its path.
func writeDehydratedConfig(t *testing.T, base, dirURL, trustFile string, settings ...string) string {
	t.Helper()
	cfg := filepath.Join(base, "config")
	writeFile(t, cfg, fmt.Appendf(nil, "CA=%q\nBASEDIR=%q\nCURL_OPTS=\"--cacert %s\"\n%s\n", dirURL, base, trustFile, strings.Join(settings, "\n")))
	return cfg
}

// dehydratedArgs is the command line of `dehydrated --config CFG ARGS...`.
func dehydratedArgs(cfg string, args ...string) []string {
	return append([]string{"dehydrated", "--config", cfg}, args...)
}

// acmeTinyKeys makes acme-tiny's RSA-2048 account key dir/account.key and
// a P-256 key dir/domain.key with its CSR dir/domain.csr for name, and
// returns the account key's and the CSR's paths.
func acmeTinyKeys(t *testing.T, dir, name string) (accountKey, csr string) {
	t.Helper()
	accountKey, csr = filepath.Join(dir, "account.key"), filepath.Join(dir, "domain.csr")
	run(t, cmdSpec{Name: "openssl genrsa", Args: []string{"openssl", "genrsa", "-out", accountKey, "2048"}})
	run(t, cmdSpec{Name: "openssl req", Args: []string{
		"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", filepath.Join(dir, "domain.key"), "-subj", "/CN=" + name, "-addext", "subjectAltName=DNS:" + name, "-out", csr}})
	return accountKey, csr
}
