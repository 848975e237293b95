package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// acmeServer is one running ACME server under test with its own ports.
type acmeServer struct {
	Kind string
	// DirURL is the ACME directory URL.
	DirURL string
	// TrustFile is a PEM bundle that clients must trust to talk to the
	// server over HTTPS (REQUESTS_CA_BUNDLE, LEGO_CA_CERTIFICATES, ...).
	TrustFile string
	// RootFile holds the root CA that issues ACME certificates
	// (`certgate ca root`).
	RootFile string
	// HTTPPort and TLSPort are where the validation authority connects
	// for http-01 and tls-alpn-01; the client's responder listens there on
	// 127.0.0.1.
	HTTPPort, TLSPort int
	// LogFile is the server's combined stdout and stderr.
	LogFile string
	// Data is certgate's data directory (administrative commands such as
	// `certgate profile` and `certgate eab` run beside the server on it).
	Data string

	addr   string // listen address host:port
	mgmt   string // pebble management address
	client *http.Client

	args          []string // certgate serve's arguments, for restart
	stop          func()   // stops the running certgate serve
	kill          func()   // kills the running certgate serve (SIGKILL)
	restartPebble func()   // pebble: stops it and starts a new one on the same ports and TLS certificate (it forgets everything)
	runs          int      // how many times certgate serve was started (pebble: how many times restartPebble restarted it)
}

// startServer starts a fresh server of the configured kind for this test and
// stops it when the test ends.
func startServer(t *testing.T) *acmeServer {
	t.Helper()
	if serverKind == "pebble" {
		return startPebble(t)
	}
	return startCertgate(t)
}

func startCertgate(t *testing.T) *acmeServer {
	t.Helper()
	return startCertgateWithResolver(t, dnsAddr)
}

// startCertgateWithResolver starts certgate with resolver (host:port) as
// the DNS server of every validation lookup.
func startCertgateWithResolver(t *testing.T, resolver string) *acmeServer {
	t.Helper()
	return startCertgateArgs(t, resolver)
}

// startCertgateArgs is startCertgateWithResolver with more arguments of
// certgate serve.
func startCertgateArgs(t *testing.T, resolver string, more ...string) *acmeServer {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	ports := freePorts(t, 3)
	s := &acmeServer{
		Kind:     "certgate",
		addr:     "127.0.0.1:" + strconv.Itoa(ports[0]),
		HTTPPort: ports[1],
		TLSPort:  ports[2],
		LogFile:  filepath.Join(dir, "certgate.log"),
		Data:     data,
	}
	// The server names itself "localhost" so that every URL it hands out
	// resolves on this machine without the test resolver.
	s.DirURL = "https://localhost:" + strconv.Itoa(ports[0]) + "/acme/directory"
	args := []string{"serve",
		"--data", data,
		"--listen", s.addr,
		"--hostname", "localhost",
		"--va-http-port", strconv.Itoa(s.HTTPPort),
		"--va-tls-port", strconv.Itoa(s.TLSPort),
		"--va-dns-resolver", resolver,
	}
	args = append(args, more...)
	s.args = args
	exited := s.startServe(t)

	// Wait for /healthz without trusting the certificate yet: the root is
	// only fetched once the server is ready.
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // readiness probe only
	}}
	waitReady(t, s, exited, insecure, "https://"+s.addr+"/healthz")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, certgateBin, "ca", "root", "--data", data)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	root, err := cmd.Output()
	if err != nil {
		t.Fatalf("certgate ca root --data %s: %v\nstderr:\n%s", data, err, stderr.String())
	}
	if _, err := parsePEMCerts(root); err != nil || !strings.Contains(string(root), "BEGIN CERTIFICATE") {
		t.Fatalf("certgate ca root printed no PEM certificate (%v):\n%s", err, root)
	}
	s.RootFile = filepath.Join(dir, "root.pem")
	s.TrustFile = s.RootFile
	writeFile(t, s.RootFile, root)
	s.client = httpsClient(t, s.TrustFile)
	s.checkDirectory(t)
	return s
}

// startServe starts certgate serve with s.args; the first run logs to
// s.LogFile, a restart to s.LogFile.N.
func (s *acmeServer) startServe(t *testing.T) <-chan struct{} {
	t.Helper()
	s.runs++
	logFile := s.LogFile
	if s.runs > 1 {
		logFile = fmt.Sprintf("%s.%d", s.LogFile, s.runs)
	}
	exited, stop, kill := startKillableDaemon(t, "certgate serve", logFile, nil, certgateBin, s.args...)
	s.stop, s.kill = stop, kill
	return exited
}

// restart stops certgate serve and starts it again on the same port and
// data directory, as an administrator restarting it would; it returns
// once the new process answers /healthz. The in-memory nonces of the old
// process (SQLite) are lost with it.
// It may run outside the test's goroutine (from a client's hook): it
// reports failures as an error rather than failing the test.
func (s *acmeServer) restart(t *testing.T) error {
	s.stop()
	exited := s.startServe(t)
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // readiness probe only
	}}
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		select {
		case <-exited:
			return fmt.Errorf("certgate serve exited on restart")
		default:
		}
		resp, err := insecure.Get("https://" + s.addr + "/healthz")
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("GET /healthz: %s", resp.Status)
	}
	return fmt.Errorf("certgate serve not ready 30s after restart: %v", last)
}

// startDaemon starts a long-running process with its output in logFile and
// registers cleanup that stops it. The returned channel closes when the
// process exits.
func startDaemon(t *testing.T, what, logFile string, env []string, bin string, args ...string) <-chan struct{} {
	t.Helper()
	exited, _ := startStoppableDaemon(t, what, logFile, env, bin, args...)
	return exited
}

// startStoppableDaemon is startDaemon that also returns a function that
// stops the process (SIGTERM, then SIGKILL after 10s) and waits for it.
func startStoppableDaemon(t *testing.T, what, logFile string, env []string, bin string, args ...string) (<-chan struct{}, func()) {
	t.Helper()
	exited, stop, _ := startKillableDaemon(t, what, logFile, env, bin, args...)
	return exited, stop
}

// startKillableDaemon is startStoppableDaemon that also returns a function
// that kills the process (SIGKILL: no shutdown at all) and waits for it.
func startKillableDaemon(t *testing.T, what, logFile string, env []string, bin string, args ...string) (<-chan struct{}, func(), func()) {
	t.Helper()
	logf, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", what, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	kill := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	t.Cleanup(func() {
		stop()
		logf.Close()
		if t.Failed() {
			t.Logf("%s log (%s):\n%s", what, logFile, tailFile(logFile, 200))
		}
	})
	return exited, stop, kill
}

func waitReady(t *testing.T, s *acmeServer, exited <-chan struct{}, c *http.Client, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("%s exited before it was ready:\n%s", s.Kind, tailFile(s.LogFile, 100))
		default:
		}
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("GET %s: %s %s", url, resp.Status, b)
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready after 30s (last: %s)", s.Kind, last)
}

// checkDirectory fetches the directory while trusting only TrustFile, which
// proves the server's TLS certificate chains to the root clients are given.
func (s *acmeServer) checkDirectory(t *testing.T) {
	t.Helper()
	resp, err := s.client.Get(s.DirURL)
	if err != nil {
		t.Fatalf("GET %s trusting only %s: %v", s.DirURL, s.TrustFile, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var dir map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &dir) != nil {
		t.Fatalf("GET %s: %s\n%s", s.DirURL, resp.Status, b)
	}
	for _, k := range []string{"newNonce", "newAccount", "newOrder", "revokeCert"} {
		if _, ok := dir[k].(string); !ok {
			t.Fatalf("directory %s lacks %q:\n%s", s.DirURL, k, b)
		}
	}
}

func httpsClient(t *testing.T, trustFile string) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(readFile(t, trustFile)) {
		t.Fatalf("no certificates in %s", trustFile)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}}
}

// --- pebble, for developing the harness only ---

func startPebble(t *testing.T) *acmeServer {
	t.Helper()
	return startPebbleEnv(t)
}

// startPebbleEnv is startPebble with more environment variables of
// pebble's (PEBBLE_VA_ALWAYS_VALID=1, ...); s.stop stops it.
func startPebbleEnv(t *testing.T, env ...string) *acmeServer {
	t.Helper()
	dir := t.TempDir()
	ports := freePorts(t, 4)
	s := &acmeServer{
		Kind:     "pebble",
		addr:     "127.0.0.1:" + strconv.Itoa(ports[0]),
		mgmt:     "127.0.0.1:" + strconv.Itoa(ports[1]),
		HTTPPort: ports[2],
		TLSPort:  ports[3],
		LogFile:  filepath.Join(dir, "pebble.log"),
	}
	s.DirURL = "https://localhost:" + strconv.Itoa(ports[0]) + "/dir"
	tlsCA, certPEM, keyPEM := devTLSCert(t)
	certFile, keyFile := filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls.key")
	writeFile(t, certFile, certPEM)
	writeFile(t, keyFile, keyPEM)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  s.addr,
		"managementListenAddress":        s.mgmt,
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       s.HTTPPort,
		"tlsPort":                        s.TLSPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}}
	cfgJSON, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	writeFile(t, cfgFile, cfgJSON)
	env = append([]string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"}, env...)
	exited, stop := startStoppableDaemon(t, "pebble", s.LogFile, env, "pebble", "-config", cfgFile, "-dnsserver", dnsAddr)
	s.stop = stop
	s.restartPebble = func() {
		t.Helper()
		s.stop()
		s.runs++
		exited, stop := startStoppableDaemon(t, "pebble", fmt.Sprintf("%s.%d", s.LogFile, s.runs), env, "pebble", "-config", cfgFile, "-dnsserver", dnsAddr)
		s.stop = stop
		waitReady(t, s, exited, s.client, s.DirURL)
	}

	tlsCAFile := filepath.Join(dir, "tls-ca.pem")
	writeFile(t, tlsCAFile, tlsCA)
	s.client = httpsClient(t, tlsCAFile)
	waitReady(t, s, exited, s.client, s.DirURL)
	resp, err := s.client.Get("https://" + s.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	root, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.RootFile = filepath.Join(dir, "root.pem")
	writeFile(t, s.RootFile, root)
	s.TrustFile = filepath.Join(dir, "trust.pem")
	writeFile(t, s.TrustFile, append(append([]byte{}, tlsCA...), root...))
	s.client = httpsClient(t, s.TrustFile)
	s.checkDirectory(t)
	return s
}

// devTLSCert makes a throwaway CA and a localhost server certificate for
// pebble's HTTPS listener.
func devTLSCert(t *testing.T) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e pebble TLS CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}
