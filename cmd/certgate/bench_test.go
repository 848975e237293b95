package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/loadgen"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv"
	"golang.org/x/crypto/acme"
)

func TestBenchACME(t *testing.T) {
	env := testenv.NewWithOptions(t, testenv.Options{OwnHTTP01: true})
	dir := t.TempDir()
	root := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(root, env.Server.CA().RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, l := range env.HTTP01Listeners {
		l.Close() // the command listens itself
	}
	jsonFile := filepath.Join(dir, "summary.json")
	metricsFile := filepath.Join(dir, "runtime.txt")
	t.Setenv("CERTGATE_RUNTIME_METRICS", metricsFile)
	var stdout, stderr bytes.Buffer
	cmd := newRoot(&stdout, &stderr)
	cmd.SetArgs([]string{"bench", "acme", "-d", env.DirectoryURL, "--ca", root, "-n", "20", "-c", "4",
		"--http01-listen", "127.0.0.1:" + strconv.Itoa(env.HTTPPort), "--json", jsonFile, "--timeout", "2m"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("bench acme: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr (not a terminal) should be empty: %q", &stderr)
	}
	out := stdout.String()
	for _, want := range []string{"20 completed, 0 failed of 20", "flows/s", "newOrder", "certificate fetch", "overall", "errors      none"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var s loadgen.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("JSON summary: %v\n%s", err, b)
	}
	if s.Completed != 20 || s.Failed != 0 || len(s.Errors) != 0 || s.FlowsPerSecond <= 0 || s.RequestsPerFlow < 5 {
		t.Fatalf("summary %+v", s)
	}
	// CERTGATE_RUNTIME_METRICS: the process's runtime counters, one
	// "name value" line each.
	b, err = os.ReadFile(metricsFile)
	if err != nil {
		t.Fatal(err)
	}
	rm := "\n" + string(b)
	for _, name := range []string{"/sched/goroutines-created:goroutines", "/gc/heap/allocs:objects", "/gc/cycles/total:gc-cycles"} {
		i := strings.Index(rm, "\n"+name+" ")
		if i < 0 {
			t.Fatalf("%s lacks %s:\n%s", metricsFile, name, rm)
		}
		line, _, _ := strings.Cut(rm[i+1:], "\n")
		if v, err := strconv.ParseUint(strings.TrimPrefix(line, name+" "), 10, 64); err != nil || v == 0 {
			t.Errorf("%q: want a positive count", line)
		}
	}
	for _, st := range append(s.Steps, s.Overall) {
		// certgate answers the challenge POST once validation is done
		// (valid), so the tool, like lego, does not poll: no wait.
		if st.Name == "validation wait" {
			if st.Count != 20 || st.P50 != 0 || st.P90 > st.P99 {
				t.Errorf("step %+v: want 20 samples, most of them 0 (the challenge POST answered valid)", st)
			}
			continue
		}
		if st.Count != 20 || st.P50 <= 0 || st.P50 > st.P90 || st.P90 > st.P99 {
			t.Errorf("step %+v: want 20 samples and 0 < p50 ≤ p90 ≤ p99", st)
		}
	}
	t.Logf("\n%s", out)
}

func TestBenchACMEJSONToStdout(t *testing.T) {
	env := testenv.NewWithOptions(t, testenv.Options{OwnHTTP01: true})
	for _, l := range env.HTTP01Listeners {
		l.Close()
	}
	var stdout, stderr bytes.Buffer
	cmd := newRoot(&stdout, &stderr)
	cmd.SetArgs([]string{"bench", "acme", "-d", env.DirectoryURL, "--insecure", "-n", "2", "-c", "2",
		"--http01-listen", "127.0.0.1:" + strconv.Itoa(env.HTTPPort), "--json", "-"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var s loadgen.Summary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil || s.Completed != 2 {
		t.Fatalf("stdout is not the JSON summary: %v\n%s", err, &stdout)
	}
	if !strings.Contains(stderr.String(), "flows/s") {
		t.Errorf("text report should go to stderr with --json -: %q", &stderr)
	}
}

func TestBenchACMEErrorsAreOneLine(t *testing.T) {
	bin := buildBinary(t)
	env := testenv.NewWithOptions(t, testenv.Options{OwnHTTP01: true})
	refused := "https://127.0.0.1:" + strconv.Itoa(freePort(t)) + "/acme/directory"
	root := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(root, env.Server.CA().RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	notDir := strings.TrimSuffix(env.DirectoryURL, "/acme/directory") + "/no/such/path"
	tests := []struct {
		name string
		args []string
		want string // whole message when it starts with "certgate:", else a part
	}{
		{"untrusted", []string{"-d", env.DirectoryURL},
			"certgate: cannot fetch directory " + env.DirectoryURL + ": x509: certificate signed by unknown authority (use --ca FILE)"},
		{"refused", []string{"-d", refused}, "cannot fetch directory " + refused + ": dial tcp"},
		{"not a directory", []string{"-d", notDir, "--ca", root}, "cannot fetch directory " + notDir + ": "},
		{"bad scheme", []string{"-d", "ftp://x/dir"}, "is not an http(s) URL"},
		{"bad key type", []string{"--key-type", "ed25519"}, "key type"},
		{"missing ca file", []string{"--ca", "/nonexistent/root.pem"}, "--ca"},
		{"json in a missing directory", []string{"-d", refused, "--json", "/nonexistent/dir/s.json"},
			"--json: /nonexistent/dir/s.json: directory /nonexistent/dir: no such file or directory"},
		{"negative flow timeout", []string{"-d", env.DirectoryURL, "--ca", root, "--flow-timeout", "-1s"},
			"certgate: --flow-timeout must be positive"},
		{"zero flow timeout", []string{"-d", env.DirectoryURL, "--ca", root, "--flow-timeout", "0"},
			"certgate: --flow-timeout must be positive"},
		// Refused before the directory is fetched or an account
		// registered: every newOrder would fail with rejectedIdentifier.
		{"domain with an empty label", []string{"-d", refused, "--domain", "bad..name"},
			`domain "bad..name": the names requested, such as "f`},
		{"domain with a space", []string{"-d", refused, "--domain", "a b"}, "would not be DNS names: only letters, digits and hyphens"},
		{"domain too long", []string{"-d", refused, "--domain", strings.Repeat("a.", 125) + "test"}, "would not be DNS names: longer than 253 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cmd := exec.Command(bin, append([]string{"bench", "acme", "-n", "1", "--http01-listen", "127.0.0.1:0"}, tt.args...)...)
			cmd.Env = cleanEnv()
			cmd.Stderr = &stderr
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
				t.Fatalf("exit: %v, want non-zero", err)
			}
			msg := strings.TrimSpace(stderr.String())
			if strings.Count(msg, "\n") != 0 || !strings.HasPrefix(msg, "certgate: ") {
				t.Fatalf("stderr = %q, want one line starting \"certgate: \"", msg)
			}
			if strings.HasPrefix(tt.want, "certgate:") && msg != tt.want || !strings.Contains(msg, tt.want) {
				t.Fatalf("stderr = %q\nwant      %q", msg, tt.want)
			}
			t.Log(msg)
		})
	}
}

func TestBenchSeed(t *testing.T) {
	data := t.TempDir()
	var stderr strings.Builder
	cmd := newRoot(io.Discard, &stderr)
	cmd.SetArgs([]string{"bench", "seed", "--data", data, "--certificates", "250", "--accounts", "7", "--batch", "100"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("seed: %v", err)
	}
	if !strings.Contains(stderr.String(), "seeded 250 of 250 certificates") {
		t.Errorf("no final progress line: %q", stderr.String())
	}
	st, err := store.OpenSQLite(context.Background(), filepath.Join(data, "certgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := st.CountCertificates(context.Background())
	st.Close()
	if err != nil || n != 250 {
		t.Fatalf("%d certificates after seeding 250 (%v)", n, err)
	}

	// A running server (its lock) keeps seed out.
	lock, err := server.LockDataDir(data)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	cmd = newRoot(io.Discard, io.Discard)
	cmd.SetArgs([]string{"bench", "seed", "--data", data, "--certificates", "1"})
	if err := cmd.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "in use by another certgate process") {
		t.Fatalf("seed beside a server: %v", err)
	}
}

// TestBenchACMEEAB: against a profile that requires external account
// binding, bench acme registers its accounts with --eab-kid and
// --eab-hmac-key and completes its flows; without them it stops before
// registering, in one line naming the flags; a single-use key, which binds
// one of the run's accounts, is named as the cause.
func TestBenchACMEEAB(t *testing.T) {
	env := testenv.NewWithOptions(t, testenv.Options{OwnHTTP01: true})
	for _, l := range env.HTTP01Listeners {
		l.Close() // the command listens itself
	}
	data := env.Config.Data
	cli := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := newRoot(&stdout, &stderr)
		cmd.SetArgs(append(args, "--data", data))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, &stderr)
		}
		return stdout.String()
	}
	eabKey := func(args ...string) (kid, hmac string) {
		var k struct{ KID, HMAC string }
		out := cli(append([]string{"eab", "create", "--profile", "partners", "--format", "json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &k); err != nil || k.KID == "" {
			t.Fatalf("eab create printed %q: %v", out, err)
		}
		return k.KID, k.HMAC
	}
	cli("profile", "create", "partners", "--require-eab")
	dirURL := strings.Replace(env.DirectoryURL, "/acme/directory", "/acme/partners/directory", 1)
	bench := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		cmd := newRoot(&stdout, &stderr)
		cmd.SetArgs(append([]string{"bench", "acme", "-d", dirURL, "--insecure", "-n", "4", "-c", "2",
			"--http01-listen", "127.0.0.1:" + strconv.Itoa(env.HTTPPort)}, args...))
		err := cmd.Execute()
		return stdout.String(), err
	}

	if _, err := bench(); err == nil || !strings.Contains(err.Error(), "requires an external account binding") ||
		!strings.Contains(err.Error(), "--eab-kid KID --eab-hmac-key KEY") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("without EAB: %v; want one line naming --eab-kid and --eab-hmac-key", err)
	}
	kid, hmac := eabKey()
	out, err := bench("--eab-kid", kid, "--eab-hmac-key", hmac)
	if err != nil || !strings.Contains(out, "4 completed, 0 failed of 4") {
		t.Fatalf("with EAB: %v\n%s", err, out)
	}
	kid, hmac = eabKey("--single-use")
	if _, err := bench("--eab-kid", kid, "--eab-hmac-key", hmac); err == nil ||
		!strings.Contains(err.Error(), "1 of 2 accounts were bound to EAB key "+kid+"; a single-use key binds one: use --accounts 1") {
		t.Fatalf("single-use key, 2 accounts: %v", err)
	} else if ae := (*acme.Error)(nil); !errors.As(err, &ae) || ae.ProblemType == "" {
		// The server's problem stays in the chain (%w), not only in the text.
		t.Errorf("single-use key, 2 accounts: %v (%T): no *acme.Error in the chain", err, err)
	} else {
		t.Logf("refused registration: %d %s", ae.StatusCode, ae.ProblemType)
	}
	if _, err := bench("--eab-kid", kid); err == nil || err.Error() != "--eab-kid and --eab-hmac-key go together" {
		t.Fatalf("--eab-kid alone: %v", err)
	}
}

// TestBenchACMEJSONFileKeptUntilDone: --json FILE is written only when the
// summary is complete: a run that cannot start leaves an earlier FILE as it
// was and no temporary file beside it.
func TestBenchACMEJSONFileKeptUntilDone(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s.json")
	if err := os.WriteFile(file, []byte("earlier\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := newRoot(io.Discard, io.Discard)
	cmd.SetArgs([]string{"bench", "acme", "-d", "https://127.0.0.1:" + strconv.Itoa(freePort(t)) + "/dir", "-n", "1",
		"--http01-listen", "127.0.0.1:0", "--json", file})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "cannot fetch directory") {
		t.Fatalf("err = %v, want cannot fetch directory", err)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "earlier\n" {
		t.Errorf("%s = %q, %v; want it unchanged", file, b, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files in %s, want only s.json: %v", len(entries), dir, entries)
	}
}

// TestBenchACMEInterrupted: Ctrl-C (SIGINT) during the flows prints the
// report of what ran and ends with "run interrupted: X of N flows
// completed" rather than "N-X of N flows failed", which read like the
// server's fault.
func TestBenchACMEInterrupted(t *testing.T) {
	bin := buildBinary(t)
	env := testenv.NewWithOptions(t, testenv.Options{OwnHTTP01: true})
	for _, l := range env.HTTP01Listeners {
		l.Close()
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "bench", "acme", "-d", env.DirectoryURL, "--insecure", "-n", "1000000", "-c", "2",
		"--http01-listen", "127.0.0.1:"+strconv.Itoa(env.HTTPPort))
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the flows run: the server has issued a certificate
	// besides its own listener certificate.
	for {
		n, err := env.Server.Store().CountCertificates(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n > 1 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Fatalf("exit: %v, want non-zero", err)
	}
	msg := strings.TrimSpace(stderr.String())
	if !strings.HasPrefix(msg, "certgate: run interrupted: ") || !strings.HasSuffix(msg, " of 1000000 flows completed") {
		t.Errorf("stderr = %q, want \"certgate: run interrupted: X of 1000000 flows completed\"", msg)
	}
	if !strings.Contains(stdout.String(), "not started (run interrupted)") {
		t.Errorf("report lacks the flows not started:\n%s", &stdout)
	}
}

// TestBenchACMEJSONNotARegularFile: --json names a pipe (bash's
// ">(jq .)" passes /dev/fd/N; /dev/stdout is another) or a symbolic link.
// The summary goes through the pipe, and through the link to its target,
// which stays a link: a temporary file renamed over FILE could not be made
// in /dev/fd, and replaced the link (as root, it would have replaced
// /dev/stdout itself with a regular file).
func TestBenchACMEJSONNotARegularFile(t *testing.T) {
	env := testenv.NewWithOptions(t, testenv.Options{OwnHTTP01: true})
	for _, l := range env.HTTP01Listeners {
		l.Close()
	}
	run := func(t *testing.T, jsonArg string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := newRoot(&stdout, &stderr)
		cmd.SetArgs([]string{"bench", "acme", "-d", env.DirectoryURL, "--insecure", "-n", "1", "-c", "1",
			"--http01-listen", "127.0.0.1:" + strconv.Itoa(env.HTTPPort), "--json", jsonArg})
		if err := cmd.Execute(); err != nil {
			t.Fatalf("bench acme --json %s: %v", jsonArg, err)
		}
	}
	summary := func(t *testing.T, b []byte) {
		t.Helper()
		var s loadgen.Summary
		if err := json.Unmarshal(b, &s); err != nil || s.Completed != 1 {
			t.Fatalf("not the JSON summary: %v\n%s", err, b)
		}
	}
	t.Run("pipe", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(r)
			got <- b
		}()
		run(t, "/dev/fd/"+strconv.Itoa(int(w.Fd())))
		w.Close()
		summary(t, <-got)
	})
	t.Run("symbolic link", func(t *testing.T) {
		dir := t.TempDir()
		target, link := filepath.Join(dir, "target.json"), filepath.Join(dir, "link.json")
		if err := os.WriteFile(target, []byte("earlier\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("target.json", link); err != nil {
			t.Fatal(err)
		}
		run(t, link)
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("%s is no longer a symbolic link: %v, %v", link, fi.Mode(), err)
		}
		b, err := os.ReadFile(target)
		if err != nil {
			t.Fatal(err)
		}
		summary(t, b)
		if entries, _ := os.ReadDir(dir); len(entries) != 2 {
			t.Errorf("%d files in %s, want target.json and link.json: %v", len(entries), dir, entries)
		}
	})
}

// TestBenchACMETimeoutBeforeFlows: --timeout reached while the RSA keys
// are made, before any flow, ends with the same kind of last line as a run
// cut short ("--timeout D reached ...: 0 of N flows completed"), not with
// "making rsa2048 certificate keys: context deadline exceeded"; the error
// wraps its cause (errors.Is context.DeadlineExceeded).
func TestBenchACMETimeoutBeforeFlows(t *testing.T) {
	env := testenv.NewWithOptions(t, testenv.Options{OwnHTTP01: true})
	for _, l := range env.HTTP01Listeners {
		l.Close()
	}
	var stdout, stderr bytes.Buffer
	cmd := newRoot(&stdout, &stderr)
	// 100000 RSA 2048 keys take minutes of CPU: the timeout comes first.
	cmd.SetArgs([]string{"bench", "acme", "-d", env.DirectoryURL, "--insecure", "-n", "100000", "-c", "1",
		"--key-type", "rsa2048", "--timeout", "500ms", "--http01-listen", "127.0.0.1:" + strconv.Itoa(env.HTTPPort)})
	err := cmd.Execute()
	want := "--timeout 500ms reached before the flows started: 0 of 100000 flows completed ("
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("err = %v, want it to begin %q", err, want)
	}
	// The cause stays in the chain (%w), not only in the text.
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v: does not wrap context.DeadlineExceeded", err)
	}
}

// TestBenchACMETimeoutBeforeFlowsEC256: the same with ec256 keys, which
// are also made before the flows now (up to loadgen.MaxPreparedEC): the
// timeout during their making ends the run at once with the same line.
func TestBenchACMETimeoutBeforeFlowsEC256(t *testing.T) {
	env := testenv.NewWithOptions(t, testenv.Options{OwnHTTP01: true})
	for _, l := range env.HTTP01Listeners {
		l.Close()
	}
	var stdout, stderr bytes.Buffer
	cmd := newRoot(&stdout, &stderr)
	// 200000 P-256 keys and CSRs take about 10 s of CPU.
	cmd.SetArgs([]string{"bench", "acme", "-d", env.DirectoryURL, "--insecure", "-n", "200000", "-c", "1",
		"--timeout", "300ms", "--http01-listen", "127.0.0.1:" + strconv.Itoa(env.HTTPPort)})
	start := time.Now()
	err := cmd.Execute()
	want := "--timeout 300ms reached before the flows started: 0 of 200000 flows completed (making ec256 certificate keys: "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("err = %v, want it to begin %q", err, want)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the run ended %v after it started, with a 300ms --timeout", d)
	}
}
