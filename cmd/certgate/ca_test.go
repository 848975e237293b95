package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store/storetest"
)

// runCLI runs certgate in-process with args and stdin, returning stdout,
// stderr and the error main would print.
func runCLI(t *testing.T, stdin []byte, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRoot(&stdout, &stderr)
	root.SetIn(bytes.NewReader(stdin))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return stdout.String(), stderr.String(), err
}

// startNode runs server.New for a node with data directory data on the
// database dsn and, when it succeeds, serves until the test ends.
func startNode(t *testing.T, data, dsn string) (*server.Server, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Serve{Data: data, DB: dsn, Listen: ln.Addr().String(), Hostname: "localhost",
		VAHTTPPort: 80, VATLSPort: 443, CertValidity: 90 * 24 * time.Hour, AuthzReuse: 30 * 24 * time.Hour,
		LogLevel: "info", LogFormat: "text", ShutdownGrace: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, server.Options{Listener: ln}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		ln.Close()
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	// Wait until it serves, so that stopping it does not cut its start short.
	url := "http://" + srv.Addr().String() + "/healthz"
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s not healthy: %v", data, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve %s: %v", data, err)
		}
	})
	return srv, nil
}

// TestSecondNodeNeedsTheSharedCA: two data directories on one PostgreSQL
// database. The second node, with an empty data directory, is refused
// before it creates a CA; after `ca export | ca import` it starts with the
// first node's CA. A node with a CA of its own is refused too.
func TestSecondNodeNeedsTheSharedCA(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	data1 := filepath.Join(t.TempDir(), "node1")
	data2 := filepath.Join(t.TempDir(), "node2")

	node1, err := startNode(t, data1, dsn)
	if err != nil {
		t.Fatalf("first node: %v", err)
	}
	fp := local.Fingerprint(node1.CA().Root())

	_, err = startNode(t, data2, dsn)
	want := "the database belongs to the CA with root SHA-256 " + fp + ", but " + filepath.Join(data2, "ca") +
		" has none; copy it from a node with: certgate ca export --data DIR | certgate ca import --data " + data2
	if err == nil || err.Error() != want {
		t.Fatalf("second node with an empty data directory: %v\nwant: %s", err, want)
	}
	if ok, err := local.Exists(filepath.Join(data2, "ca")); ok || err != nil {
		t.Fatalf("the refused node created CA files (%v)", err)
	}

	// A node with its own CA (e.g. one started on SQLite before) is refused
	// with both fingerprints.
	data3 := filepath.Join(t.TempDir(), "node3")
	other, err := local.LoadOrCreate(server.CADir(data3), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = startNode(t, data3, dsn)
	if err == nil || !strings.Contains(err.Error(), fp) || !strings.Contains(err.Error(), local.Fingerprint(other.Root())) ||
		!strings.Contains(err.Error(), "holds another CA") {
		t.Fatalf("node with another CA: %v", err)
	}

	// Copy the CA (node 1 keeps running) and start node 2.
	bundle, stderr, err := runCLI(t, nil, "ca", "export", "--data", data1)
	if err != nil {
		t.Fatalf("ca export: %v", err)
	}
	if !strings.Contains(stderr, "private keys") || !strings.Contains(stderr, fp) {
		t.Errorf("ca export warning: %q", stderr)
	}
	out, _, err := runCLI(t, []byte(bundle), "ca", "import", "--data", data2)
	if err != nil {
		t.Fatalf("ca import: %v", err)
	}
	if !strings.Contains(out, fp) {
		t.Errorf("ca import output %q does not name the root fingerprint", out)
	}
	node2, err := startNode(t, data2, dsn)
	if err != nil {
		t.Fatalf("second node after import: %v", err)
	}
	if !node2.CA().Root().Equal(node1.CA().Root()) || !node2.CA().Intermediate().Equal(node1.CA().Intermediate()) {
		t.Fatal("the nodes have different CAs")
	}
	if got, err := node2.Store().GetSetting(context.Background(), "ca_root_sha256"); err != nil || got != fp {
		t.Fatalf("ca_root_sha256 = %q, %v; want %s", got, err, fp)
	}
}

// TestSQLiteNodeRecordsItsCA: on SQLite the same check holds: a restart
// with the CA works, and a data directory whose CA went missing is refused
// instead of silently getting a new CA. The servers run one after the
// other: a SQLite database serves one at a time (server.LockDatabase).
func TestSQLiteNodeRecordsItsCA(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	dsn := filepath.Join(t.TempDir(), "certgate.db") // outside data, so that the CA can be moved alone
	var fp string
	t.Run("first", func(t *testing.T) { // stopped at its end
		srv, err := startNode(t, data, dsn)
		if err != nil {
			t.Fatal(err)
		}
		fp = local.Fingerprint(srv.CA().Root())
	})
	if fp == "" {
		t.FailNow()
	}
	bundle, _, err := runCLI(t, nil, "ca", "export", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	data2 := filepath.Join(t.TempDir(), "data2")
	if _, err := startNode(t, data2, dsn); err == nil || !strings.Contains(err.Error(), fp) {
		t.Fatalf("new data directory on the SQLite database of another CA: %v", err)
	}
	if _, _, err := runCLI(t, []byte(bundle), "ca", "import", "--data", data2); err != nil {
		t.Fatal(err)
	}
	node2, err := startNode(t, data2, dsn)
	if err != nil {
		t.Fatalf("after import: %v", err)
	}
	if local.Fingerprint(node2.CA().Root()) != fp {
		t.Fatal("another CA after import")
	}
}

// TestCAExportImportCLI runs the binary: file modes, the warning, and
// one-line errors for every refusal.
func TestCAExportImportCLI(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if _, err := local.LoadOrCreate(server.CADir(src), local.Options{}); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other")
	if _, err := local.LoadOrCreate(server.CADir(other), local.Options{}); err != nil {
		t.Fatal(err)
	}
	run := func(stdin []byte, args ...string) (string, string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = cleanEnv()
		cmd.Stdin = bytes.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Dir = dir
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}

	// Export to a file: mode 0600, one warning line, stdout empty.
	bundleFile := filepath.Join(dir, "ca-bundle.pem")
	stdout, stderr, err := run(nil, "ca", "export", "--data", src, "--out", bundleFile)
	if err != nil {
		t.Fatalf("export --out: %v %s", err, stderr)
	}
	if stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "certgate: warning: ") || !strings.Contains(stderr, "private keys") {
		t.Fatalf("export --out: stdout %q, stderr %q", stdout, stderr)
	}
	if fi, err := os.Stat(bundleFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("bundle file: %v, mode %v", err, fi.Mode().Perm())
	}
	bundle, _ := os.ReadFile(bundleFile)
	// To stdout: the same bundle.
	stdout, _, err = run(nil, "ca", "export", "--data", src)
	if err != nil || stdout != string(bundle) {
		t.Fatalf("export to stdout differs from --out (err %v)", err)
	}

	// Import from a file and from stdin.
	dst1, dst2 := filepath.Join(dir, "dst1"), filepath.Join(dir, "dst2")
	if _, stderr, err := run(nil, "ca", "import", "--data", dst1, "--in", bundleFile); err != nil {
		t.Fatalf("import --in: %v %s", err, stderr)
	}
	if _, stderr, err := run(bundle, "ca", "import", "--data", dst2); err != nil {
		t.Fatalf("import from stdin: %v %s", err, stderr)
	}
	for _, d := range []string{dst1, dst2} {
		if fi, err := os.Stat(server.CADir(d)); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s: %v", server.CADir(d), err)
		}
		for _, k := range []string{local.RootKeyFile, local.IntermediateKeyFile} {
			if fi, err := os.Stat(filepath.Join(server.CADir(d), k)); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %v, mode %v", k, err, fi.Mode().Perm())
			}
		}
		root, _, err := run(nil, "ca", "root", "--data", d)
		if blk, _ := pem.Decode(bundle); err != nil || !strings.Contains(string(bundle), root) || blk == nil {
			t.Fatalf("ca root after import: %v", err)
		}
	}

	// Refusals: one line, "certgate: ", non-zero exit, nothing written.
	blocks := func(b []byte) [][]byte {
		var out [][]byte
		for {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				return out
			}
			out = append(out, pem.EncodeToMemory(blk))
		}
	}
	a := blocks(bundle)
	otherBundle, _, err := run(nil, "ca", "export", "--data", other)
	if err != nil {
		t.Fatal(err)
	}
	o := blocks([]byte(otherBundle))
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	tests := []struct {
		name  string
		stdin []byte
		args  []string
		want  string
	}{
		{"export without CA", nil, []string{"ca", "export", "--data", filepath.Join(dir, "none")}, "no CA in"},
		{"export over a file", nil, []string{"ca", "export", "--data", src, "--out", bundleFile}, "refusing to overwrite"},
		{"import over a CA", bundle, []string{"ca", "import", "--data", other}, "a CA already exists in " + server.CADir(other)},
		{"import key of another CA", join(a[0], a[1], a[2], o[3]), []string{"ca", "import", "--data", filepath.Join(dir, "x1")}, "intermediate key does not match"},
		{"import wrong order", join(a[2], a[3], a[0], a[1]), []string{"ca", "import", "--data", filepath.Join(dir, "x2")}, "the root comes after the intermediate"},
		{"import nothing", nil, []string{"ca", "import", "--data", filepath.Join(dir, "x3")}, "no bundle on stdin"},
		{"import missing file", nil, []string{"ca", "import", "--data", filepath.Join(dir, "x4"), "--in", filepath.Join(dir, "nofile")}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := os.ReadFile(bundleFile)
			stdout, stderr, err := run(tt.stdin, tt.args...)
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
				t.Fatalf("exit: %v, want non-zero", err)
			}
			msg := strings.TrimSpace(stderr)
			if strings.Count(msg, "\n") != 0 || !strings.HasPrefix(msg, "certgate: ") || !strings.Contains(msg, tt.want) {
				t.Fatalf("stderr = %q, want one line starting \"certgate: \" mentioning %q", msg, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if after, _ := os.ReadFile(bundleFile); !bytes.Equal(before, after) {
				t.Error("the existing bundle file was changed")
			}
		})
	}
	for _, d := range []string{"x1", "x2", "x3", "x4"} {
		if ok, _ := local.Exists(server.CADir(filepath.Join(dir, d))); ok {
			t.Errorf("a refused import wrote a CA into %s", d)
		}
		// The data directory did not exist: a refused import leaves none
		// (not even the lock file it took while importing).
		if _, err := os.Lstat(filepath.Join(dir, d)); !os.IsNotExist(err) {
			t.Errorf("a refused import left the data directory %s it created (%v)", d, err)
		}
	}
	// The refused import over "other" left its CA as it was.
	if b, _, err := run(nil, "ca", "export", "--data", other); err != nil || b != otherBundle {
		t.Error("a refused import changed the existing CA")
	}
	// Parsing check: the exported root is the one `ca root` prints.
	rootPEM, _, _ := run(nil, "ca", "root", "--data", src)
	blk, _ := pem.Decode([]byte(rootPEM))
	if c, err := x509.ParseCertificate(blk.Bytes); err != nil || !strings.Contains(stderrOf(t, bin, src), local.Fingerprint(c)) {
		t.Error("export warning does not name the root's fingerprint")
	}
}

func stderrOf(t *testing.T, bin, data string) string {
	t.Helper()
	cmd := exec.Command(bin, "ca", "export", "--data", data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return stderr.String()
}
