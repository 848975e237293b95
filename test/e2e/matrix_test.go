package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// The cells of the client × operation matrix (docs/clients.md) that the
// other tests leave out: external CSRs, preferred chains (certgate offers
// one chain and no rel="alternate" links), renewal reusing the key and
// renewal driven by the client's own expiry window, authorization reuse
// and deactivation, a second answer to a valid challenge, registration
// without a contact and show_account, --expand and --allow-subset-of-names.

// samePublicKey reports whether two certificates certify the same key.
func samePublicKey(a, b *x509.Certificate) bool {
	return bytes.Equal(a.RawSubjectPublicKeyInfo, b.RawSubjectPublicKeyInfo)
}

// rootCN is the common name of the server's root: the issuer CN of the
// last certificate of every chain it hands out, which is what clients'
// --preferred-chain options match.
func rootCN(t *testing.T, s *acmeServer) string {
	t.Helper()
	roots, err := parsePEMCerts(readFile(t, s.RootFile))
	if err != nil {
		t.Fatal(err)
	}
	return roots[0].Subject.CommonName
}

// p384CSR writes a P-384 key dir/csr.key and a CSR dir/csr.pem for names
// (the first is the CN) and returns the CSR's path.
func p384CSR(t *testing.T, dir string, names ...string) string {
	t.Helper()
	csr := filepath.Join(dir, "csr.pem")
	san := "subjectAltName=DNS:" + strings.Join(names, ",DNS:")
	run(t, cmdSpec{Name: "openssl req", Args: []string{
		"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes",
		"-keyout", filepath.Join(dir, "csr.key"), "-subj", "/CN=" + names[0], "-addext", san, "-out", csr}})
	return csr
}

// isP384 fails the test unless c's key is ECDSA P-384.
func isP384(t *testing.T, c *issued) {
	t.Helper()
	if k, ok := c.Leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P384() {
		t.Errorf("%s: leaf key is %T, want ECDSA P-384", c.File, c.Leaf.PublicKey)
	}
}

// serveALPNDir answers tls-alpn-01 (RFC 8737) on 127.0.0.1:port with the
// certificates dehydrated writes for it, dir/SNI.crt.pem and
// dir/SNI.key.pem, as the TLS server in front of dehydrated would: only
// connections that offer acme-tls/1 alone are answered. It returns how
// many certificates it handed out.
func serveALPNDir(t *testing.T, port int, dir string) *atomic.Int32 {
	t.Helper()
	var served atomic.Int32
	l, err := tls.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port), &tls.Config{
		NextProtos: []string{"acme-tls/1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if len(hello.SupportedProtos) != 1 || hello.SupportedProtos[0] != "acme-tls/1" {
				return nil, fmt.Errorf("not a tls-alpn-01 validation (ALPN %q)", hello.SupportedProtos)
			}
			c, err := tls.LoadX509KeyPair(filepath.Join(dir, hello.ServerName+".crt.pem"), filepath.Join(dir, hello.ServerName+".key.pem"))
			if err != nil {
				return nil, err
			}
			served.Add(1)
			return &c, nil
		},
	})
	if err != nil {
		t.Fatalf("tls-alpn-01 responder: %v", err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
			}(c)
		}
	}()
	t.Cleanup(func() { l.Close() })
	return &served
}

// TestLegoMatrix: Debian's lego 4.9.1 obtains a certificate for an
// external CSR (--csr), asks for a chain the server does not offer
// (--preferred-chain falls back to the one chain), leaves a certificate
// that is not due alone (renew --days 1), renews reusing the key (renew
// --reuse-key), reuses a valid authorization for a new order, and
// relinquishes its authorizations after issuance
// (--always-deactivate-authorizations, RFC 8555 §7.5.2), after which the
// name must be validated again.
func TestLegoMatrix(t *testing.T) {
	t.Parallel()
	requireTool(t, "lego", "lego")
	requireTool(t, "openssl", "openssl")
	s := startServer(t)
	path := filepath.Join(t.TempDir(), "lego")
	env := []string{"LEGO_CA_CERTIFICATES=" + s.TrustFile}
	httpAddr := "127.0.0.1:" + strconv.Itoa(s.HTTPPort)
	// nowhere is a port where nothing listens: an order that needs a new
	// http-01 validation fails there with a connection problem.
	nowhere := "127.0.0.1:" + strconv.Itoa(freePorts(t, 1)[0])
	cmd := func(label string, args ...string) cmdSpec {
		return cmdSpec{Name: "lego " + label, Env: env, Args: legoArgs(s.DirURL, path, "matrix@example.test", args...)}
	}
	lego := func(t *testing.T, label string, args ...string) {
		t.Helper()
		run(t, cmd(label, args...))
	}
	certFile := func(name string) string { return filepath.Join(path, "certificates", name+".crt") }

	t.Run("csr", func(t *testing.T) {
		names := []string{"lego-csr.example.test", "lego-csr2.example.test"}
		csr := p384CSR(t, t.TempDir(), names...)
		lego(t, "run --csr", "--csr", csr, "--http", "--http.port", httpAddr, "run")
		isP384(t, checkIssued(t, s, certFile(names[0]), names...))
	})

	const name = "lego-matrix.example.test"
	var first *issued
	if !t.Run("preferred-chain-not-offered", func(t *testing.T) {
		_, out, err := runErr(t, cmd("run --preferred-chain", "--key-type", "ec256", "--domains", name,
			"--http", "--http.port", httpAddr, "run", "--preferred-chain", "No Such Root"))
		if err != nil {
			t.Fatalf("lego run --preferred-chain: %v", err)
		}
		if !strings.Contains(out, "Using the default certificate chain") {
			t.Errorf("lego --preferred-chain of a chain not offered: want it to fall back to the default chain")
		}
		first = checkIssued(t, s, certFile(name), name)
	}) {
		return
	}

	t.Run("renew-not-due", func(t *testing.T) {
		lego(t, "renew --days 1", "--key-type", "ec256", "--domains", name, "--http", "--http.port", httpAddr,
			"renew", "--days", "1", "--no-random-sleep")
		same := checkIssued(t, s, certFile(name), name)
		if same.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) != 0 {
			t.Fatalf("lego renew --days 1 replaced a certificate that is not due")
		}
	})

	t.Run("renew-reuse-key", func(t *testing.T) {
		days := int(first.Leaf.NotAfter.Sub(first.Leaf.NotBefore).Hours()/24) + 30
		// The authorization of the first order is still valid: the
		// renewal needs no validation, so lego's responder is not there.
		lego(t, "renew --reuse-key", "--key-type", "ec256", "--domains", name, "--http", "--http.port", nowhere,
			"renew", "--days", strconv.Itoa(days), "--reuse-key", "--no-random-sleep", "--preferred-chain", rootCN(t, s))
		renewed := checkIssued(t, s, certFile(name), name)
		if renewed.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
			t.Fatalf("lego renew --reuse-key left the certificate unchanged")
		}
		if !samePublicKey(renewed.Leaf, first.Leaf) {
			t.Errorf("lego renew --reuse-key: the renewed certificate has another key")
		}
	})

	t.Run("always-deactivate-authorizations", func(t *testing.T) {
		const name = "lego-deact.example.test"
		_, out, err := runErr(t, cmd("run --always-deactivate-authorizations", "--key-type", "ec256", "--domains", name,
			"--http", "--http.port", httpAddr, "run", "--always-deactivate-authorizations", "true"))
		if err != nil {
			t.Fatalf("lego run --always-deactivate-authorizations: %v", err)
		}
		if !strings.Contains(out, "Deactivating auth") {
			t.Errorf("lego did not deactivate its authorization")
		}
		checkIssued(t, s, certFile(name), name)
		// The deactivated authorization is not reused: a new order for
		// the name needs a new validation, which fails with nothing
		// listening.
		_, out, err = runErr(t, cmd("run after deactivation", "--key-type", "ec256", "--domains", name,
			"--http", "--http.port", nowhere, "run"))
		if err == nil || !strings.Contains(out, "urn:ietf:params:acme:error:connection") {
			t.Errorf("lego run after deactivating the authorization: err %v; want a new validation refused with urn:ietf:params:acme:error:connection", err)
		}
	})
}

// TestCertbotMatrix: Debian's certbot 2.1 registers without a contact
// (register --register-unsafely-without-email), adds one and removes it
// again (update_account -m, update_account
// --register-unsafely-without-email) and shows its account (show_account), obtains an ECDSA P-384 certificate for two names asking
// for a chain the server does not offer (--preferred-chain), adds a name to
// it with OCSP Must-Staple (--expand --must-staple), renews it reusing the
// key (renew --reuse-key), lets `certbot renew` leave it while not due and
// renew it once due (renew_before_expiry), obtains a
// certificate for an external CSR (--csr) and revokes it by its account
// with reason cessationOfOperation, and gets the names it can have when
// one is refused (--allow-subset-of-names).
func TestCertbotMatrix(t *testing.T) {
	t.Parallel()
	requireTool(t, "certbot", "certbot")
	requireTool(t, "openssl", "openssl")
	requireTool(t, "curl", "curl")
	if serverKind != "certgate" {
		t.Skip("reads the server's records with certgate's admin commands") // the harness's pebble mode only
	}
	s := startServer(t)
	dir := t.TempDir()
	logFileOnFailure(t, certbotLog(dir), 300)
	certbot := func(t *testing.T, label string, args ...string) []byte {
		t.Helper()
		return run(t, certbotCmd(label, s.TrustFile, s.DirURL, dir, args...))
	}

	if !t.Run("register-without-email", func(t *testing.T) {
		certbot(t, "register", "register", "--agree-tos", "--register-unsafely-without-email")
		a := onlyAccount(t, s)
		if len(a.Contact) != 0 || a.Status != "valid" {
			t.Fatalf("after certbot register --register-unsafely-without-email the account is %q with contact %q; want valid without contact", a.Status, a.Contact)
		}
		certbot(t, "update_account -m", "update_account", "-m", "added@example.test", "--no-eff-email")
		if a := onlyAccount(t, s); len(a.Contact) != 1 || a.Contact[0] != "mailto:added@example.test" {
			t.Errorf("after certbot update_account -m the account's contact is %q, want [mailto:added@example.test]", a.Contact)
		}
		// update_account --register-unsafely-without-email removes the
		// contact: "contact": [] (RFC 8555 §7.3.2).
		certbot(t, "update_account without email", "update_account", "--register-unsafely-without-email")
		if a := onlyAccount(t, s); len(a.Contact) != 0 {
			t.Errorf("after certbot update_account --register-unsafely-without-email the account's contact is %q, want none", a.Contact)
		}
		out := string(certbot(t, "show_account", "show_account"))
		if !strings.Contains(out, "/acme/account/"+a.ID) || !strings.Contains(out, "Email contact: none") {
			t.Errorf("certbot show_account does not show account %s without contact:\n%s", a.ID, out)
		}
	}) {
		return
	}

	names := []string{"certbot-m1.example.test", "certbot-m2.example.test", "certbot-m3.example.test"}
	live := filepath.Join(dir, "config", "live", names[0])
	var expanded *issued
	if !t.Run("ecdsa-p384-two-names-preferred-chain", func(t *testing.T) {
		certbot(t, "certonly P-384", certbotStandalone(s.HTTPPort, "certonly", "--key-type", "ecdsa", "--elliptic-curve", "secp384r1",
			"--preferred-chain", "No Such Root", "-d", names[0], "-d", names[1])...)
		isP384(t, checkIssued(t, s, filepath.Join(live, "fullchain.pem"), names[:2]...))
	}) {
		return
	}
	if !t.Run("expand", func(t *testing.T) {
		certbot(t, "certonly --expand", certbotStandalone(s.HTTPPort, "certonly", "--key-type", "ecdsa", "--elliptic-curve", "secp384r1",
			"--expand", "--must-staple", "--preferred-chain", rootCN(t, s), "-d", names[0], "-d", names[1], "-d", names[2])...)
		expanded = checkIssued(t, s, filepath.Join(live, "fullchain.pem"), names...)
		if !hasMustStaple(expanded.Leaf) {
			t.Errorf("certbot --must-staple: the certificate has no TLS Feature extension listing status_request")
		}
	}) {
		return
	}
	renewed := expanded
	t.Run("renew-reuse-key", func(t *testing.T) {
		certbot(t, "renew --reuse-key", certbotStandalone(s.HTTPPort, "renew", "--force-renewal", "--reuse-key",
			"--no-random-sleep-on-renew", "--cert-name", names[0])...)
		renewed = checkIssued(t, s, filepath.Join(live, "fullchain.pem"), names...)
		if renewed.Leaf.SerialNumber.Cmp(expanded.Leaf.SerialNumber) == 0 {
			t.Fatalf("certbot renew --force-renewal --reuse-key left the certificate unchanged")
		}
		if !samePublicKey(renewed.Leaf, expanded.Leaf) {
			t.Errorf("certbot renew --reuse-key: the renewed certificate has another key")
		}
		if !hasMustStaple(renewed.Leaf) {
			t.Errorf("certbot renew dropped --must-staple")
		}
	})

	t.Run("renew-when-due", func(t *testing.T) {
		// `certbot renew` as cron runs it: nothing while the certificate
		// is not due...
		renew := certbotStandalone(s.HTTPPort, "renew", "--no-random-sleep-on-renew")
		certbot(t, "renew (not due)", renew...)
		if c := checkIssued(t, s, filepath.Join(live, "fullchain.pem"), names...); c.Leaf.SerialNumber.Cmp(renewed.Leaf.SerialNumber) != 0 {
			t.Fatalf("certbot renew replaced a certificate that is not due")
		}
		// ...and a renewal once it is, under the renewal configuration's
		// renew_before_expiry.
		days := int(renewed.Leaf.NotAfter.Sub(renewed.Leaf.NotBefore).Hours()/24) + 30
		conf := filepath.Join(dir, "config", "renewal", names[0]+".conf")
		// A top-level key: before the file's [renewalparams] section.
		writeFile(t, conf, append(fmt.Appendf(nil, "renew_before_expiry = %d days\n", days), readFile(t, conf)...))
		certbot(t, "renew (due)", renew...)
		due := checkIssued(t, s, filepath.Join(live, "fullchain.pem"), names...)
		if due.Leaf.SerialNumber.Cmp(renewed.Leaf.SerialNumber) == 0 {
			t.Fatalf("certbot renew with renew_before_expiry = %d days left the certificate unchanged", days)
		}
	})

	t.Run("csr-and-revoke-cessation", func(t *testing.T) {
		csrNames := []string{"certbot-csr.example.test", "certbot-csr2.example.test"}
		out := t.TempDir()
		csr := p384CSR(t, out, csrNames...)
		certbot(t, "certonly --csr", certbotStandalone(s.HTTPPort, "certonly", "--csr", csr,
			"--cert-path", filepath.Join(out, "cert.pem"), "--chain-path", filepath.Join(out, "chain.pem"),
			"--fullchain-path", filepath.Join(out, "fullchain.pem"))...)
		c := checkIssued(t, s, filepath.Join(out, "fullchain.pem"), csrNames...)
		isP384(t, c)
		certbot(t, "revoke --reason cessationofoperation", "revoke", "--cert-path", c.File,
			"--reason", "cessationofoperation", "--no-delete-after-revoke")
		assertRevoked(t, s, c)
		assertReason(t, s, c, "cessationOfOperation")
	})

	t.Run("allow-subset-of-names", func(t *testing.T) {
		// CAA forbids certgate for one name: certbot drops it and asks
		// again for the other.
		ok, refused := "certbot-subset.example.test", "certbot-caa.example.test"
		resp, err := http.Post(dnsMgmtURL+"/add-caa", "application/json", strings.NewReader(
			`{"host":"`+refused+`.","policies":[{"tag":"issue","value":"other-ca.example"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("pebble-challtestsrv add-caa: %s", resp.Status)
		}
		t.Cleanup(func() {
			if r, err := http.Post(dnsMgmtURL+"/clear-caa", "application/json", strings.NewReader(`{"host":"`+refused+`."}`)); err == nil {
				r.Body.Close()
			}
		})
		certbot(t, "certonly --allow-subset-of-names", certbotStandalone(s.HTTPPort, "certonly", "--allow-subset-of-names",
			"-d", ok, "-d", refused)...)
		checkIssued(t, s, filepath.Join(dir, "config", "live", ok, "fullchain.pem"), ok)
		if log := string(readFile(t, certbotLog(dir))); !strings.Contains(log, "urn:ietf:params:acme:error:caa") {
			t.Errorf("certbot's log names no caa problem for %s", refused)
		}
	})
}

// TestDehydratedMatrix: Debian's dehydrated 0.7.0 signs an external CSR
// (--signcsr --full-chain), answers tls-alpn-01 with the certificates it
// writes to ALPNCERTDIR (served by the test as a TLS server would), asks
// for OCSP Must-Staple (--ocsp), asks for the chain ending at the server's
// root (--preferred-chain), renews a certificate that falls within its
// RENEW_DAYS without -x, reusing the key (PRIVATE_KEY_RENEW=no), and
// answers the challenge of a valid authorization again (-x
// --force-validation: a POST to a valid challenge returns it unchanged).
func TestDehydratedMatrix(t *testing.T) {
	t.Parallel()
	requireTool(t, "dehydrated", "dehydrated")
	requireTool(t, "curl", "curl")
	requireTool(t, "openssl", "openssl")
	s := startServer(t)
	base := filepath.Join(t.TempDir(), "dehydrated")
	wellknown := filepath.Join(base, "wellknown")
	if err := os.MkdirAll(wellknown, 0o755); err != nil {
		t.Fatal(err)
	}
	serveDir(t, s.HTTPPort, "/.well-known/acme-challenge/", wellknown)
	config := func(settings ...string) string {
		return writeDehydratedConfig(t, base, s.DirURL, s.TrustFile, append([]string{fmt.Sprintf("WELLKNOWN=%q", wellknown),
			`CHALLENGETYPE="http-01"`, "KEY_ALGO=prime256v1", "KEYSIZE=2048"}, settings...)...)
	}
	cfg := config()
	cmd := func(label string, args ...string) cmdSpec {
		return cmdSpec{Name: "dehydrated " + label, Args: dehydratedArgs(cfg, args...)}
	}
	if !t.Run("register", func(t *testing.T) {
		run(t, cmd("--register", "--register", "--accept-terms"))
	}) {
		return
	}

	t.Run("signcsr", func(t *testing.T) {
		names := []string{"dh-csr.example.test", "dh-csr2.example.test"}
		out := t.TempDir()
		csr := p384CSR(t, out, names...)
		chain := run(t, cmd("--signcsr", "--signcsr", csr, "--full-chain"))
		writeFile(t, filepath.Join(out, "fullchain.pem"), chain)
		isP384(t, checkIssued(t, s, filepath.Join(out, "fullchain.pem"), names...))
	})

	t.Run("tls-alpn-01", func(t *testing.T) {
		const name = "dh-alpn.example.test"
		alpnDir := filepath.Join(t.TempDir(), "alpn-certs")
		served := serveALPNDir(t, s.TLSPort, alpnDir)
		alpnCfg := config(`CHALLENGETYPE="tls-alpn-01"`, fmt.Sprintf("ALPNCERTDIR=%q", alpnDir))
		run(t, cmdSpec{Name: "dehydrated -c tls-alpn-01", Args: dehydratedArgs(alpnCfg, "-c", "-d", name)})
		checkIssued(t, s, filepath.Join(base, "certs", name, "fullchain.pem"), name)
		if served.Load() == 0 {
			t.Errorf("the validation fetched no tls-alpn-01 certificate from dehydrated's ALPNCERTDIR")
		}
		config()
	})

	const name = "dh-matrix.example.test"
	live := filepath.Join(base, "certs", name)
	var first *issued
	if !t.Run("preferred-chain", func(t *testing.T) {
		out := string(run(t, cmd("-c --preferred-chain --ocsp", "-c", "-d", name, "--preferred-chain", rootCN(t, s), "--ocsp")))
		if !strings.Contains(out, "Using preferred chain with CN = "+rootCN(t, s)) {
			t.Errorf("dehydrated --preferred-chain did not use the chain ending at %q", rootCN(t, s))
		}
		first = checkIssued(t, s, filepath.Join(live, "fullchain.pem"), name)
		if !hasMustStaple(first.Leaf) {
			t.Errorf("dehydrated --ocsp: the certificate has no TLS Feature extension listing status_request")
		}
	}) {
		return
	}

	var renewed *issued
	t.Run("renew-days-reusing-key", func(t *testing.T) {
		// The certificate is not due under the default RENEW_DAYS (32)...
		run(t, cmd("-c (not due)", "-c", "-d", name))
		if c := checkIssued(t, s, filepath.Join(live, "fullchain.pem"), name); c.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) != 0 {
			t.Fatalf("dehydrated -c replaced a certificate that is not due")
		}
		// ...and is under a RENEW_DAYS longer than its lifetime.
		days := int(first.Leaf.NotAfter.Sub(first.Leaf.NotBefore).Hours()/24) + 30
		renewCfg := config(fmt.Sprintf("RENEW_DAYS=%d", days), "PRIVATE_KEY_RENEW=no")
		run(t, cmdSpec{Name: "dehydrated -c (RENEW_DAYS)", Args: dehydratedArgs(renewCfg, "-c", "-d", name)})
		renewed = checkIssued(t, s, filepath.Join(live, "fullchain.pem"), name)
		if renewed.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
			t.Fatalf("dehydrated -c with RENEW_DAYS=%d left the certificate unchanged", days)
		}
		if !samePublicKey(renewed.Leaf, first.Leaf) {
			t.Errorf("dehydrated with PRIVATE_KEY_RENEW=no: the renewed certificate has another key")
		}
		config()
	})

	t.Run("force-validation", func(t *testing.T) {
		out := string(run(t, cmd("-c -x --force-validation", "-c", "-x", "--force-validation", "-d", name)))
		if !strings.Contains(out, "A valid authorization has been found but will be ignored") || !strings.Contains(out, "Challenge is valid") {
			t.Errorf("dehydrated --force-validation: want it to answer the valid authorization's challenge again, and that challenge valid")
		}
		c := checkIssued(t, s, filepath.Join(live, "fullchain.pem"), name)
		if renewed != nil && c.Leaf.SerialNumber.Cmp(renewed.Leaf.SerialNumber) == 0 {
			t.Fatalf("dehydrated -c -x --force-validation left the certificate unchanged")
		}
	})
}

// TestUacmeMatrix: Debian's uacme 1.7.4 registers without a contact,
// adds one and removes it (update EMAIL, update), obtains a certificate for an external CSR (issue CSRFILE), asks for an
// alternate chain the server does not offer (-l 1 falls back to the one
// chain), asks for OCSP Must-Staple (-m), and renews a certificate that
// falls within its -d DAYS without -f, with the same key.
func TestUacmeMatrix(t *testing.T) {
	t.Parallel()
	requireTool(t, "uacme", "uacme")
	requireTool(t, "unshare", "util-linux")
	requireTool(t, "openssl", "openssl")
	requireRootForUacme(t)
	s := startServer(t)
	dir := t.TempDir()
	confdir := filepath.Join(dir, "uacme")
	webroot, chdir := newWebroot(t, dir)
	serveDir(t, s.HTTPPort, "", webroot)
	hook := filepath.Join(dir, "http01.sh")
	writeUacmeHook(t, hook, chdir, "", false)
	cmd := func(label string, args ...string) cmdSpec {
		return cmdSpec{Name: "uacme " + label, Args: uacmeArgs(s.TrustFile, confdir, s.DirURL, append([]string{"-y", "-h", hook}, args...)...)}
	}
	if !t.Run("new-without-contact-update-remove", func(t *testing.T) {
		run(t, cmd("new", "new"))
		if s.Kind != "certgate" {
			return
		}
		if a := onlyAccount(t, s); len(a.Contact) != 0 {
			t.Errorf("after uacme new the account's contact is %q, want none", a.Contact)
		}
		run(t, cmd("update EMAIL", "update", "added@example.test"))
		if a := onlyAccount(t, s); len(a.Contact) != 1 || a.Contact[0] != "mailto:added@example.test" {
			t.Errorf("after uacme update EMAIL the account's contact is %q, want [mailto:added@example.test]", a.Contact)
		}
		// update without EMAIL removes the contact.
		run(t, cmd("update", "update"))
		if a := onlyAccount(t, s); len(a.Contact) != 0 {
			t.Errorf("after uacme update the account's contact is %q, want none", a.Contact)
		}
	}) {
		return
	}

	t.Run("issue-csr", func(t *testing.T) {
		names := []string{"uacme-csr.example.test", "uacme-csr2.example.test"}
		out := t.TempDir()
		csr := p384CSR(t, out, names...)
		run(t, cmd("issue CSRFILE", "issue", csr))
		// uacme saves the chain beside the CSR as NAME-cert.pem.
		isP384(t, checkIssued(t, s, filepath.Join(out, "csr-cert.pem"), names...))
	})

	const name = "uacme-matrix.example.test"
	certFile := filepath.Join(confdir, name, "cert.pem")
	var first *issued
	if !t.Run("alternate-not-offered-must-staple", func(t *testing.T) {
		_, out, err := runErr(t, cmd("issue -l 1 -m", "-l", "1", "-m", "-t", "EC", "issue", name))
		if err != nil {
			t.Fatalf("uacme -l 1 -m issue: %v", err)
		}
		if !strings.Contains(out, "falling back to default") {
			t.Errorf("uacme -l 1: want it to fall back to the default chain")
		}
		first = checkIssued(t, s, certFile, name)
		if serverKind == "certgate" && !hasMustStaple(first.Leaf) {
			t.Errorf("uacme -m: the certificate has no TLS Feature extension listing status_request")
		}
	}) {
		return
	}

	t.Run("renew-days", func(t *testing.T) {
		days := int(first.Leaf.NotAfter.Sub(first.Leaf.NotBefore).Hours()/24) + 30
		run(t, cmd("issue -d", "-d", strconv.Itoa(days), "-t", "EC", "issue", name))
		renewed := checkIssued(t, s, certFile, name)
		if renewed.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
			t.Fatalf("uacme -d %d issue left a certificate due under -d unchanged", days)
		}
		if !samePublicKey(renewed.Leaf, first.Leaf) {
			t.Errorf("uacme renewed with another key; uacme 1.7.4 keeps private/NAME/key.pem")
		}
	})
}

// TestAcmeTinyMatrix: Debian's acme-tiny 5.0.1 renews as its users do, by
// running again with the same account key and CSR: the second run finds
// its account (newAccount answers 200, "Already registered!"), changes its
// contact (a POST to the account URL) and gets a new certificate.
func TestAcmeTinyMatrix(t *testing.T) {
	t.Parallel()
	requireTool(t, "acme-tiny", "acme-tiny")
	requireTool(t, "openssl", "openssl")
	if serverKind != "certgate" {
		t.Skip("reads the server's records with certgate's admin commands") // the harness's pebble mode only
	}
	s := startServer(t)
	dir := t.TempDir()
	acmeDir := filepath.Join(dir, "challenges")
	if err := os.MkdirAll(acmeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	serveDir(t, s.HTTPPort, "/.well-known/acme-challenge/", acmeDir)
	const name = "acme-tiny-matrix.example.test"
	accountKey, csr := acmeTinyKeys(t, dir, name)
	tiny := func(t *testing.T, label, contact string) (*issued, string) {
		t.Helper()
		chain, log, err := runErr(t, cmdSpec{Name: "acme-tiny " + label, Env: []string{"SSL_CERT_FILE=" + s.TrustFile}, Args: []string{
			"acme-tiny", "--account-key", accountKey, "--csr", csr, "--acme-dir", acmeDir,
			"--disable-check", "--directory-url", s.DirURL, "--contact", contact}})
		if err != nil {
			t.Fatalf("acme-tiny %s: %v", label, err)
		}
		out := filepath.Join(t.TempDir(), "signed_chain.crt")
		writeFile(t, out, chain)
		return checkIssued(t, s, out, name), log
	}
	first, log := tiny(t, "first run", "mailto:first@example.test")
	if !strings.Contains(log, "Registered!") {
		t.Errorf("acme-tiny's first run did not register an account")
	}
	second, log := tiny(t, "second run", "mailto:second@example.test")
	if !strings.Contains(log, "Already registered!") {
		t.Errorf("acme-tiny's second run did not find its account (newAccount with a known key answers 200)")
	}
	if second.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
		t.Errorf("acme-tiny's second run returned the first certificate")
	}
	if a := onlyAccount(t, s); len(a.Contact) != 1 || a.Contact[0] != "mailto:second@example.test" {
		t.Errorf("after acme-tiny's second run the account's contact is %q, want [mailto:second@example.test]", a.Contact)
	}
}
