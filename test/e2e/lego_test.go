package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLego drives Debian's lego 4.9.1 CLI through http-01 (EC and RSA
// keys), tls-alpn-01, two SANs, OCSP Must-Staple (--must-staple), renew,
// revoke and a dns-01 wildcard. The subtests share one server and run in
// order: they share its validation ports and lego's account.
func TestLego(t *testing.T) {
	t.Parallel()
	requireTool(t, "lego", "lego")
	requireTool(t, "openssl", "openssl")
	requireTool(t, "curl", "curl")
	s := startServer(t)
	path := filepath.Join(t.TempDir(), "lego")
	env := []string{"LEGO_CA_CERTIFICATES=" + s.TrustFile}
	httpAddr := "127.0.0.1:" + strconv.Itoa(s.HTTPPort)
	tlsAddr := "127.0.0.1:" + strconv.Itoa(s.TLSPort)

	lego := func(t *testing.T, label string, args ...string) {
		t.Helper()
		run(t, cmdSpec{Name: "lego " + label, Env: env, Args: legoArgs(s.DirURL, path, "e2e@example.test", args...)})
	}
	certFile := func(name string) string {
		return filepath.Join(path, "certificates", strings.ReplaceAll(name, "*", "_")+".crt")
	}

	var ec *issued
	const ecName = "lego-ec.example.test"
	ok := t.Run("http-01-ec256", func(t *testing.T) {
		lego(t, "run http-01 ec256", "--key-type", "ec256", "--domains", ecName,
			"--http", "--http.port", httpAddr, "run")
		ec = checkIssued(t, s, certFile(ecName), ecName)
		if k, ok := ec.Leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
			t.Fatalf("leaf key is %T, want ECDSA P-256", ec.Leaf.PublicKey)
		}
	})

	t.Run("http-01-rsa2048", func(t *testing.T) {
		const name = "lego-rsa.example.test"
		lego(t, "run http-01 rsa2048", "--key-type", "rsa2048", "--domains", name,
			"--http", "--http.port", httpAddr, "run")
		c := checkIssued(t, s, certFile(name), name)
		if k, ok := c.Leaf.PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != 2048 {
			t.Fatalf("leaf key is %T, want RSA-2048", c.Leaf.PublicKey)
		}
	})

	t.Run("tls-alpn-01", func(t *testing.T) {
		const name = "lego-alpn.example.test"
		lego(t, "run tls-alpn-01", "--key-type", "ec256", "--domains", name,
			"--tls", "--tls.port", tlsAddr, "run")
		checkIssued(t, s, certFile(name), name)
	})

	t.Run("two-sans", func(t *testing.T) {
		names := []string{"lego-san-a.example.test", "lego-san-b.example.test"}
		lego(t, "run two SANs", "--key-type", "ec256", "--domains", names[0], "--domains", names[1],
			"--http", "--http.port", httpAddr, "run")
		checkIssued(t, s, certFile(names[0]), names...)
	})

	t.Run("must-staple", func(t *testing.T) {
		// lego --must-staple puts the TLS Feature extension (RFC 7633,
		// status_request) in the CSR; the certificate must carry it, with
		// the OCSP responder it promises to staple from.
		const name = "lego-staple.example.test"
		lego(t, "run --must-staple", "--key-type", "ec256", "--domains", name,
			"--http", "--http.port", httpAddr, "run", "--must-staple")
		c := checkIssued(t, s, certFile(name), name)
		if serverKind == "pebble" {
			// Debian's pebble neither copies the extension nor names an
			// OCSP responder: only the harness is tested there.
			t.Logf("NOTE: pebble certificate must-staple %v, OCSP %v (not asserted)", hasMustStaple(c.Leaf), c.Leaf.OCSPServer)
			return
		}
		if !hasMustStaple(c.Leaf) {
			t.Fatalf("lego --must-staple: the certificate has no TLS Feature extension listing status_request (extensions %v)", extensionOIDs(c.Leaf))
		}
		if len(c.Leaf.OCSPServer) == 0 {
			t.Fatal("lego --must-staple: the certificate names no OCSP responder")
		}
		text := string(run(t, cmdSpec{Name: "openssl x509 -text", Args: []string{"openssl", "x509", "-noout", "-text", "-in", c.File}}))
		if !strings.Contains(text, "TLS Feature") || !strings.Contains(text, "status_request") {
			t.Errorf("openssl x509 -text shows no TLS Feature status_request:\n%s", text)
		}
	})

	if ok {
		t.Run("renew", func(t *testing.T) {
			// --days above the remaining validity forces a renewal.
			days := int(ec.Leaf.NotAfter.Sub(ec.Leaf.NotBefore).Hours()/24) + 30
			lego(t, "renew", "--key-type", "ec256", "--domains", ecName,
				"--http", "--http.port", httpAddr,
				"renew", "--days", strconv.Itoa(days), "--no-random-sleep")
			renewed := checkIssued(t, s, certFile(ecName), ecName)
			if renewed.Leaf.SerialNumber.Cmp(ec.Leaf.SerialNumber) == 0 {
				t.Fatalf("lego renew (--days %d) left the certificate unchanged (serial %x)", days, ec.Leaf.SerialNumber)
			}
			ec = renewed
		})

		t.Run("revoke", func(t *testing.T) {
			lego(t, "revoke", "--domains", ecName, "revoke", "--keep")
			assertRevoked(t, s, ec)
		})
	}

	t.Run("dns-01-wildcard", func(t *testing.T) {
		names := []string{"*.x.example.test", "x.example.test"}
		dnsEnv, dnsArgs := legoExecDNS(t, filepath.Join(t.TempDir(), "dns-hook.sh"), dnsHookTXT("set-txt", "$2", "$3"))
		args := append(append([]string{"--key-type", "ec256", "--domains", names[0], "--domains", names[1]}, dnsArgs...), "run")
		run(t, cmdSpec{Name: "lego run dns-01 wildcard", Env: append(dnsEnv, env...), Args: legoArgs(s.DirURL, path, "e2e@example.test", args...)})
		checkIssued(t, s, certFile(names[0]), names...)
	})

	if t.Failed() {
		entries, _ := os.ReadDir(filepath.Join(path, "certificates"))
		for _, e := range entries {
			t.Logf("lego certificates/: %s", e.Name())
		}
	}
}

// hasMustStaple reports whether cert carries the TLS Feature extension
// (RFC 7633, 1.3.6.1.5.5.7.1.24) listing status_request (5) alone.
func hasMustStaple(cert *x509.Certificate) bool {
	for _, e := range cert.Extensions {
		if !e.Id.Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}) {
			continue
		}
		var features []int
		if rest, err := asn1.Unmarshal(e.Value, &features); err != nil || len(rest) > 0 {
			return false
		}
		return !e.Critical && len(features) == 1 && features[0] == 5
	}
	return false
}

// extensionOIDs lists the OIDs of cert's extensions, for messages.
func extensionOIDs(cert *x509.Certificate) []string {
	var out []string
	for _, e := range cert.Extensions {
		out = append(out, e.Id.String())
	}
	return out
}
