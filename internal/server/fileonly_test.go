package server

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/certgate/certgate/internal/config"
)

// resolveServe resolves the serve settings of args with a configuration
// file in dir holding yaml given as --config; it returns the file's path.
func resolveServe(t *testing.T, dir, yaml string, args ...string) (*config.Serve, string) {
	t.Helper()
	file := writeTestFile(t, filepath.Join(dir, "c.yaml"), []byte(yaml))
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	resolve := config.ServeFlags(fs)
	if err := fs.Parse(append([]string{"--config", file, "--listen", "127.0.0.1:0", "--log-level", "error"}, args...)); err != nil {
		t.Fatal(err)
	}
	cfg, err := resolve()
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	return cfg, file
}

// TestNewChecksOverriddenFileValues: the configuration file's values that
// a flag overrides pass the server's own start checks too, not only the
// config package's (docs/configuration.md: they "include the existence of
// files the file names, such as tls-cert"): tls-cert and tls-key files
// that do not exist, scan-targets that do not parse and a cert-validity
// every certificate would fail the issuance lint on refuse the start in
// one line naming the file, the setting and the override, and leave no
// data directory. The start went on with the overriding values, and the
// file failed on the day the override was dropped. Good file values
// overridden start.
func TestNewChecksOverriddenFileValues(t *testing.T) {
	ca := NewTestTLSCA(t)
	for _, c := range []struct {
		name, yaml string
		args       []string
		want       string // after "config file FILE: "
		by         string
	}{
		{"tls files", "tls-cert: /nonexistent/c.pem\ntls-key: /nonexistent/k.pem\ncert-validity: 30d\n",
			[]string{"--tls-cert", "PAIR", "--tls-key", "PAIR", "--cert-validity", "20d"},
			"tls-cert: /nonexistent/c.pem does not exist", "--cert-validity, --tls-cert, --tls-key"},
		{"scan-targets", "scan-interval: 1h\nscan-targets: bad_target:0\n", []string{"--scan-targets", "10.0.0.1:443"},
			`scan-targets: invalid scan target "bad_target:0"`, "--scan-targets"},
		{"cert-validity lint", "cert-validity: 500d\n", []string{"--cert-validity", "30d"},
			"cert-validity 500d: leaf certificates would fail lint", "--cert-validity"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"--data", filepath.Join(dir, "data")}, c.args...)
			certPEM, keyPEM, _ := ca.ValidPair(t)
			for i, a := range args {
				if a == "PAIR" {
					args[i] = writeTestFile(t, filepath.Join(dir, args[i-1][2:]+".pem"), map[string][]byte{"--tls-cert": certPEM, "--tls-key": keyPEM}[args[i-1]])
				}
			}
			cfg, file := resolveServe(t, dir, c.yaml, args...)
			_, err := New(context.Background(), cfg, Options{}, slog.New(slog.DiscardHandler))
			if want := "config file " + file + ": " + c.want; err == nil || !strings.HasPrefix(err.Error(), want) ||
				!strings.Contains(err.Error(), "without the override by "+c.by+";") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("New: %v\nwant one line beginning %q, naming the override by %s", err, want, c.by)
			}
			if _, err := os.Stat(cfg.Data); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("data directory after the refused start: %v", err)
			}
		})
	}
	t.Run("good values", func(t *testing.T) {
		dir := t.TempDir()
		cfg, _ := resolveServe(t, dir, "cert-validity: 60d\nscan-interval: 1h\nscan-targets: 10.0.0.2:443\n",
			"--data", filepath.Join(dir, "data"), "--cert-validity", "30d", "--scan-targets", "10.0.0.1:443")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w := &stopOnServing{cancel: cancel}
		srv, err := New(context.Background(), cfg, Options{}, slog.New(slog.NewTextHandler(w, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Serve(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestServePerspectiveChecksOverriddenFileValues: a remote perspective
// (roles va) holds the file's overridden perspective-secret-file to the
// start check too: the file it names must hold the secret.
func TestServePerspectiveChecksOverriddenFileValues(t *testing.T) {
	dir := t.TempDir()
	secret := writeTestFile(t, filepath.Join(dir, "secret"), []byte(strings.Repeat("ab", 32)))
	cfg, file := resolveServe(t, dir, "roles: va\nperspective: p1\nperspective-secret-file: /nonexistent/secret\n",
		"--perspective-secret-file", secret)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := ServePerspective(ctx, cfg, slog.New(slog.DiscardHandler))
	if want := "config file " + file + ": perspective-secret-file"; err == nil || !strings.HasPrefix(err.Error(), want) ||
		!strings.Contains(err.Error(), "without the override by --perspective-secret-file;") {
		t.Fatalf("ServePerspective: %v, want an error beginning %q", err, want)
	}
}
