package e2e

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/certgate/certgate/internal/testenv"
)

// TestUpstreamPebble runs certgate as a gateway in front of an upstream
// ACME CA, Debian's pebble (docs/issuers.md): a profile whose issuer is the
// pebble upstream; lego and certbot (Debian's) order from certgate, which
// validates lego's http-01 itself and sends the CSR to pebble. The
// certificate must chain to pebble's root, be in certgate's inventory
// under the upstream's name and serial, and its revocation must reach
// pebble (lego's revoke, certgate cert revoke). With pebble stopped, an
// order fails with a problem naming the upstream and nothing is stored, and
// a revocation through the admin API is 502 and records nothing.
func TestUpstreamPebble(t *testing.T) {
	t.Parallel()
	requireTool(t, "lego", "lego")
	requireTool(t, "pebble", "pebble")
	requireTool(t, "certbot", "certbot")
	if serverKind != "certgate" {
		t.Skip("certgate's issuers-file exists only on certgate") // the harness's pebble mode only
	}
	// The upstream authorizes every name (an enterprise CA's
	// pre-authorized account): PEBBLE_VA_ALWAYS_VALID.
	up := startPebbleEnv(t, "PEBBLE_VA_ALWAYS_VALID=1")
	dir := t.TempDir()
	s, issuersFile := startGateway(t, up, dir)

	// A profile naming an issuer that does not exist is refused, naming
	// those that do: without the server's issuers-file, only local.
	_, out, err := runErr(t, cmdSpec{Name: "certgate profile create (no issuers-file)",
		Args: []string{certgateBin, "profile", "create", "gw", "--issuer", "upstream-pebble", "--data", s.Data}})
	if err == nil || !strings.Contains(out, `issuer "upstream-pebble" does not exist; the issuers are local`) {
		t.Fatalf("profile create with an unknown issuer: %v\n%s\nwant a refusal naming the issuers", err, out)
	}
	certgateCLI(t, s, "profile", "create", "gw", "--issuer", "upstream-pebble", "--issuers-file", issuersFile)
	gwDir := strings.Replace(s.DirURL, "/acme/directory", "/acme/gw/directory", 1)
	waitDirectory(t, s, gwDir)

	path := filepath.Join(t.TempDir(), "lego")
	env := []string{"LEGO_CA_CERTIFICATES=" + s.TrustFile}
	httpAddr := "127.0.0.1:" + strconv.Itoa(s.HTTPPort)
	const name = "gw.example.test"
	run(t, cmdSpec{Name: "lego run via upstream", Env: env, Args: legoArgs(gwDir, path, "e2e@example.test",
		"--key-type", "ec256", "--domains", name, "--http", "--http.port", httpAddr, "run")})
	certFile := filepath.Join(path, "certificates", name+".crt")
	chain, err := parsePEMCerts(readFile(t, certFile))
	if err != nil || len(chain) < 2 {
		t.Fatalf("lego's certificate file: %d certificates, %v; want the leaf and pebble's intermediate", len(chain), err)
	}
	leaf := chain[0]
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(readFile(t, up.RootFile)) {
		t.Fatal("no pebble root")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name}); err != nil {
		t.Fatalf("the certificate does not chain to pebble's root: %v", err)
	}
	serial := fmt.Sprintf("%x", leaf.SerialNumber)
	var rec struct {
		Serial, Issuer, Status, Profile, Source string
	}
	if err := json.Unmarshal(certgateCLI(t, s, "cert", "show", serial, "--format", "json"), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Serial != serial || rec.Issuer != "upstream-pebble" || rec.Status != "valid" || rec.Profile != "gw" || rec.Source != "issued" {
		t.Fatalf("inventory record %+v; want serial %s, issuer upstream-pebble, valid, profile gw, issued", rec, serial)
	}
	if fi, err := os.Stat(filepath.Join(s.Data, "issuers", "upstream-pebble", "account.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("upstream account key: %v, %v; want a file of mode 0600", fi, err)
	}

	// Revocation through certgate reaches pebble.
	run(t, cmdSpec{Name: "lego revoke via upstream", Env: env, Args: legoArgs(gwDir, path, "e2e@example.test",
		"--domains", name, "revoke", "--reason", "4")})
	assertRevokedPebble(t, up, &issued{Leaf: leaf, File: certFile})
	if err := json.Unmarshal(certgateCLI(t, s, "cert", "show", serial, "--format", "json"), &rec); err != nil || rec.Status != "revoked" {
		t.Fatalf("inventory record after revocation: %+v, %v; want revoked", rec, err)
	}
	// certgate cert revoke sends it upstream too, with the server's
	// issuers-file; without it, it refuses rather than record a
	// revocation the upstream does not know.
	const name2 = "gw2.example.test"
	run(t, cmdSpec{Name: "lego run via upstream (2)", Env: env, Args: legoArgs(gwDir, path, "e2e@example.test",
		"--key-type", "ec256", "--domains", name2, "--http", "--http.port", httpAddr, "run")})
	cert2File := filepath.Join(path, "certificates", name2+".crt")
	chain2, err := parsePEMCerts(readFile(t, cert2File))
	if err != nil {
		t.Fatal(err)
	}
	serial2 := fmt.Sprintf("%x", chain2[0].SerialNumber)
	_, out, err = runErr(t, cmdSpec{Name: "certgate cert revoke (no issuers-file)",
		Args: []string{certgateBin, "cert", "revoke", serial2, "--data", s.Data}})
	if err == nil || !strings.Contains(out, "was issued by upstream CA upstream-pebble, which --issuers-file does not configure") {
		t.Fatalf("cert revoke without the issuers-file: %v\n%s\nwant a refusal", err, out)
	}
	// Its stdout is its answer alone: lego registering the upstream
	// account printed "Registering the account." there.
	if out := string(certgateCLI(t, s, "cert", "revoke", serial2, "--reason", "superseded", "--issuers-file", issuersFile)); out != "revoked "+serial2+" (superseded)\n" {
		t.Errorf("certgate cert revoke printed %q, want only its answer", out)
	}
	assertRevokedPebble(t, up, &issued{Leaf: chain2[0], File: cert2File})
	auditOut := string(certgateCLI(t, s, "audit", "list", "--format", "json"))
	if !strings.Contains(auditOut, `"certificate.issue"`) || !strings.Contains(auditOut, serial) {
		t.Errorf("audit log lacks the issuance of %s:\n%s", serial, auditOut)
	}

	// Debian's certbot through the gateway too.
	cbDir := t.TempDir()
	logFileOnFailure(t, certbotLog(cbDir), 300)
	const cbName = "gw-certbot.example.test"
	run(t, certbotCmd("certonly via upstream", s.TrustFile, gwDir, cbDir, certbotStandalone(s.HTTPPort,
		"certonly", "--agree-tos", "--register-unsafely-without-email", "-d", cbName)...))
	cb, err := parsePEMCerts(readFile(t, filepath.Join(cbDir, "config", "live", cbName, "fullchain.pem")))
	if err != nil || len(cb) < 2 {
		t.Fatalf("certbot's fullchain.pem: %d certificates, %v", len(cb), err)
	}
	inter = x509.NewCertPool()
	for _, c := range cb[1:] {
		inter.AddCert(c)
	}
	if _, err := cb[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: cbName}); err != nil {
		t.Fatalf("certbot's certificate does not chain to pebble's root: %v", err)
	}

	// Pebble restarted knows no account: certgate registers its account
	// again (the upstream's accountDoesNotExist) and the order is issued,
	// rather than failing until certgate restarts.
	up.restartPebble()
	const name3 = "gw-again.example.test"
	run(t, cmdSpec{Name: "lego run via upstream (restarted)", Env: env, Args: legoArgs(gwDir, path, "e2e@example.test",
		"--key-type", "ec256", "--domains", name3, "--http", "--http.port", httpAddr, "run")})
	if _, err := parsePEMCerts(readFile(t, filepath.Join(path, "certificates", name3+".crt"))); err != nil {
		t.Fatalf("lego's certificate after the upstream restarted: %v", err)
	}

	// Pebble stopped: the order fails with a problem naming the
	// upstream, and no certificate is stored.
	before := certgateCLI(t, s, "cert", "list", "--format", "json")
	up.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const down = "gw-down.example.test"
	c, o := readyGatewayOrder(ctx, t, s, gwDir, dir, down)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{down}}, newP256(t))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	var oe *xacme.OrderError
	var ae *xacme.Error
	switch {
	case errors.As(err, &oe):
		o, gerr := c.GetOrder(ctx, o.URI)
		if gerr != nil || o.Error == nil {
			t.Fatalf("order after the failure: %+v, %v; want its error", o, gerr)
		}
		ae = o.Error
	case errors.As(err, &ae):
	default:
		t.Fatalf("finalize with the upstream down: %v; want an order error", err)
	}
	if ae.ProblemType != "urn:ietf:params:acme:error:serverInternal" || !strings.Contains(ae.Detail, "upstream CA upstream-pebble") {
		t.Fatalf("order error %s: %q; want serverInternal naming upstream CA upstream-pebble", ae.ProblemType, ae.Detail)
	}
	if after := certgateCLI(t, s, "cert", "list", "--format", "json"); string(after) != string(before) {
		t.Fatalf("the failed order changed the inventory:\nbefore %s\nafter %s", before, after)
	}

	// A revocation through the admin API that cannot reach the upstream is
	// 502 with the upstream named, and the certificate stays valid.
	token := strings.TrimSpace(string(certgateCLI(t, s, "token", "create", "--role", "admin", "--name", "e2e")))
	cbSerial := fmt.Sprintf("%x", cb[0].SerialNumber)
	req, _ := http.NewRequest(http.MethodPost, "https://"+s.addr+"/api/v1/certificates/"+cbSerial+"/revoke", strings.NewReader(`{"reason":"superseded"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "upstream CA upstream-pebble did not revoke the certificate") {
		t.Fatalf("admin API revoke with the upstream down: %s %s; want 502 naming the upstream", resp.Status, body)
	}
	if err := json.Unmarshal(certgateCLI(t, s, "cert", "show", cbSerial, "--format", "json"), &rec); err != nil || rec.Status != "valid" {
		t.Fatalf("inventory record after a refused revocation: %+v, %v; want valid", rec, err)
	}
}

// waitDirectory waits until certgate serves the directory url (a profile
// created by another process shows within the profile cache's 2 s).
func waitDirectory(t *testing.T, s *acmeServer, url string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := s.client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not served: %v", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startGateway writes an issuers file in dir naming pebble up as the
// upstream upstream-pebble (preauthorized, timeout 20s) and starts certgate
// with it.
func startGateway(t *testing.T, up *acmeServer, dir string) (s *acmeServer, issuersFile string) {
	t.Helper()
	issuersFile = filepath.Join(dir, "issuers.yaml")
	writeFile(t, issuersFile, fmt.Appendf(nil, `issuers:
  - name: upstream-pebble
    type: acme
    directory: %s
    caBundle: %s
    email: pki@example.test
    challenge: preauthorized
    timeout: 20s
`, up.DirURL, up.TrustFile))
	return startCertgateArgs(t, dnsAddr, "--issuers-file", issuersFile), issuersFile
}

// readyGatewayOrder registers an x/crypto/acme account at certgate's
// directory gwDir and returns it with an order for name made ready by
// http-01 (the response served from a webroot in dir).
func readyGatewayOrder(ctx context.Context, t *testing.T, s *acmeServer, gwDir, dir, name string) (*xacme.Client, *xacme.Order) {
	t.Helper()
	c := &xacme.Client{Key: newP256(t), DirectoryURL: gwDir, HTTPClient: s.client}
	if _, err := c.Register(ctx, &xacme.Account{}, xacme.AcceptTOS); err != nil {
		t.Fatal(err)
	}
	_, chdir := newWebroot(t, dir)
	serveDir(t, s.HTTPPort, "/.well-known/acme-challenge/", chdir)
	o, err := c.AuthorizeOrder(ctx, xacme.DomainIDs(name))
	if err != nil {
		t.Fatal(err)
	}
	o = testenv.AuthorizeHTTP01(ctx, t, c, o, func(token, keyAuth string) {
		writeFile(t, filepath.Join(chdir, token), []byte(keyAuth))
	})
	return c, o
}
