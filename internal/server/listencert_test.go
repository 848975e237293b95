package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/testenv"
)

// servedLeaf makes a TLS connection to addr (host:port) trusting roots
// and returns the leaf the server sent.
func servedLeaf(t *testing.T, addr string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// lineLog keeps a server's log and tells when a line holds a text.
type lineLog struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	change chan struct{}
}

func newLineLog() *lineLog { return &lineLog{change: make(chan struct{}, 1)} }

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf.Write(p)
	l.mu.Unlock()
	select {
	case l.change <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// count is how many lines hold text.
func (l *lineLog) count(text string) int { return strings.Count(l.String(), text) }

// waitCount waits until n lines hold text (a minute bounds a hang).
func (l *lineLog) waitCount(t *testing.T, text string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for l.count(text) < n {
		select {
		case <-l.change:
		case <-ctx.Done():
			t.Fatalf("no %d lines %q; log:\n%s", n, text, l.String())
		}
	}
}

// replace writes b to path through a rename, as certbot and cert-manager
// swap files.
func replace(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestTLSCertServedAndReloaded: with tls-cert and tls-key the HTTPS
// listeners (listen and admin-listen) serve the given chain, not one of
// the built-in CA. ReloadTLS (SIGHUP) serves a replaced pair to new
// connections while an open connection keeps working; a bad pair (key of
// another certificate, expired, missing file) is refused with an ERROR
// line and the previous pair served on.
func TestTLSCertServedAndReloaded(t *testing.T) {
	ca := server.NewTestTLSCA(t)
	dir := t.TempDir()
	cert1, key1, leaf1 := ca.ValidPair(t)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	replace(t, certFile, cert1)
	replace(t, keyFile, key1)
	log := newLineLog()
	env := testenv.NewWithOptions(t, testenv.Options{TLSCert: certFile, TLSKey: keyFile, AdminListen: true, Log: log,
		Server: server.Options{TLSCheckInterval: time.Hour}}) // no change found by looking here
	listen := strings.TrimPrefix(env.BaseURL, "https://")
	admin := strings.TrimPrefix(env.AdminURL, "https://")
	for _, addr := range []string{listen, admin} {
		if got := servedLeaf(t, addr, ca.Pool); !got.Equal(leaf1) {
			t.Fatalf("%s serves %s, want the certificate of tls-cert", addr, got.Subject)
		}
	}
	if !strings.Contains(log.String(), "tls_cert="+certFile) {
		t.Errorf("the serving line does not name tls-cert:\n%s", log.String())
	}
	// Valid for a day: one WARN that it expires soon.
	if n := log.count("the certificate of tls-cert expires soon"); n != 1 {
		t.Errorf("%d WARN lines on a certificate valid for a day, want 1:\n%s", n, log.String())
	}

	// A connection open across the reload.
	open, err := tls.Dial("tcp", listen, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	openReader := bufio.NewReader(open)
	healthz := func() {
		t.Helper()
		if _, err := open.Write([]byte("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")); err != nil {
			t.Fatalf("open connection: %v", err)
		}
		resp, err := http.ReadResponse(openReader, nil)
		if err != nil {
			t.Fatalf("open connection: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("open connection: /healthz %s", resp.Status)
		}
	}
	healthz()

	cert2, key2, leaf2 := ca.Pair(t, "rsa-pkcs8", time.Now().Add(-time.Hour), time.Now().Add(48*time.Hour))
	replace(t, certFile, cert2)
	replace(t, keyFile, key2)
	if err := env.Server.ReloadTLS(); err != nil {
		t.Fatalf("ReloadTLS: %v", err)
	}
	for _, addr := range []string{listen, admin} {
		if got := servedLeaf(t, addr, ca.Pool); !got.Equal(leaf2) {
			t.Fatalf("after the reload %s serves %s (not the new certificate)", addr, got.NotAfter)
		}
	}
	healthz() // the open connection goes on, with its certificate
	if !open.ConnectionState().PeerCertificates[0].Equal(leaf1) {
		t.Error("the open connection's certificate changed")
	}
	if log.count("reloaded the TLS certificate") != 1 {
		t.Errorf("no line on the reload:\n%s", log.String())
	}

	_, otherKey, _ := ca.ValidPair(t)
	expired, expiredKey, _ := ca.Pair(t, "ecdsa-pkcs8", time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
	for i, bad := range []struct {
		name      string
		cert, key []byte // nil: remove the file
		want      string
	}{
		{"key of another certificate", cert2, otherKey, "is not the key of the certificate"},
		{"expired", expired, expiredKey, "expired on"},
		{"cert removed", nil, key2, "does not exist"},
	} {
		if bad.cert == nil {
			os.Remove(certFile)
		} else {
			replace(t, certFile, bad.cert)
		}
		replace(t, keyFile, bad.key)
		err := env.Server.ReloadTLS()
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: ReloadTLS: %v, want an error containing %q", bad.name, err, bad.want)
		}
		if got := servedLeaf(t, listen, ca.Pool); !got.Equal(leaf2) {
			t.Errorf("%s: the previous certificate is no longer served", bad.name)
		}
		if n := log.count("level=ERROR msg=\"TLS certificate not reloaded: still serving the previous one\""); n != i+1 {
			t.Errorf("%s: %d ERROR lines, want %d:\n%s", bad.name, n, i+1, log.String())
		}
	}
}

// swapPair writes a pair to dir/NAME and points the symbolic link
// dir/live to it, at once for both files (as cert-manager's secret
// volumes and certbot's live/ links do).
func swapPair(t *testing.T, dir, name string, cert, key []byte) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
		t.Fatal(err)
	}
	replace(t, filepath.Join(dir, name, "tls.crt"), cert)
	replace(t, filepath.Join(dir, name, "tls.key"), key)
	tmp := filepath.Join(dir, "live.new")
	if err := os.Symlink(name, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "live")); err != nil {
		t.Fatal(err)
	}
}

// TestTLSCertReloadedWhenFilesChange: the server finds tls-cert and
// tls-key replaced (certbot, cert-manager) without a SIGHUP and serves the
// new pair; a changed pair that is bad is logged once and the previous
// pair served on, until the files change again.
func TestTLSCertReloadedWhenFilesChange(t *testing.T) {
	ca := server.NewTestTLSCA(t)
	dir := t.TempDir()
	cert1, key1, _ := ca.ValidPair(t)
	swapPair(t, dir, "v1", cert1, key1)
	certFile, keyFile := filepath.Join(dir, "live", "tls.crt"), filepath.Join(dir, "live", "tls.key")
	log := newLineLog()
	env := testenv.NewWithOptions(t, testenv.Options{TLSCert: certFile, TLSKey: keyFile, Log: log,
		Server: server.Options{TLSCheckInterval: 10 * time.Millisecond}})
	listen := strings.TrimPrefix(env.BaseURL, "https://")

	cert2, key2, leaf2 := ca.Pair(t, "ed25519", time.Now().Add(-time.Hour), time.Now().Add(48*time.Hour))
	// The key first, then the certificate (in place): in between, the
	// pair is bad, logged once looks find it twice.
	replace(t, keyFile, key2)
	log.waitCount(t, "TLS certificate not reloaded", 1)
	replace(t, certFile, cert2)
	log.waitCount(t, "reloaded the TLS certificate", 1)
	if got := servedLeaf(t, listen, ca.Pool); !got.Equal(leaf2) {
		t.Fatalf("serves %s, not the replaced certificate", got.Subject)
	}

	_, otherKey, _ := ca.ValidPair(t)
	swapPair(t, dir, "v2", cert2, otherKey)
	log.waitCount(t, "TLS certificate not reloaded", 2)
	// A new good pair: reloaded once more, and the bad pair, seen at every
	// look in between, was logged once.
	cert3, key3, leaf3 := ca.Pair(t, "rsa-pkcs1", time.Now().Add(-time.Hour), time.Now().Add(72*time.Hour))
	swapPair(t, dir, "v3", cert3, key3)
	log.waitCount(t, "reloaded the TLS certificate", 2)
	if n := log.count("TLS certificate not reloaded"); n != 2 {
		t.Errorf("%d ERROR lines for two bad pairs:\n%s", n, log.String())
	}
	if got := servedLeaf(t, listen, ca.Pool); !got.Equal(leaf3) {
		t.Errorf("serves %s, not the replaced certificate", got.NotAfter)
	}
}

// TestServerCertRenewedOnLongRun: the built-in CA's listener certificate
// (45 days) is renewed in memory on a server that runs on: a connection
// made with less than a third of its life left gets a new certificate,
// valid from then, and clients trusting the root accept it.
func TestServerCertRenewedOnLongRun(t *testing.T) {
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}
	env := testenv.NewWithOptions(t, testenv.Options{Server: server.Options{Now: now}})
	addr := strings.TrimPrefix(env.BaseURL, "https://")
	// Verified at the server's clock: the renewed leaf is valid from a
	// month on.
	leaf := func() *x509.Certificate {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // verified below at the server's clock
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		certs := conn.ConnectionState().PeerCertificates
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		if _, err := certs[0].Verify(x509.VerifyOptions{Roots: env.Roots, Intermediates: inter, CurrentTime: now(), DNSName: "localhost"}); err != nil {
			t.Fatalf("served certificate at %s: %v", now(), err)
		}
		return certs[0]
	}
	first := leaf()
	if again := leaf(); !again.Equal(first) {
		t.Fatal("a new certificate at each connection")
	}
	mu.Lock()
	clock = clock.Add(31 * 24 * time.Hour) // 14 days left of 45
	mu.Unlock()
	renewed := leaf()
	if renewed.Equal(first) {
		t.Fatalf("not renewed with %s left", first.NotAfter.Sub(now()).Round(time.Hour))
	}
	if d := renewed.NotBefore.Sub(now()); d > 0 || d < -2*time.Minute {
		t.Errorf("renewed certificate valid from %s, clock at %s", renewed.NotBefore, now())
	}
}
