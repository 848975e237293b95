package e2e

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestOCSPAndCRLWithOpenSSL: Debian's openssl asks certgate's OCSP
// responder (RFC 6960) about a certificate lego obtained, over the plain
// HTTP side of the server's port: POST (openssl ocsp -url) and GET (the
// request openssl built, fetched by curl as RFC 6960 Appendix A.1 GET,
// the response checked by openssl ocsp -respin). It reports good, then,
// after lego revokes the certificate through ACME with reason
// keyCompromise, revoked with that reason, at once; openssl crl parses
// the CRL from /pki/crl, verifies it and lists the serial.
func TestOCSPAndCRLWithOpenSSL(t *testing.T) {
	t.Parallel()
	requireTool(t, "lego", "lego")
	requireTool(t, "openssl", "openssl")
	requireTool(t, "curl", "curl")
	s := startCertgate(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "lego")
	env := []string{"LEGO_CA_CERTIFICATES=" + s.TrustFile}
	lego := func(t *testing.T, label string, args ...string) {
		t.Helper()
		run(t, cmdSpec{Name: "lego " + label, Env: env, Args: append([]string{
			"lego", "--server", s.DirURL, "--path", path, "--accept-tos", "--email", "e2e@example.test",
		}, args...)})
	}
	const name = "ocsp.example.test"
	lego(t, "run", "--key-type", "ec256", "--domains", name, "--http", "--http.port", "127.0.0.1:"+strconv.Itoa(s.HTTPPort), "run")
	cert := checkIssued(t, s, filepath.Join(path, "certificates", name+".crt"), name)

	port := strings.TrimPrefix(s.addr, "127.0.0.1:")
	if want := "http://localhost:" + port + "/pki/ocsp"; len(cert.Leaf.OCSPServer) != 1 || cert.Leaf.OCSPServer[0] != want {
		t.Fatalf("leaf AIA OCSP = %q, want [%s]", cert.Leaf.OCSPServer, want)
	}
	leafFile, intFile := filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "int.pem")
	writeFile(t, leafFile, pemCerts([]*x509.Certificate{cert.Leaf}))
	writeFile(t, intFile, pemCerts(cert.Chain[:1]))
	ocspURL := "http://127.0.0.1:" + port + "/pki/ocsp"

	// post runs openssl ocsp against the responder (POST, with openssl's
	// default nonce, which the responder does not echo: its responses are
	// pre-signed and cached, as in RFC 5019).
	post := func(t *testing.T) string {
		t.Helper()
		out, log, err := runErr(t, cmdSpec{Name: "openssl ocsp POST", Args: []string{"openssl", "ocsp",
			"-issuer", intFile, "-cert", leafFile, "-url", ocspURL, "-CAfile", s.RootFile}})
		if err != nil || !strings.Contains(log, "Response verify OK") {
			t.Fatalf("openssl ocsp -url %s (%v):\n%s", ocspURL, err, log)
		}
		return string(out)
	}
	// get has openssl write the request, fetches it by GET with curl and
	// has openssl verify and print the response.
	get := func(t *testing.T) string {
		t.Helper()
		reqFile, respFile := filepath.Join(dir, "req.der"), filepath.Join(dir, "resp.der")
		run(t, cmdSpec{Name: "openssl ocsp -reqout", Args: []string{"openssl", "ocsp", "-issuer", intFile, "-cert", leafFile, "-no_nonce", "-reqout", reqFile}})
		u := ocspURL + "/" + url.PathEscape(base64.StdEncoding.EncodeToString(readFile(t, reqFile)))
		run(t, cmdSpec{Name: "curl GET", Args: []string{"curl", "-fsS", "-o", respFile, "-D", filepath.Join(dir, "headers"), u}})
		if h := string(readFile(t, filepath.Join(dir, "headers"))); !strings.Contains(strings.ToLower(h), "content-type: application/ocsp-response") {
			t.Fatalf("GET %s headers:\n%s", u, h)
		}
		out, log, err := runErr(t, cmdSpec{Name: "openssl ocsp -respin", Args: []string{"openssl", "ocsp",
			"-issuer", intFile, "-cert", leafFile, "-no_nonce", "-respin", respFile, "-CAfile", s.RootFile}})
		if err != nil || !strings.Contains(log, "Response verify OK") {
			t.Fatalf("openssl ocsp -respin (%v):\n%s", err, log)
		}
		return string(out)
	}
	status := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(leafFile) + `: (\w+)$`)
	want := func(t *testing.T, how, out, st string, more ...string) {
		t.Helper()
		m := status.FindStringSubmatch(out)
		if m == nil || m[1] != st {
			t.Fatalf("%s: want status %s:\n%s", how, st, out)
		}
		for _, s := range append([]string{"This Update:", "Next Update:"}, more...) {
			if !strings.Contains(out, s) {
				t.Fatalf("%s: output lacks %q:\n%s", how, s, out)
			}
		}
		t.Logf("%s:\n%s", how, out)
	}

	want(t, "POST before revocation", post(t), "good")
	want(t, "GET before revocation", get(t), "good")

	lego(t, "revoke", "--domains", name, "revoke", "--keep", "--reason", "1")
	want(t, "POST after revocation", post(t), "revoked", "Reason: keyCompromise", "Revocation Time:")
	want(t, "GET after revocation", get(t), "revoked", "Reason: keyCompromise", "Revocation Time:")

	// The CRL: parsed and verified by openssl crl, listing the serial.
	crlFile, bundle := filepath.Join(dir, "crl.der"), filepath.Join(dir, "ca-bundle.pem")
	writeFile(t, bundle, append(readFile(t, s.RootFile), readFile(t, intFile)...))
	run(t, cmdSpec{Name: "curl CRL", Args: []string{"curl", "-fsS", "-o", crlFile, "http://127.0.0.1:" + port + "/pki/crl"}})
	out, log, err := runErr(t, cmdSpec{Name: "openssl crl", Args: []string{"openssl", "crl", "-in", crlFile, "-inform", "DER", "-text", "-noout", "-CAfile", bundle}})
	if err != nil || !strings.Contains(log, "verify OK") {
		t.Fatalf("openssl crl (%v):\n%s", err, log)
	}
	serial := fmt.Sprintf("%X", cert.Leaf.SerialNumber)
	if len(serial)%2 == 1 {
		serial = "0" + serial
	}
	if !strings.Contains(string(out), "Serial Number: "+serial) || !strings.Contains(string(out), "Key Compromise") {
		t.Fatalf("openssl crl -text does not list serial %s with reason Key Compromise:\n%s", serial, out)
	}
}

// TestLegoMustStapleWithoutOCSP: with the OCSP responder turned off
// (--ocsp=false) certificates name no responder, so a must-staple
// certificate could never be stapled: lego run --must-staple is refused
// with badCSR saying so, instead of a certificate without the extension
// (or with it and no responder); the same name without --must-staple is
// then issued, naming no OCSP responder.
func TestLegoMustStapleWithoutOCSP(t *testing.T) {
	t.Parallel()
	requireTool(t, "lego", "lego")
	requireTool(t, "openssl", "openssl")
	s := startCertgate(t)
	s.args = append(s.args, "--ocsp=false")
	if err := s.restart(t); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "lego")
	env := []string{"LEGO_CA_CERTIFICATES=" + s.TrustFile}
	const name = "staple-off.example.test"
	args := func(extra ...string) []string {
		return append([]string{"lego", "--server", s.DirURL, "--path", path, "--accept-tos", "--email", "e2e@example.test",
			"--key-type", "ec256", "--domains", name, "--http", "--http.port", "127.0.0.1:" + strconv.Itoa(s.HTTPPort), "run"}, extra...)
	}
	_, out, err := runErr(t, cmdSpec{Name: "lego run --must-staple (ocsp off)", Env: env, Args: args("--must-staple")})
	if err == nil {
		t.Fatalf("lego run --must-staple succeeded with the OCSP responder off:\n%s", out)
	}
	if !strings.Contains(out, "badCSR") || !strings.Contains(out, "needs an OCSP responder") {
		t.Fatalf("lego run --must-staple with OCSP off: want a badCSR problem saying must-staple needs an OCSP responder, got:\n%s", out)
	}
	run(t, cmdSpec{Name: "lego run (ocsp off)", Env: env, Args: args()})
	c := checkIssued(t, s, filepath.Join(path, "certificates", name+".crt"), name)
	if len(c.Leaf.OCSPServer) != 0 || hasMustStaple(c.Leaf) {
		t.Fatalf("with OCSP off the certificate names OCSP responders %v, must-staple %v; want neither", c.Leaf.OCSPServer, hasMustStaple(c.Leaf))
	}
}
