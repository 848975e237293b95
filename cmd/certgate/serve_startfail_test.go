package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// validityLimitNow is the CA/B Forum limit (SC-081) on TLS server
// certificates' validity period in force at now, as the lint applies it:
// the SHOULD NOT (one day under the MUST NOT), and the date it applies from.
func validityLimitNow(now time.Time) (days int, from string) {
	switch {
	case now.Before(time.Date(2027, 3, 15, 0, 0, 0, 0, time.UTC)):
		return 199, "2026-03-15"
	case now.Before(time.Date(2029, 3, 15, 0, 0, 0, 0, time.UTC)):
		return 99, "2027-03-15"
	}
	return 46, "2029-03-15"
}

// wantValidityError is the line `certgate serve --cert-validity 500d`
// prints today (500 days fail the SC-081 SHOULD NOT and MUST NOT and
// Apple's 397 and 398 days, whatever the date), with prefix and setting
// in place of "" and "cert-validity" (a profile and its field).
func wantValidityError(prefix, setting string) string {
	days, from := validityLimitNow(time.Now())
	return fmt.Sprintf("%s%s 500d: leaf certificates would fail lint (CA/B Forum BR: at most %d days for TLS server certificates "+
		"issued from %s, so %s must be at most %dd; w_server_cert_valid_time_longer_than_%d_days and 3 more lints)", prefix, setting, days, from, setting, days, days)
}

// TestServeStartFailures: every setting checked when `certgate serve`
// starts that stops it gives one line naming the setting, and a start on
// a fresh data directory that fails leaves nothing behind: neither the
// data directory (nor the parent it had to create) nor anything in it.
func TestServeStartFailures(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte("not a database, not at all, no"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(junk, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"validity over the CA/B limit", []string{"--cert-validity", "500d"}, wantValidityError("", "cert-validity")},
		{"port in use", []string{"--listen", busy.Addr().String()},
			"listen: " + busy.Addr().String() + ": the address is already in use (another server is listening on it)"},
		{"admin-listen port in use", []string{"--admin-listen", busy.Addr().String()},
			"admin-listen: " + busy.Addr().String() + ": the address is already in use (another server is listening on it)"},
		{"admin-listen malformed", []string{"--admin-listen", "127.0.0.1"}, `admin-listen: "127.0.0.1" is not HOST:PORT`},
		{"admin-listen the address of listen", []string{"--listen", "127.0.0.1:8451", "--admin-listen", "127.0.0.1:8451"},
			"admin-listen 127.0.0.1:8451 and listen 127.0.0.1:8451 are the same address: give admin-listen a port of its own"},
		{"admin-listen the address of metrics-listen", []string{"--metrics-listen", "127.0.0.1:9464", "--admin-listen", ":9464"},
			"admin-listen :9464 and metrics-listen 127.0.0.1:9464 are the same address: give admin-listen a port of its own"},
		{"admin-listen on a perspective", []string{"--roles", "va", "--perspective", "p1", "--perspective-secret-file", filepath.Join(dir, "none"), "--admin-listen", "127.0.0.1:0"},
			"admin-listen: a remote perspective (--roles va) serves no admin API"},
		{"address of no interface", []string{"--listen", "192.0.2.1:0"}, "listen: 192.0.2.1:0: no network interface of this host has that address"},
		{"listen without a port", []string{"--listen", "127.0.0.1"}, `listen: "127.0.0.1" is not HOST:PORT`},
		{"duration without a unit", []string{"--cert-validity", "90"}, `invalid argument "90" for "--cert-validity" flag: invalid duration "90" (use e.g. 90d, 2w, 36h, 1d12h)`},
		{"negative duration", []string{"--shutdown-grace=-1s"}, "shutdown-grace: must not be negative"},
		{"zero DNS timeout", []string{"--va-dns-timeout", "0"}, "va-dns-timeout: must be positive"},
		{"resolver without a port", []string{"--va-dns-resolver", "127.0.0.1"}, `va-dns-resolver: "127.0.0.1" is not HOST:PORT`},
		{"db of another engine", []string{"--db", "mysql://certgate:pw0rd@127.0.0.1/certgate"},
			"db: mysql:// is not supported (want a SQLite file path or postgres://USER@HOST:PORT/DATABASE?sslmode=disable)"},
		{"db not a URL", []string{"--db", "postgres://"}, "db: not a valid URL (want postgres://USER@HOST:PORT/DATABASE?sslmode=disable)"},
		{"PostgreSQL unreachable", []string{"--db", "postgres://certgate:pw0rd@127.0.0.1:1/certgate?sslmode=disable"},
			"db: connect to PostgreSQL postgres://certgate@127.0.0.1:1/certgate: 127.0.0.1:1: connection refused"},
		// Refused before its mode is touched: it was made 0600 first.
		{"SQLite file that is no database", []string{"--db", junk}, "db: " + junk + " is not a SQLite database (it does not begin with the SQLite header)"},
		// Not created: a mistyped path is refused, not made.
		{"SQLite file in a directory that does not exist", []string{"--db", filepath.Join(dir, "mistyped", "x.db")},
			"db: directory " + filepath.Join(dir, "mistyped") + " does not exist: create it first, or correct the path"},
		{"SQLite file below a file", []string{"--db", filepath.Join(junk, "x.db")}, "db: " + junk + " is not a directory"},
		{"perspective secret missing", []string{"--perspectives", "east=https://127.0.0.1:1", "--perspective-secret-file", filepath.Join(dir, "none")},
			"perspective-secret-file: open " + filepath.Join(dir, "none") + ": no such file or directory"},
		{"config file missing", []string{"--config", filepath.Join(dir, "none.yaml")}, "config file: open " + filepath.Join(dir, "none.yaml") + ": no such file or directory"},
		{"unknown log level", []string{"--log-level", "loud"}, `log-level: "loud" is not one of debug, info, warn, error`},
		// Names the built-in CA would put in the server's certificate, refused
		// up front with the rules of newOrder's identifiers instead of by the
		// certificate lint after the CA is made.
		{"hostname an invalid IDNA A-label", []string{"--hostname", "xn--zz.example"},
			`hostname: "xn--zz.example" is not a valid DNS name: label xn--zz is not a valid IDN A-label (its Punycode does not decode)`},
		{"hostname a top-level domain", []string{"--hostname", "dev"},
			`hostname: "dev" is not a valid DNS name: a top-level domain of the DNS root zone cannot be certified`},
		{"hostname an onion name", []string{"--hostname", "ca.onion"},
			`hostname: "ca.onion" is not a valid DNS name: onion names (RFC 7686) are not supported: they cannot be validated through the DNS`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := filepath.Join(t.TempDir(), "new")
			data := filepath.Join(parent, "data")
			err := serveCLI(t, append([]string{"--data", data, "--listen", "127.0.0.1:0"}, tt.args...)...)
			if err == nil {
				t.Fatal("serve started")
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tt.want)
			}
			if strings.ContainsAny(err.Error(), "\n\r") || strings.Contains(err.Error(), "pw0rd") {
				t.Errorf("error is not one line without the password: %q", err)
			}
			if _, err := os.Stat(parent); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the failed start left %s behind (%v): %v", parent, err, tree(t, parent))
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "mistyped")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the failed start created the --db directory: %v", err)
	}
	if _, err := os.ReadFile(junk); err != nil {
		t.Errorf("the failed start removed the database file it did not create: %v", err)
	}
	if fi, err := os.Stat(junk); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("the failed start changed the mode of the file it did not create: %v %v, want 0644", fi.Mode(), err)
	}
}

// TestFailedStartKeepsExistingDataDir: a start that fails on a data
// directory that holds a CA and a database changes nothing in it, and
// leaves no lock that would stop the next start.
func TestFailedStartKeepsExistingDataDir(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	startAndStop(t, data, "")
	before := tree(t, data)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, args := range [][]string{{"--cert-validity", "500d"}, {"--listen", busy.Addr().String()}} {
		err := serveCLI(t, append([]string{"--data", data, "--listen", "127.0.0.1:0"}, args...)...)
		if err == nil {
			t.Fatalf("serve %v started", args)
		}
		if after := tree(t, data); after != before {
			t.Fatalf("serve %v changed the data directory:\n%s\nwas:\n%s", args, after, before)
		}
	}
	startAndStop(t, data, "")
}

// TestFailedStartOnPostgresRecordsNoCA: on a new PostgreSQL database, a
// start that fails after creating its CA removes the CA and does not
// record it in the database, so that the next start with a fresh data
// directory creates a CA instead of being refused for not having the
// database's.
func TestFailedStartOnPostgresRecordsNoCA(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	parent := filepath.Join(t.TempDir(), "new")
	err := serveCLI(t, "--data", filepath.Join(parent, "data"), "--db", dsn, "--listen", "127.0.0.1:0", "--cert-validity", "500d")
	if err == nil || err.Error() != wantValidityError("", "cert-validity") {
		t.Fatalf("serve: %v\nwant: %s", err, wantValidityError("", "cert-validity"))
	}
	if _, err := os.Stat(parent); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the failed start left %s behind: %v", parent, tree(t, parent))
	}
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.GetSetting(context.Background(), "ca_root_sha256")
	st.Close()
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ca_root_sha256 = %q, %v; want none", v, err)
	}
	startAndStop(t, filepath.Join(t.TempDir(), "data"), dsn)
}

// serveCLI runs `certgate serve` in-process with args (as runCLI does) and
// returns the error main would print; a server that starts is stopped as
// soon as it logs that it serves, and serveCLI returns nil.
func serveCLI(t *testing.T, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRoot(io.Discard, &stopWhenServing{cancel: cancel})
	root.SetArgs(append([]string{"serve"}, args...))
	return root.ExecuteContext(ctx)
}

// stopWhenServing is the log of a server run by serveCLI: it calls cancel
// once the server logs that it serves.
type stopWhenServing struct{ cancel func() }

func (w *stopWhenServing) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("certgate serving")) {
		w.cancel()
	}
	return len(p), nil
}

// startAndStop starts a server on data and database dsn ("" for SQLite in
// data) as `certgate serve` does, then stops it at once.
func startAndStop(t *testing.T, data, dsn string) {
	t.Helper()
	cfg := &config.Serve{Data: data, DB: dsn, Listen: "127.0.0.1:0", Hostname: "localhost",
		VAHTTPPort: 80, VATLSPort: 443, VADNSTimeout: time.Second, CertValidity: 90 * 24 * time.Hour, AuthzReuse: 30 * 24 * time.Hour,
		RevocationRefresh: time.Minute, LogLevel: "error", LogFormat: "text", ShutdownGrace: 5 * time.Second}
	srv, err := server.New(context.Background(), cfg, server.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("start on %s: %v", data, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.Serve(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// tree lists the files below dir with their sizes and, for files other
// than the database's, a hash of their content.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			fmt.Fprintf(&b, "%s/\n", rel)
			return nil
		}
		if strings.HasPrefix(d.Name(), "certgate.db") {
			fmt.Fprintf(&b, "%s\n", rel) // SQLite may checkpoint on open
			return nil
		}
		content, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %x\n", rel, sha256.Sum256(content))
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return b.String()
}

// TestProfileErrorsAreOneLine: the profile commands report a validity
// over the limit as serve does, naming the profile and its field, and a
// profile file that cannot be read or decoded in one line naming it.
func TestProfileErrorsAreOneLine(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	startAndStop(t, data, "") // the CA the profile commands lint with
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknown, []byte("name: web\nvalidty: 30d\nfoo: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"validity over the CA/B limit", []string{"create", "toolong", "--validity", "500d"}, wantValidityError("profile toolong: ", "validity")},
		{"missing file", []string{"create", "--file", filepath.Join(dir, "none.yaml")},
			"profile file: open " + filepath.Join(dir, "none.yaml") + ": no such file or directory"},
		{"unknown fields", []string{"create", "--file", unknown}, "profile file " + unknown +
			`: line 2: unknown field "validty" (docs/profiles.md lists the fields); line 3: unknown field "foo" (docs/profiles.md lists the fields)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, nil, append(append([]string{"profile"}, tt.args...), "--data", data)...)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error:\n%v\nwant:\n%s", err, tt.want)
			}
		})
	}
}
