package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// requireTool returns the path of bin, failing the test with the Debian
// package to install when it is missing.
func requireTool(t *testing.T, bin, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("%s not found in PATH: install the Debian package %q (apt-get install %s)", bin, debianPackage, debianPackage)
	}
	return p
}

// runTool runs a command bounded by ctx and returns its stdout, stderr
// and error.
func runTool(ctx context.Context, stdin string, name string, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// opensslPair makes a self-signed certificate for localhost and
// 127.0.0.1 with `openssl req` (newkey: "ec" with P-256, or "rsa:2048"),
// as an administrator would, in dir/NAME.crt and dir/NAME.key.
func opensslPair(ctx context.Context, t *testing.T, openssl, dir, name, newkey string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	args := []string{"req", "-x509", "-newkey", newkey, "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "2",
		"-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"}
	if newkey == "ec" {
		args = append(args, "-pkeyopt", "ec_paramgen_curve:P-256")
	}
	if _, stderr, err := runTool(ctx, "", openssl, args...); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, stderr)
	}
	return certFile, keyFile
}

// copyFile puts src's contents at dst through a rename.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst+".new", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dst+".new", dst); err != nil {
		t.Fatal(err)
	}
}

// waitCount waits for n log lines holding text; ctx ends the wait.
func (l *hangupLog) waitCount(ctx context.Context, t *testing.T, text string, n int) {
	t.Helper()
	for strings.Count(l.String(), text) < n {
		select {
		case <-l.lines:
		case <-ctx.Done():
			t.Fatalf("no %d log lines %q; log:\n%s", n, text, l.String())
		}
	}
}

// TestServeTLSCertSIGHUP: `certgate serve --tls-cert --tls-key` serves
// the given certificate (openssl s_client shows it, curl trusting only it
// gets /healthz); after the files are replaced and SIGHUP is sent, new
// connections get the new certificate; a bad pair (the key of another
// certificate) and SIGHUP logs an ERROR and the previous certificate is
// served on. Before, SIGHUP reloaded nothing and the flags did not exist.
func TestServeTLSCertSIGHUP(t *testing.T) {
	openssl := requireTool(t, "openssl", "openssl")
	curl := requireTool(t, "curl", "curl")
	wait, stop := context.WithTimeout(context.Background(), 2*time.Minute) // a bound on a hang, not a timing
	defer stop()
	dir := t.TempDir()
	c1, k1 := opensslPair(wait, t, openssl, dir, "one", "ec")
	c2, k2 := opensslPair(wait, t, openssl, dir, "two", "rsa:2048")
	c3, _ := opensslPair(wait, t, openssl, dir, "three", "ec")
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	copyFile(t, c1, certFile)
	copyFile(t, k1, keyFile)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	log := &hangupLog{lines: make(chan string, 64)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRoot(io.Discard, log)
	root.SetArgs([]string{"serve", "--data", filepath.Join(dir, "data"), "--listen", addr, "--tls-cert", certFile, "--tls-key", keyFile})
	done := make(chan error, 1)
	go func() {
		err := root.ExecuteContext(ctx)
		done <- err
		fmt.Fprintf(log, "serve returned: %v\n", err) // wakes the wait below
	}()
	for !strings.Contains(log.String(), "certgate serving") {
		if strings.Contains(log.String(), "serve returned: ") {
			t.Fatalf("serve did not start:\n%s", log.String())
		}
		select {
		case <-log.lines:
		case <-wait.Done():
			t.Fatalf("not serving; log:\n%s", log.String())
		}
	}

	// served is the leaf openssl s_client receives, in DER.
	served := func() []byte {
		t.Helper()
		out, stderr, err := runTool(wait, "", openssl, "s_client", "-connect", addr, "-servername", "localhost")
		if err != nil {
			t.Fatalf("openssl s_client: %v\n%s", err, stderr)
		}
		b, _ := pem.Decode([]byte(out))
		if b == nil {
			t.Fatalf("openssl s_client printed no certificate:\n%s", out)
		}
		return b.Bytes
	}
	der := func(file string) []byte {
		t.Helper()
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := pem.Decode(b)
		return p.Bytes
	}
	curlOK := func(trust string) bool {
		t.Helper()
		out, _, err := runTool(wait, "", curl, "-sS", "--fail", "--cacert", trust, "https://localhost:"+port+"/healthz")
		return err == nil && out != ""
	}
	if !bytes.Equal(served(), der(c1)) {
		t.Fatal("openssl s_client: the served certificate is not the one of --tls-cert")
	}
	if !curlOK(c1) {
		t.Fatal("curl trusting --tls-cert's certificate: /healthz failed")
	}

	copyFile(t, c2, certFile)
	copyFile(t, k2, keyFile)
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	log.waitCount(wait, t, "reloaded the TLS certificate", 1)
	if !bytes.Equal(served(), der(c2)) {
		t.Fatal("after SIGHUP: the served certificate is not the replaced one")
	}
	if !curlOK(c2) || curlOK(c1) {
		t.Error("after SIGHUP: curl does not see the replaced certificate")
	}

	copyFile(t, c3, certFile) // with k2 still in tls.key
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	log.waitCount(wait, t, "TLS certificate not reloaded", 1)
	if !bytes.Equal(served(), der(c2)) {
		t.Error("after SIGHUP with a bad pair: the previous certificate is not served")
	}
	if !strings.Contains(log.String(), "level=ERROR") || !strings.Contains(log.String(), "is not the key of the certificate in tls-cert") {
		t.Errorf("no ERROR line naming the mismatch:\n%s", log.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// TestServeTLSCertErrors: the start stops with one line for tls-cert
// without tls-key (from the flag, the environment or the file; the
// variable or the file is named before it) and for a file that does not
// exist.
func TestServeTLSCertErrors(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "certgate.yaml")
	if err := os.WriteFile(cfgFile, []byte("tls-key: "+filepath.Join(dir, "k.pem")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"flag without key", []string{"--tls-cert", filepath.Join(dir, "c.pem")}, "", "tls-cert: needs tls-key, the file with the certificate's private key (give both or neither)"},
		{"env without cert", nil, "CERTGATE_TLS_KEY=" + filepath.Join(dir, "k.pem"), `CERTGATE_TLS_KEY="` + filepath.Join(dir, "k.pem") + `": tls-key: needs tls-cert, the file with the certificate chain (give both or neither)`},
		{"file without cert", []string{"--config", cfgFile}, "", "config file " + cfgFile + ": tls-key: needs tls-cert"},
		{"missing file", []string{"--tls-cert", filepath.Join(dir, "c.pem"), "--tls-key", filepath.Join(dir, "k.pem")}, "",
			"tls-cert: " + filepath.Join(dir, "c.pem") + " does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				k, v, _ := strings.Cut(tc.env, "=")
				t.Setenv(k, v)
			}
			var stderr bytes.Buffer
			root := newRoot(io.Discard, &stderr)
			root.SetArgs(append([]string{"serve", "--data", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0"}, tc.args...))
			// A server that starts (it should not) stops after this.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := root.ExecuteContext(ctx)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") ||
				(strings.HasSuffix(tc.want, "does not exist") && err.Error() != tc.want) {
				t.Errorf("serve %v: %v, want one line beginning %q", tc.args, err, tc.want)
			}
		})
	}
}
