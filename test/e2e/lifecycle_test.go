package e2e

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The less common paths of the real clients: account update, key rollover
// (RFC 8555 §7.3.5) and deactivation, forced renewal, revocation with a
// reason and by the certificate's key, IP identifiers (RFC 8738) and
// dns-01 wildcards. The server's view is read with certgate's own
// administrative commands beside the running server.

// certRecord is what `certgate cert show --format json` prints of one
// certificate that these tests look at.
type certRecord struct {
	Serial           string `json:"serial"`
	Status           string `json:"status"`
	RevocationReason string `json:"revocation_reason"`
	Replaces         string `json:"replaces"`
}

// showCert reads the inventory record of the certificate c.
func showCert(t *testing.T, s *acmeServer, c *issued) certRecord {
	t.Helper()
	var r certRecord
	serial := fmt.Sprintf("%x", c.Leaf.SerialNumber)
	out := certgateCLI(t, s, "cert", "show", serial, "--format", "json")
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("certgate cert show %s printed %q: %v", serial, out, err)
	}
	return r
}

// assertReason checks that the server recorded c as revoked with reason
// (an RFC 5280 name such as "keyCompromise"; "" for none given).
func assertReason(t *testing.T, s *acmeServer, c *issued, reason string) {
	t.Helper()
	if s.Kind != "certgate" {
		return
	}
	r := showCert(t, s, c)
	if r.Status != "revoked" || (reason != "" && r.RevocationReason != reason) {
		t.Errorf("certificate %s: status %q reason %q; want revoked with reason %q", r.Serial, r.Status, r.RevocationReason, reason)
	}
}

// accountRecord is an account as `certgate account list --format json`
// prints it.
type accountRecord struct {
	ID            string   `json:"id"`
	Status        string   `json:"status"`
	Contact       []string `json:"contact"`
	KeyThumbprint string   `json:"key_thumbprint"`
}

// listAccounts reads every account of server s.
func listAccounts(t *testing.T, s *acmeServer) []accountRecord {
	t.Helper()
	out := certgateCLI(t, s, "account", "list", "--format", "json")
	var page struct {
		Items []accountRecord `json:"items"`
	}
	if err := json.Unmarshal(out, &page); err != nil {
		var list []accountRecord
		if err2 := json.Unmarshal(out, &list); err2 != nil {
			t.Fatalf("certgate account list printed %q: %v", out, err)
		}
		return list
	}
	return page.Items
}

// onlyAccount returns the one account of s.
func onlyAccount(t *testing.T, s *acmeServer) accountRecord {
	t.Helper()
	accts := listAccounts(t, s)
	if len(accts) != 1 {
		t.Fatalf("server has %d accounts, want 1: %+v", len(accts), accts)
	}
	return accts[0]
}

// dnsHookTXT is the shell to set (set-txt) or clear (clear-txt) a TXT
// record at pebble-challtestsrv; FQDN and VALUE are shell words.
func dnsHookTXT(action, fqdn, value string) string {
	if action == "set-txt" {
		return fmt.Sprintf(`curl -fsS -d "{\"host\":\"%s\",\"value\":\"%s\"}" %s/set-txt`, fqdn, value, dnsMgmtURL)
	}
	return fmt.Sprintf(`curl -fsS -d "{\"host\":\"%s\"}" %s/clear-txt`, fqdn, dnsMgmtURL)
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// TestUacmeAccountLifecycle: Debian's uacme 1.7.4 updates its account's
// contact (a bad address is invalidContact), rolls the account over to a
// new key (keyChange; the old key no longer finds it) and issues with it,
// forces a renewal, obtains a dns-01 wildcard and IPv4 and IPv6
// certificates (RFC 8738), revokes with a reason by the account key and
// by the certificate key, and finally deactivates its account, after which
// the server refuses it and its certificates are still revocable by their
// keys.
func TestUacmeAccountLifecycle(t *testing.T) {
	t.Parallel()
	requireTool(t, "uacme", "uacme")
	requireTool(t, "unshare", "util-linux")
	requireTool(t, "openssl", "openssl")
	requireRootForUacme(t)
	if serverKind != "certgate" {
		t.Skip("reads the server's records with certgate's admin commands") // the harness's pebble mode only
	}
	s := startServer(t)
	dir := t.TempDir()
	confdir := filepath.Join(dir, "uacme")
	webroot, chdir := newWebroot(t, dir)
	serveDir(t, s.HTTPPort, "", webroot)
	hook := filepath.Join(dir, "http01.sh")
	// http-01 through the web root; dns-01 (wildcards) through the
	// loopback DNS server.
	writeUacmeHook(t, hook, chdir, "", true)
	cmd := func(label string, args ...string) cmdSpec {
		return cmdSpec{Name: "uacme " + label, Args: uacmeArgs(s.TrustFile, confdir, s.DirURL, append([]string{"-y", "-h", hook}, args...)...)}
	}
	uacme := func(t *testing.T, label string, args ...string) {
		t.Helper()
		run(t, cmd(label, args...))
	}

	if !t.Run("new-and-update", func(t *testing.T) {
		uacme(t, "new", "new", "first@example.test")
		// An address that is not one is refused as invalidContact.
		if _, out, err := runErr(t, cmd("update bad", "update", "not an address")); err == nil || !containsFold(out, "urn:ietf:params:acme:error:invalidContact") {
			t.Errorf("uacme update with a bad address: err %v; want urn:ietf:params:acme:error:invalidContact", err)
		}
		uacme(t, "update", "update", "second@example.test")
		a := onlyAccount(t, s)
		if len(a.Contact) != 1 || a.Contact[0] != "mailto:second@example.test" {
			t.Errorf("after uacme update the account's contact is %q, want [mailto:second@example.test]", a.Contact)
		}
	}) {
		return
	}

	if !t.Run("newkey", func(t *testing.T) {
		before := onlyAccount(t, s)
		oldConf := filepath.Join(t.TempDir(), "old")
		writeFile(t, filepath.Join(oldConf, "private", "key.pem"), readFile(t, filepath.Join(confdir, "private", "key.pem")))
		uacme(t, "newkey", "newkey")
		after := onlyAccount(t, s)
		if after.KeyThumbprint == before.KeyThumbprint || after.ID != before.ID {
			t.Fatalf("uacme newkey: account %s key %s became account %s key %s; want the same account with a new key",
				before.ID, before.KeyThumbprint, after.ID, after.KeyThumbprint)
		}
		// The old key no longer finds the account (onlyReturnExisting).
		old := cmd("update with the old key", "update", "old@example.test")
		old.Args[slices.Index(old.Args, confdir)] = oldConf
		if _, out, err := runErr(t, old); err == nil || !containsFold(out, "no account associated") {
			t.Errorf("uacme with the rolled-over key: err %v; want \"no account associated\" (accountDoesNotExist)", err)
		}
	}) {
		return
	}

	const name = "uacme-life.example.test"
	var first, renewed *issued
	if !t.Run("issue-with-new-key", func(t *testing.T) {
		uacme(t, "issue", "-t", "EC", "issue", name)
		first = checkIssued(t, s, filepath.Join(confdir, name, "cert.pem"), name)
	}) {
		return
	}

	t.Run("force-renewal", func(t *testing.T) {
		// Without -f uacme keeps a certificate that is not due, and says
		// so with exit status 1.
		if _, _, err := runErr(t, cmd("issue (not due)", "-t", "EC", "issue", name)); err == nil || !strings.Contains(err.Error(), "exit status 1") {
			t.Fatalf("uacme issue of a certificate that is not due: %v; want exit status 1 (not reissued)", err)
		}
		same := checkIssued(t, s, filepath.Join(confdir, name, "cert.pem"), name)
		if same.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) != 0 {
			t.Fatalf("uacme issue without -f replaced a certificate that is not due")
		}
		uacme(t, "issue -f", "-f", "-t", "EC", "issue", name)
		renewed = checkIssued(t, s, filepath.Join(confdir, name, "cert.pem"), name)
		if renewed.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
			t.Fatalf("uacme issue -f left the certificate unchanged")
		}
	})

	t.Run("ip-identifier", func(t *testing.T) {
		const ip = "127.0.0.1"
		uacme(t, "issue IP", "-t", "EC", "issue", ip)
		certs, err := parsePEMCerts(readFile(t, filepath.Join(confdir, ip, "cert.pem")))
		if err != nil {
			t.Fatal(err)
		}
		leaf := certs[0]
		if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal([]byte{127, 0, 0, 1}) || len(leaf.DNSNames) != 0 {
			t.Fatalf("IP certificate SANs: DNS %q IP %v; want IP 127.0.0.1 alone", leaf.DNSNames, leaf.IPAddresses)
		}
		lintLeaf(t, leaf.Raw)
	})

	t.Run("wildcard-dns-01", func(t *testing.T) {
		names := []string{"ul.example.test", "*.ul.example.test"}
		uacme(t, "issue wildcard", "-t", "EC", "issue", names[0], names[1])
		checkIssued(t, s, filepath.Join(confdir, names[0], "cert.pem"), names...)
	})

	t.Run("ipv6-identifier", func(t *testing.T) {
		// The validation authority fetches http://[::1]:PORT/...: serve
		// the same web root there.
		l, err := net.Listen("tcp", "[::1]:"+strconv.Itoa(s.HTTPPort))
		if err != nil {
			t.Fatalf("listen on [::1]: %v", err)
		}
		srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.FileServer(http.Dir(webroot))}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { _ = srv.Close() })
		const ip = "::1"
		uacme(t, "issue ::1", "-t", "EC", "issue", ip)
		certs, err := parsePEMCerts(readFile(t, filepath.Join(confdir, ip, "cert.pem")))
		if err != nil {
			t.Fatal(err)
		}
		leaf := certs[0]
		if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.IPv6loopback) || len(leaf.DNSNames) != 0 {
			t.Fatalf("IPv6 certificate SANs: DNS %q IP %v; want IP ::1 alone", leaf.DNSNames, leaf.IPAddresses)
		}
		lintLeaf(t, leaf.Raw)
	})

	if renewed != nil {
		t.Run("revoke-reason-account-key", func(t *testing.T) {
			// The first certificate, kept by uacme as cert-*.pem, is
			// revoked by the account with reason superseded (4).
			old := filepath.Join(t.TempDir(), "old.pem")
			writeFile(t, old, pemCerts(append([]*x509.Certificate{first.Leaf}, first.Chain...)))
			uacme(t, "revoke -r 4", "-r", "4", "revoke", old)
			first.File = old
			assertRevoked(t, s, first)
			assertReason(t, s, first, "superseded")
		})
		t.Run("revoke-reason-cert-key", func(t *testing.T) {
			key := filepath.Join(confdir, "private", name, "key.pem")
			uacme(t, "revoke -r 1 with the certificate key", "-r", "1", "revoke", renewed.File, key)
			assertRevoked(t, s, renewed)
			assertReason(t, s, renewed, "keyCompromise")
		})
	}

	t.Run("deactivate", func(t *testing.T) {
		uacme(t, "deactivate", "deactivate")
		if a := onlyAccount(t, s); a.Status != "deactivated" {
			t.Fatalf("after uacme deactivate the account is %q", a.Status)
		}
		_, out, err := runErr(t, cmd("issue after deactivate", "-f", "-t", "EC", "issue", "uacme-after.example.test"))
		if err == nil {
			t.Fatalf("uacme issued with a deactivated account")
		}
		if !containsFold(out, "urn:ietf:params:acme:error:unauthorized") {
			t.Errorf("uacme with a deactivated account: want an unauthorized problem in its output")
		}
		// A certificate of the deactivated account is still revocable
		// with its own key (RFC 8555 §7.6).
		ipCert := filepath.Join(confdir, "127.0.0.1", "cert.pem")
		certs, err := parsePEMCerts(readFile(t, ipCert))
		if err != nil {
			t.Fatal(err)
		}
		c := &issued{Leaf: certs[0], Chain: certs[1:], File: ipCert}
		uacme(t, "revoke with the certificate key after deactivate", "revoke", ipCert, filepath.Join(confdir, "private", "127.0.0.1", "key.pem"))
		assertRevoked(t, s, c)
	})
}

// TestCertbotAccountLifecycle: Debian's certbot 2.1 registers with a
// contact, changes it (update_account), forces a renewal (renew
// --force-renewal), revokes the renewed certificate signed with the
// certificate's own key and reason keyCompromise (revoke --key-path
// --reason keycompromise), revokes the first one with its account and
// reason superseded, and deactivates its account (unregister).
func TestCertbotAccountLifecycle(t *testing.T) {
	t.Parallel()
	requireTool(t, "certbot", "certbot")
	requireTool(t, "openssl", "openssl")
	if serverKind != "certgate" {
		t.Skip("reads the server's records with certgate's admin commands") // the harness's pebble mode only
	}
	s := startServer(t)
	dir := t.TempDir()
	const name = "certbot-life.example.test"
	logFileOnFailure(t, certbotLog(dir), 300)
	cmd := func(label string, args ...string) cmdSpec {
		return certbotCmd(label, s.TrustFile, s.DirURL, dir, args...)
	}
	certbot := func(t *testing.T, label string, args ...string) {
		t.Helper()
		run(t, cmd(label, args...))
	}
	live := filepath.Join(dir, "config", "live", name)

	var first *issued
	if !t.Run("certonly", func(t *testing.T) {
		certbot(t, "certonly", certbotStandalone(s.HTTPPort, "certonly", "--agree-tos", "-m", "first@example.test", "--no-eff-email", "-d", name)...)
		first = checkIssued(t, s, filepath.Join(live, "fullchain.pem"), name)
		// fullchain.pem is a link into archive/ that renew moves on.
		first.File = filepath.Join(dir, "first.pem")
		writeFile(t, first.File, pemCerts(append([]*x509.Certificate{first.Leaf}, first.Chain...)))
	}) {
		return
	}

	t.Run("update_account", func(t *testing.T) {
		certbot(t, "update_account", "update_account", "-m", "second@example.test", "--no-eff-email")
		a := onlyAccount(t, s)
		if len(a.Contact) != 1 || a.Contact[0] != "mailto:second@example.test" {
			t.Errorf("after certbot update_account the account's contact is %q, want [mailto:second@example.test]", a.Contact)
		}
	})

	var renewed *issued
	t.Run("renew-force-renewal", func(t *testing.T) {
		certbot(t, "renew --force-renewal", certbotStandalone(s.HTTPPort, "renew", "--force-renewal", "--no-random-sleep-on-renew", "--cert-name", name)...)
		renewed = checkIssued(t, s, filepath.Join(live, "fullchain.pem"), name)
		if renewed.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
			t.Fatalf("certbot renew --force-renewal left the certificate unchanged")
		}
	})

	if renewed != nil {
		t.Run("revoke-with-cert-key-keycompromise", func(t *testing.T) {
			certbot(t, "revoke --key-path", "revoke", "--cert-path", filepath.Join(live, "cert.pem"),
				"--key-path", filepath.Join(live, "privkey.pem"), "--reason", "keycompromise", "--no-delete-after-revoke")
			assertRevoked(t, s, renewed)
			assertReason(t, s, renewed, "keyCompromise")
		})
		t.Run("renew-reusing-compromised-key", func(t *testing.T) {
			// The key is blocked now: a renewal that reuses it is refused
			// at finalize with badPublicKey naming the revocation
			// (docs/pki.md; Boulder answers the same type).
			_, _, err := runErr(t, cmd("renew --reuse-key", certbotStandalone(s.HTTPPort,
				"renew", "--force-renewal", "--no-random-sleep-on-renew", "--reuse-key", "--cert-name", name)...))
			log := string(readFile(t, certbotLog(dir)))
			if err == nil || !strings.Contains(log, "urn:ietf:params:acme:error:badPublicKey") || !strings.Contains(log, "revoked for keyCompromise") {
				t.Errorf("certbot renew --reuse-key of a key revoked for keyCompromise: err %v; want a badPublicKey refusal naming the revocation in its log", err)
			}
		})
	}

	t.Run("revoke-superseded", func(t *testing.T) {
		certbot(t, "revoke --reason superseded", "revoke", "--cert-path", first.File, "--reason", "superseded", "--no-delete-after-revoke")
		assertRevoked(t, s, first)
		assertReason(t, s, first, "superseded")
	})

	t.Run("unregister", func(t *testing.T) {
		certbot(t, "unregister", "unregister")
		if a := onlyAccount(t, s); a.Status != "deactivated" {
			t.Fatalf("after certbot unregister the account is %q", a.Status)
		}
	})
}

// TestDehydratedLifecycle: Debian's dehydrated 0.7.0 changes its
// account's contact (--account), obtains a wildcard RSA certificate over
// dns-01 through a hook that publishes the TXT records in the loopback DNS
// server, forces a renewal (-c -x), revokes both certificates (--revoke),
// and deactivates the account (--deactivate).
func TestDehydratedLifecycle(t *testing.T) {
	t.Parallel()
	requireTool(t, "dehydrated", "dehydrated")
	requireTool(t, "curl", "curl")
	requireTool(t, "openssl", "openssl")
	if serverKind != "certgate" {
		t.Skip("reads the server's records with certgate's admin commands") // the harness's pebble mode only
	}
	s := startServer(t)
	base := filepath.Join(t.TempDir(), "dehydrated")
	hook := filepath.Join(base, "hook.sh")
	// HOOK deploy_challenge|clean_challenge DOMAIN TOKEN_FILENAME TOKEN_VALUE;
	// every other hook is ignored.
	writeScript(t, hook, `#!/bin/sh
set -e
case "$1" in
deploy_challenge) `+dnsHookTXT("set-txt", "_acme-challenge.$2.", "$4")+` ;;
clean_challenge) `+dnsHookTXT("clear-txt", "_acme-challenge.$2.", "")+` ;;
esac
`)
	config := func(email string) string {
		return writeDehydratedConfig(t, base, s.DirURL, s.TrustFile, fmt.Sprintf("CONTACT_EMAIL=%q", email),
			`CHALLENGETYPE="dns-01"`, fmt.Sprintf("HOOK=%q", hook), "KEY_ALGO=rsa", "KEYSIZE=2048")
	}
	cfg := config("first@example.test")
	dehydrated := func(t *testing.T, label string, args ...string) {
		t.Helper()
		run(t, cmdSpec{Name: "dehydrated " + label, Args: dehydratedArgs(cfg, args...)})
	}

	if !t.Run("register-and-update-contact", func(t *testing.T) {
		dehydrated(t, "--register", "--register", "--accept-terms")
		config("second@example.test")
		dehydrated(t, "--account", "--account")
		a := onlyAccount(t, s)
		if len(a.Contact) != 1 || a.Contact[0] != "mailto:second@example.test" {
			t.Errorf("after dehydrated --account the account's contact is %q, want [mailto:second@example.test]", a.Contact)
		}
	}) {
		return
	}

	names := []string{"dh.example.test", "*.dh.example.test"}
	live := filepath.Join(base, "certs", names[0])
	var first, renewed *issued
	if !t.Run("dns-01-wildcard", func(t *testing.T) {
		dehydrated(t, "-c dns-01", "-c", "-d", names[0], "-d", names[1])
		first = checkIssued(t, s, filepath.Join(live, "fullchain.pem"), names...)
		first.File = filepath.Join(base, "first.pem")
		writeFile(t, first.File, pemCerts(append([]*x509.Certificate{first.Leaf}, first.Chain...)))
	}) {
		return
	}

	t.Run("force-renewal", func(t *testing.T) {
		dehydrated(t, "-c -x", "-c", "-x", "-d", names[0], "-d", names[1])
		renewed = checkIssued(t, s, filepath.Join(live, "fullchain.pem"), names...)
		if renewed.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
			t.Fatalf("dehydrated -c -x left the certificate unchanged")
		}
	})

	if renewed != nil {
		t.Run("revoke-renewed", func(t *testing.T) {
			// dehydrated 0.7.0 cannot revoke with the certificate's key:
			// --privkey looks the key up as an account
			// (onlyReturnExisting), which the server rightly answers
			// accountDoesNotExist. The account revokes it.
			dehydrated(t, "--revoke", "--revoke", filepath.Join(live, "cert.pem"))
			assertRevoked(t, s, renewed)
			assertReason(t, s, renewed, "")
		})
	}
	t.Run("revoke-first", func(t *testing.T) {
		dehydrated(t, "--revoke", "--revoke", first.File)
		assertRevoked(t, s, first)
		assertReason(t, s, first, "")
	})

	t.Run("deactivate", func(t *testing.T) {
		dehydrated(t, "--deactivate", "--deactivate")
		if a := onlyAccount(t, s); a.Status != "deactivated" {
			t.Fatalf("after dehydrated --deactivate the account is %q", a.Status)
		}
	})
}

// TestLegoRefusals: each refusal reaches Debian's lego 4.9.1 as an RFC
// 8555 §6.7 problem of the right type, shown in its error message.
func TestLegoRefusals(t *testing.T) {
	t.Parallel()
	requireTool(t, "lego", "lego")
	requireTool(t, "curl", "curl")
	if serverKind != "certgate" {
		t.Skip("certgate profiles exist only on certgate") // the harness's pebble mode only
	}
	s := startServer(t)
	certgateCLI(t, s, "profile", "create", "strict", "--deny", "*.denied.example.test", "--deny", "denied.example.test",
		"--key-types", "ecdsa-p256")
	strict := strings.Replace(s.DirURL, "/acme/directory", "/acme/strict/directory", 1)
	path := filepath.Join(t.TempDir(), "lego")
	env := []string{"LEGO_CA_CERTIFICATES=" + s.TrustFile}
	httpAddr := "127.0.0.1:" + strconv.Itoa(s.HTTPPort)
	refused := func(t *testing.T, dir, problem, detail string, args ...string) {
		t.Helper()
		_, out, err := runErr(t, cmdSpec{Name: "lego " + problem, Env: env, Args: legoArgs(dir, path, "e2e@example.test", args...)})
		if err == nil {
			t.Fatalf("lego succeeded; want a refusal with urn:ietf:params:acme:error:%s", problem)
		}
		if !strings.Contains(out, "urn:ietf:params:acme:error:"+problem) || !containsFold(out, detail) {
			t.Errorf("lego's error does not name urn:ietf:params:acme:error:%s with %q", problem, detail)
		}
	}

	t.Run("ip-as-dns-identifier", func(t *testing.T) {
		// lego 4.9.1 sends an IP address as a "dns" identifier.
		refused(t, s.DirURL, "rejectedIdentifier", "RFC 8738",
			"--key-type", "ec256", "--domains", "127.0.0.1", "--http", "--http.port", httpAddr, "run")
	})
	t.Run("denied-name", func(t *testing.T) {
		refused(t, strict, "rejectedIdentifier", "denied.example.test",
			"--key-type", "ec256", "--domains", "www.denied.example.test", "--http", "--http.port", httpAddr, "run")
	})
	t.Run("key-type-not-allowed", func(t *testing.T) {
		refused(t, strict, "badCSR", "key",
			"--key-type", "rsa2048", "--domains", "rsa.allowed.example.test", "--http", "--http.port", httpAddr, "run")
	})
	t.Run("nothing-listening", func(t *testing.T) {
		// lego's responder listens elsewhere, so the validation
		// authority finds no server on its http-01 port.
		other := "127.0.0.1:" + strconv.Itoa(freePorts(t, 1)[0])
		refused(t, s.DirURL, "connection", "",
			"--key-type", "ec256", "--domains", "nobody.example.test", "--http", "--http.port", other, "run")
	})
	dnsRefused := func(t *testing.T, name, present, problem, detail string) {
		t.Helper()
		dnsEnv, dnsArgs := legoExecDNS(t, filepath.Join(t.TempDir(), "dns-hook.sh"), present)
		args := append(append([]string{"--key-type", "ec256", "--domains", name}, dnsArgs...), "run")
		_, out, err := runErr(t, cmdSpec{Name: "lego dns-01 " + problem, Env: append(dnsEnv, env...), Args: legoArgs(s.DirURL, path, "e2e@example.test", args...)})
		if err == nil || !strings.Contains(out, "urn:ietf:params:acme:error:"+problem) || !containsFold(out, detail) {
			t.Errorf("lego dns-01 for %s: err %v; want urn:ietf:params:acme:error:%s with %q", name, err, problem, detail)
		}
	}
	t.Run("dns-01-wrong-txt", func(t *testing.T) {
		dnsRefused(t, "wrong-txt.example.test", dnsHookTXT("set-txt", "$2", "not-the-digest"), "incorrectResponse", "not-the-digest")
	})
	t.Run("dns-01-no-txt", func(t *testing.T) {
		dnsRefused(t, "no-txt.example.test", "true", "unauthorized", "no TXT record")
	})
	t.Run("caa-forbids", func(t *testing.T) {
		const name = "caa.example.test"
		resp, err := http.Post(dnsMgmtURL+"/add-caa", "application/json", strings.NewReader(
			`{"host":"`+name+`.","policies":[{"tag":"issue","value":"other-ca.example"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("pebble-challtestsrv add-caa: %s", resp.Status)
		}
		t.Cleanup(func() {
			if r, err := http.Post(dnsMgmtURL+"/clear-caa", "application/json", strings.NewReader(`{"host":"`+name+`."}`)); err == nil {
				r.Body.Close()
			}
		})
		refused(t, s.DirURL, "caa", "",
			"--key-type", "ec256", "--domains", name, "--http", "--http.port", httpAddr, "run")
	})
}

// TestLegoRevokeReason: Debian's lego 4.9.1 is refused reasons 6, 7, 8
// and privilegeWithdrawn (9, the CA's to give: CA/B BR §7.2.2) as
// badRevocationReason, revokes a certificate by its account with
// reason keyCompromise (revoke --reason 1), and revoking it again is
// refused as alreadyRevoked.
func TestLegoRevokeReason(t *testing.T) {
	t.Parallel()
	requireTool(t, "lego", "lego")
	requireTool(t, "openssl", "openssl")
	if serverKind != "certgate" {
		t.Skip("reads the server's records with certgate's admin commands") // the harness's pebble mode only
	}
	s := startServer(t)
	path := filepath.Join(t.TempDir(), "lego")
	env := []string{"LEGO_CA_CERTIFICATES=" + s.TrustFile}
	const name = "lego-reason.example.test"
	args := func(more ...string) []string {
		return legoArgs(s.DirURL, path, "e2e@example.test", append([]string{"--key-type", "ec256", "--domains", name}, more...)...)
	}
	run(t, cmdSpec{Name: "lego run", Env: env, Args: args("--http", "--http.port", "127.0.0.1:"+strconv.Itoa(s.HTTPPort), "run")})
	c := checkIssued(t, s, filepath.Join(path, "certificates", name+".crt"), name)
	// RFC 5280 reasons a subscriber may not ask for: certificateHold (6),
	// the unused 7, removeFromCRL (8) and privilegeWithdrawn (9).
	for _, reason := range []string{"6", "7", "8", "9"} {
		_, out, err := runErr(t, cmdSpec{Name: "lego revoke --reason " + reason, Env: env, Args: args("revoke", "--reason", reason, "--keep")})
		if err == nil || !strings.Contains(out, "urn:ietf:params:acme:error:badRevocationReason") {
			t.Errorf("lego revoke --reason %s: err %v; want urn:ietf:params:acme:error:badRevocationReason", reason, err)
		}
	}
	if r := showCert(t, s, c); r.Status != "valid" {
		t.Fatalf("after refused revocations the certificate is %q", r.Status)
	}
	run(t, cmdSpec{Name: "lego revoke --reason 1", Env: env, Args: args("revoke", "--reason", "1", "--keep")})
	assertRevoked(t, s, c)
	assertReason(t, s, c, "keyCompromise")
	_, out, err := runErr(t, cmdSpec{Name: "lego revoke again", Env: env, Args: args("revoke", "--reason", "1", "--keep")})
	if err == nil || !strings.Contains(out, "urn:ietf:params:acme:error:alreadyRevoked") {
		t.Errorf("lego revoke of a revoked certificate: err %v; want urn:ietf:params:acme:error:alreadyRevoked", err)
	}
}

// TestUacmeIPTLSALPN: Debian's uacme 1.7.4 obtains certificates for the
// IP addresses 127.0.0.1 and ::1 (RFC 8738) over tls-alpn-01 with ualpn,
// which answers the validation's reverse-DNS SNI (1.0.0.127.in-addr.arpa,
// ...ip6.arpa; RFC 8738 §6).
func TestUacmeIPTLSALPN(t *testing.T) {
	t.Parallel()
	requireTool(t, "uacme", "uacme")
	requireTool(t, "ualpn", "uacme")
	requireTool(t, "unshare", "util-linux")
	requireTool(t, "openssl", "openssl")
	requireRootForUacme(t)
	s := startServer(t)
	tmp := t.TempDir()
	confdir := filepath.Join(tmp, "uacme")
	hook, ualpnLog := startUalpn(t, tmp, s.TLSPort, "127.0.0.1", "::1")
	logFileOnFailure(t, ualpnLog, 50)
	uacme := func(label string, args ...string) cmdSpec {
		return cmdSpec{Name: "uacme " + label, Args: uacmeArgs(s.TrustFile, confdir, s.DirURL, append([]string{"-y"}, args...)...)}
	}
	run(t, uacme("new", "new"))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(readFile(t, s.RootFile))
	for _, ip := range []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback} {
		run(t, uacme("issue "+ip.String()+" tls-alpn-01", "-h", hook, "issue", ip.String()))
		certs, err := parsePEMCerts(readFile(t, filepath.Join(confdir, ip.String(), "cert.pem")))
		if err != nil {
			t.Fatal(err)
		}
		leaf := certs[0]
		if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(ip) || len(leaf.DNSNames) != 0 {
			t.Fatalf("IP certificate SANs: DNS %q IP %v; want IP %s alone", leaf.DNSNames, leaf.IPAddresses, ip)
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: ip.String(), Roots: roots, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Fatalf("IP certificate does not verify for %s: %v", ip, err)
		}
		lintLeaf(t, leaf.Raw)
	}
	for _, rev := range []string{"1.0.0.127.in-addr.arpa", ".ip6.arpa"} {
		if !strings.Contains(string(readFile(t, ualpnLog)), rev) {
			t.Errorf("ualpn's log names no %s SNI: the validation did not use RFC 8738's reverse name", rev)
		}
	}
}

// TestLegoThirdPartyRevoke: a certificate is revoked by another account
// that holds valid authorizations for all its names (RFC 8555 §7.6), while
// an account without them is refused as unauthorized. Three lego accounts
// share one --path; lego revokes the certificate file of the name it is
// given, so the first account's certificate is put back there.
func TestLegoThirdPartyRevoke(t *testing.T) {
	t.Parallel()
	requireTool(t, "lego", "lego")
	requireTool(t, "openssl", "openssl")
	s := startServer(t)
	path := filepath.Join(t.TempDir(), "lego")
	env := []string{"LEGO_CA_CERTIFICATES=" + s.TrustFile}
	httpAddr := "127.0.0.1:" + strconv.Itoa(s.HTTPPort)
	const name = "lego-3p.example.test"
	crt := filepath.Join(path, "certificates", name+".crt")
	lego := func(email string, args ...string) cmdSpec {
		return cmdSpec{Name: "lego " + email + " " + strings.Join(args, " "), Env: env,
			Args: legoArgs(s.DirURL, path, email, append([]string{"--key-type", "ec256"}, args...)...)}
	}
	run(t, lego("a@example.test", "--domains", name, "--http", "--http.port", httpAddr, "run"))
	first := checkIssued(t, s, crt, name)
	firstPEM := readFile(t, crt)
	// c holds an authorization for another name only.
	run(t, lego("c@example.test", "--domains", "other-3p.example.test", "--http", "--http.port", httpAddr, "run"))
	// b holds a valid authorization for name (and a certificate of its own).
	run(t, lego("b@example.test", "--domains", name, "--http", "--http.port", httpAddr, "run"))

	writeFile(t, crt, firstPEM)
	if _, out, err := runErr(t, lego("c@example.test", "--domains", name, "revoke", "--keep")); err == nil || !strings.Contains(out, "urn:ietf:params:acme:error:unauthorized") {
		t.Errorf("revocation by an account without authorizations for %s: err %v; want urn:ietf:params:acme:error:unauthorized", name, err)
	}
	writeFile(t, crt, firstPEM)
	run(t, lego("b@example.test", "--domains", name, "revoke", "--keep"))
	first.File = crt
	assertRevoked(t, s, first)
}
