package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
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
	"syscall"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/spf13/cobra"
)

// binDir holds the certgate binary buildBinary builds; TestMain makes it
// and removes it when the tests end.
var binDir string

// buildCertgate builds the binary once for all the tests that run it (five
// of them; each used to link its own, some 4 s apiece on a 2-core machine).
var buildCertgate = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "certgate")
	// -pgo=off: without it default.pgo compiles every package once more (the
	// tests' other builds and go vet's do not use the profile), about a
	// minute of a 2-core CI run, for a speed no test measures.
	if out, err := exec.Command("go", "build", "-pgo=off", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "certgate-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	// Stores of storetest's Engine.Open are cloned from a database
	// migrated once rather than migrated for each test.
	return storetest.Main(m)
}

// buildBinary returns the path of the certgate binary of this package,
// built on the first call (go build .) and shared by the tests after it,
// which only run it.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin, err := buildCertgate()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestServeFirstRunAndGracefulShutdown(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	port := strconv.Itoa(freePort(t))
	start := func() (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(bin, "serve", "--data", data, "--listen", "127.0.0.1:"+port)
		var logs bytes.Buffer
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &logs
	}
	cmd, logs := start()
	defer cmd.Process.Kill()

	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	waitHealthy := func() {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if resp, err := client.Get("https://127.0.0.1:" + port + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("server not healthy; logs:\n%s", logs)
	}
	waitHealthy()

	for _, f := range []string{"certgate.db", "ca/root.key", "ca/intermediate.key", "ca/root.crt", "ca/intermediate.crt"} {
		st, err := os.Stat(filepath.Join(data, f))
		if err != nil {
			t.Fatalf("first run did not create %s: %v", f, err)
		}
		if strings.HasSuffix(f, ".key") && st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	rootPEM, err := exec.Command(bin, "ca", "root", "--data", data).Output()
	if err != nil {
		t.Fatalf("ca root: %v", err)
	}
	block, _ := pem.Decode(rootPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("ca root printed no certificate: %q", rootPEM)
	}
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	// The server certificate chains to that root and covers 127.0.0.1, ::1 and localhost.
	pool := x509.NewCertPool()
	pool.AddCert(root)
	for _, host := range []string{"localhost", "127.0.0.1"} {
		conn, err := tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{RootCAs: pool, ServerName: host})
		if err != nil {
			t.Fatalf("TLS to %s with the root: %v", host, err)
		}
		leaf := conn.ConnectionState().PeerCertificates[0]
		conn.Close()
		if err := leaf.VerifyHostname("::1"); err != nil {
			t.Errorf("server certificate does not cover ::1: %v", err)
		}
	}

	// A second process on the same data directory is refused while the
	// first runs (they would share one SQLite database and CA).
	other := exec.Command(bin, "serve", "--data", data, "--listen", "127.0.0.1:0")
	if out, err := other.CombinedOutput(); err == nil || !strings.Contains(string(out), "is in use by another certgate process") {
		t.Fatalf("second serve on the same data: err %v, output %q", err, out)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM; logs:\n%s", err, logs)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not exit within 15s of SIGTERM")
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Errorf("no shutdown log line:\n%s", logs)
	}

	// A second run reuses the CA instead of creating another.
	cmd2, logs2 := start()
	defer cmd2.Process.Kill()
	logs = logs2
	waitHealthy()
	again, err := exec.Command(bin, "ca", "root", "--data", data).Output()
	if err != nil || !bytes.Equal(again, rootPEM) {
		t.Fatalf("the root changed across restarts (err %v)", err)
	}
	// --out writes the same PEM to a file, replacing what was there.
	outFile := filepath.Join(t.TempDir(), "certgate-root.pem")
	if err := os.WriteFile(outFile, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command(bin, "ca", "root", "--data", data, "--out", outFile).CombinedOutput(); err != nil || len(msg) != 0 {
		t.Fatalf("ca root --out: %v %s", err, msg)
	}
	if got, err := os.ReadFile(outFile); err != nil || !bytes.Equal(got, rootPEM) {
		t.Fatalf("ca root --out wrote %q (%v), want the root", got, err)
	}
	if st, err := os.Stat(outFile); err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("ca root --out: mode %v (%v), want 0644", st.Mode().Perm(), err)
	}
	cmd2.Process.Signal(syscall.SIGINT)
	if err := cmd2.Wait(); err != nil {
		t.Fatalf("serve exited with %v after SIGINT", err)
	}
}

func TestCLIErrorsAreOneLineAndNonZero(t *testing.T) {
	bin := buildBinary(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"ca root without data", []string{"ca", "root", "--data", filepath.Join(t.TempDir(), "none")}, "`certgate serve` creates it on its first run"},
		{"ca root --out without data", []string{"ca", "root", "--data", filepath.Join(t.TempDir(), "none"), "--out", "root.pem"}, "`certgate serve` creates it on its first run"},
		{"unknown flag", []string{"serve", "--no-such-flag"}, "unknown flag"},
		{"bad port", []string{"serve", "--va-http-port", "0"}, "va-http-port"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"suggest-renewal with a bad serial", []string{"cert", "suggest-renewal", "xyz", "--before", "24h"}, "is not a hexadecimal certificate serial"},
		{"listen port in use", []string{"serve", "--data", filepath.Join(t.TempDir(), "d"), "--listen", busy.Addr().String()}, "the address is already in use"},
		{"validity every certificate would fail lint on", []string{"serve", "--data", filepath.Join(t.TempDir(), "d"), "--listen", "127.0.0.1:0", "--cert-validity", "400d"}, "cert-validity 400d: leaf certificates would fail lint (CA/B Forum BR: at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = cleanEnv()
			cmd.Stderr = &stderr
			cmd.Dir = t.TempDir()
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
				t.Fatalf("exit: %v, want non-zero", err)
			}
			if _, err := os.Stat(filepath.Join(cmd.Dir, "root.pem")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed command left root.pem behind (%v)", err)
			}
			msg := strings.TrimSpace(stderr.String())
			if strings.Count(msg, "\n") != 0 || !strings.HasPrefix(msg, "certgate: ") || !strings.Contains(msg, tt.want) {
				t.Fatalf("stderr = %q, want one line starting \"certgate: \" mentioning %q", msg, tt.want)
			}
		})
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "certgate ") {
		t.Fatalf("version: %q, %v", out, err)
	}
}

// cleanEnv is the test process's environment without CERTGATE_* variables
// (CI exports CERTGATE_TEST_POSTGRES, which serve would warn about), so
// that assertions on a command's exact output see only what it says.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CERTGATE_") {
			env = append(env, kv)
		}
	}
	return env
}

// TestCommandsRegisteredOnce: every top-level command is registered once
// (a duplicate shows twice in --help and in shell completion).
func TestCommandsRegisteredOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range newRoot(io.Discard, io.Discard).Commands() {
		if seen[c.Name()] {
			t.Errorf("command %q is registered twice", c.Name())
		}
		seen[c.Name()] = true
	}
}

// TestArgCountErrorsNameTheCommand: a wrong number of arguments is one line
// naming the command and its usage line (what the argument is), not
// cobra's bare "accepts 1 arg(s), received 0".
func TestArgCountErrorsNameTheCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"approval", "approve"}, "approval approve: accepts 1 arg(s), received 0 (usage: certgate approval approve ID [flags])"},
		{[]string{"cert", "revoke", "a", "b"}, "cert revoke: accepts 1 arg(s), received 2 (usage: certgate cert revoke SERIAL|FINGERPRINT [flags])"},
		{[]string{"version", "x"}, `version: takes no arguments, received "x" (usage: certgate version [flags])`},
	} {
		_, _, err := runCLI(t, nil, tc.args...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("certgate %v: %v\nwant %s", tc.args, err, tc.want)
		}
	}
}

// TestVersionFlag: `certgate --version` (and -v) print exactly what
// `certgate version` prints, as users of step-ca and vault expect.
func TestVersionFlag(t *testing.T) {
	want, _, err := runCLI(t, nil, "version")
	if err != nil || want != "certgate "+versionString()+"\n" {
		t.Fatalf("version: %q, %v", want, err)
	}
	for _, args := range [][]string{{"--version"}, {"-v"}} {
		out, stderr, err := runCLI(t, nil, args...)
		if err != nil || out != want || stderr != "" {
			t.Errorf("certgate %v: stdout %q, stderr %q, %v; want %q", args, out, stderr, err, want)
		}
	}
}

// TestVersionFlagRefusesArguments: an argument with --version (or -v),
// before or after it, is refused in one line with a non-zero exit, as
// "--help extra" is; "certgate --version extra" printed the version and
// exited 0, and "certgate --version serve" too.
func TestVersionFlagRefusesArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--version", "extra"}, `--version takes no arguments, received "extra" (usage: certgate --version)`},
		{[]string{"-v", "extra"}, `--version takes no arguments, received "extra" (usage: certgate --version)`},
		{[]string{"--version=true", "extra"}, `--version takes no arguments, received "extra" (usage: certgate --version)`},
		{[]string{"--version", "--", "extra"}, `--version takes no arguments, received "extra" (usage: certgate --version)`},
		{[]string{"--version", "serve"}, `--version takes no arguments, received "serve" (usage: certgate --version)`},
		{[]string{"cert", "list", "-v"}, `--version takes no arguments, received "cert list" (usage: certgate --version)`},
	} {
		out, stderr, err := runCLI(t, nil, tc.args...)
		if err == nil || err.Error() != tc.want || out != "" || stderr != "" {
			t.Errorf("certgate %v: stdout %q, stderr %q, err %v\nwant the error %s", tc.args, out, stderr, err, tc.want)
		}
	}
	// --version=false is no version flag: the argument is an unknown command.
	if _, _, err := runCLI(t, nil, "--version=false", "extra"); err == nil || !strings.HasPrefix(err.Error(), `unknown command "extra"`) {
		t.Errorf("certgate --version=false extra: %v, want the unknown command", err)
	}
}

// TestFormatOnlyWhatTheCommandOffers: --format takes only the formats its
// command names in its help ("output format: table|json"); csv given to a
// command without a CSV form (approval list, eab list, profile show, ...)
// was accepted and printed the table, so a script got a table where it
// asked for CSV. The refusal names the command's own formats.
func TestFormatOnlyWhatTheCommandOffers(t *testing.T) {
	n := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		f := c.Flags().Lookup("format")
		if f == nil {
			return
		}
		n++
		offered := strings.Split(strings.TrimPrefix(f.Usage, "output format: "), "|")
		for _, v := range []string{"table", "json", "csv", "yaml"} {
			err := f.Value.Set(v)
			if slices.Contains(offered, v) != (err == nil) {
				t.Errorf("%s --format %s: %v (offers %v)", c.CommandPath(), v, err, offered)
			}
			if err != nil && !strings.Contains(err.Error(), strings.Join(offered[:len(offered)-1], ", ")+" or "+offered[len(offered)-1]) {
				t.Errorf("%s --format %s: %v, want the offered formats named", c.CommandPath(), v, err)
			}
		}
	}
	walk(newRoot(io.Discard, io.Discard))
	if n < 15 {
		t.Fatalf("only %d commands with --format found", n)
	}
}
