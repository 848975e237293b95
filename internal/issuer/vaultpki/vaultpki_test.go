package vaultpki_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/issuer/vaultpki"
)

// load writes body as an issuers file and loads it with this connector.
func load(t *testing.T, body string) ([]issuer.Issuer, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "issuers.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return issuer.Load(path, issuer.Env{Data: filepath.Join(dir, "data")}, vaultpki.Connector())
}

// writeSecret writes s to a new file of mode 0600 and returns its path.
func writeSecret(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoad: a valid entry becomes a Remote and Revoker issuer of its name
// and timeout, and each mistake stops the load with one line naming the
// key at fault.
func TestLoad(t *testing.T) {
	tok := writeSecret(t, "s.x")
	iss, err := load(t, "issuers:\n  - name: vault-pki\n    type: vault\n    address: https://vault.example.test:8200\n    role: web\n    tokenFile: "+tok+"\n    timeout: 45s\n")
	if err != nil || len(iss) != 1 || iss[0].Name() != "vault-pki" {
		t.Fatalf("load: %v, %v", iss, err)
	}
	if rm, ok := iss[0].(issuer.Remote); !ok || rm.IssueTimeout().Seconds() != 45 {
		t.Fatalf("issuer %T is not a Remote with the 45s timeout", iss[0])
	}
	if _, ok := iss[0].(issuer.Revoker); !ok {
		t.Fatal("issuer is not a Revoker")
	}
	if _, ok := iss[0].(issuer.MustStapler); ok {
		t.Fatal("issuer claims must-staple, which Vault's sign endpoint cannot promise")
	}
	if p := iss[0].(*vaultpki.Issuer).SignPath(); p != "pki/sign/web" {
		t.Fatalf("sign path %q; want the default mount pki", p)
	}
	const head = "issuers:\n  - name: v\n    type: vault\n"
	const addr = "    address: https://vault.example.test:8200\n"
	for name, tc := range map[string]struct{ body, want string }{
		"http address":  {head + "    address: http://vault.example.test:8200\n    role: web\n    tokenFile: " + tok + "\n", `address: "http://vault.example.test:8200" is not an https URL`},
		"no role":       {head + addr + "    tokenFile: " + tok + "\n", "role is missing"},
		"role path":     {head + addr + "    role: a/b\n    tokenFile: " + tok + "\n", `role: "a/b" is not a Vault path segment`},
		"mount path":    {head + addr + "    mount: /pki/\n    role: web\n    tokenFile: " + tok + "\n", `mount: "/pki/" is not a Vault path segment`},
		"no creds":      {head + addr + "    role: web\n", "no credentials: give tokenFile, or roleId and secretIdFile"},
		"both creds":    {head + addr + "    role: web\n    tokenFile: " + tok + "\n    roleId: r\n    secretIdFile: " + tok + "\n", "give one way to authenticate, not both"},
		"half approle":  {head + addr + "    role: web\n    roleId: r\n", "roleId and secretIdFile: give both"},
		"format":        {head + addr + "    role: web\n    tokenFile: " + tok + "\n    format: der\n", `format: "der" is not pem or pem_bundle`},
		"ttl":           {head + addr + "    role: web\n    tokenFile: " + tok + "\n    ttl: long\n", `ttl: "long" is not a positive duration`},
		"timeout":       {head + addr + "    role: web\n    tokenFile: " + tok + "\n    timeout: -1s\n", `timeout: "-1s" is not a positive duration`},
		"ca bundle":     {head + addr + "    role: web\n    tokenFile: " + tok + "\n    caBundle: /nonexistent/ca.pem\n", "caBundle:"},
		"unknown key":   {head + addr + "    role: web\n    token: s.x\n", `line 6: unknown key "token" (the keys are name, type, address, mount, role, namespace, caBundle, tokenFile, roleId, secretIdFile, approleMount, format, ttl, timeout`},
		"unknown type":  {"issuers:\n  - name: v\n    type: vaulty\n", `type "vaulty" is not one of vault`},
		"wrong value":   {head + addr + "    role: [a, b]\n", "line 5: cannot unmarshal !!seq into string"},
		"approle mount": {head + addr + "    role: web\n    roleId: r\n    secretIdFile: " + tok + "\n    approleMount: ../x\n", `approleMount: "../x" is not a Vault path segment`},
	} {
		if _, err := load(t, tc.body); err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v; want one line containing %q", name, err, tc.want)
		}
	}
}

// csrFor makes a CSR for names (DNS names or IP addresses) with a new
// P-256 key, CN the first name.
func csrFor(t *testing.T, names ...string) (*x509.CertificateRequest, issuer.IssueRequest) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}}
	req := issuer.IssueRequest{PublicKey: key.Public()}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			req.IPAddresses = append(req.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
			req.DNSNames = append(req.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := x509.ParseCertificateRequest(der)
	req.CSR = csr
	return csr, req
}

// newIssuer makes an issuer of c against the stand-in v, logging to log
// (nil: discarded).
func newIssuer(t *testing.T, v *standIn, c vaultpki.Config, log *bytes.Buffer) *vaultpki.Issuer {
	t.Helper()
	c.Name, c.Type, c.Address, c.CABundle = "vault-test", vaultpki.Type, v.URL(), v.CABundle
	if c.Role == "" {
		c.Role = "web"
	}
	env := issuer.Env{Data: t.TempDir()}
	if log != nil {
		env.Log = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	is, err := vaultpki.New(c, env)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// TestIssueRevoke: with a token file, the CSR goes to pki/sign/web with
// the order's names as common_name, alt_names and ip_sans, the entry's
// format and ttl, the token and namespace headers; the leaf and the
// intermediate come back without the root, in both formats; the record
// of the request is handed to Placed first; revocation sends the
// certificate's serial in Vault's colon form; the token never reaches the
// log.
func TestIssueRevoke(t *testing.T) {
	v := newStandIn(t, "example.test")
	v.namespace = "team-a"
	var log bytes.Buffer
	for _, format := range []string{"", vaultpki.FormatPEMBundle} {
		is := newIssuer(t, v, vaultpki.Config{TokenFile: writeSecret(t, "s.static-token\n"), Namespace: "team-a", Format: format, TTL: "2d"}, &log)
		_, req := csrFor(t, "www.example.test", "api.example.test", "192.0.2.7")
		var placed []issuer.RemoteOrder
		before := get(v, func(v *standIn) int { return len(v.signs) })
		req.Placed = func(_ context.Context, o issuer.RemoteOrder) error {
			if n := get(v, func(v *standIn) int { return len(v.signs) }); n != before {
				t.Errorf("Placed after the sign request")
			}
			placed = append(placed, o)
			return nil
		}
		out, err := is.Issue(context.Background(), req)
		if err != nil {
			t.Fatalf("format %q: %v", format, err)
		}
		if len(placed) != 1 || placed[0].OrderURL != v.URL()+"/v1/pki/sign/web" {
			t.Fatalf("Placed got %+v; want the sign URL once", placed)
		}
		leaf, err := x509.ParseCertificate(out.DER)
		if err != nil {
			t.Fatal(err)
		}
		var chain []*x509.Certificate
		for rest := out.ChainPEM; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			c, _ := x509.ParseCertificate(b.Bytes)
			chain = append(chain, c)
		}
		if len(chain) != 2 || !chain[0].Equal(leaf) || chain[1].Subject.CommonName != "Stand-in Vault Intermediate" {
			t.Fatalf("format %q: chain of %d; want the leaf and the intermediate (no root)", format, len(chain))
		}
		roots := x509.NewCertPool()
		roots.AddCert(v.Root)
		inters := x509.NewCertPool()
		inters.AddCert(chain[1])
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: "api.example.test"}); err != nil {
			t.Fatal(err)
		}
		body := get(v, func(v *standIn) map[string]any { return v.signs[len(v.signs)-1] })
		want := map[string]any{"common_name": "www.example.test", "alt_names": "www.example.test,api.example.test", "ip_sans": "192.0.2.7", "ttl": "172800s"}
		for k, w := range want {
			if body[k] != w {
				t.Errorf("sign %s = %v; want %v", k, body[k], w)
			}
		}
		if wf := map[string]string{"": "pem", vaultpki.FormatPEMBundle: "pem_bundle"}[format]; body["format"] != wf {
			t.Errorf("sign format %v; want %s", body["format"], wf)
		}
		if err := is.Revoke(context.Background(), out.DER, 4); err != nil {
			t.Fatal(err)
		}
		if got := get(v, func(v *standIn) []string { return v.revoked }); len(got) == 0 || got[len(got)-1] != vaultpki.SerialNumber(leaf) || !strings.Contains(got[len(got)-1], ":") {
			t.Fatalf("revoked %v; want %s", got, vaultpki.SerialNumber(leaf))
		}
	}
	for _, ns := range get(v, func(v *standIn) []string { return v.namespaces }) {
		if ns != "team-a" {
			t.Fatalf("a request without the namespace header: %q", ns)
		}
	}
	if strings.Contains(log.String(), "static-token") {
		t.Fatal("the token reached the log")
	}
}

// TestAppRole: the AppRole login's token signs; it is reused; when Vault
// refuses it (403: expired or revoked) the connector logs in again once
// and repeats the request; a wrong secret_id is a serverInternal problem
// naming the issuer and the login, and no sign request is sent.
func TestAppRole(t *testing.T) {
	v := newStandIn(t)
	var log bytes.Buffer
	is := newIssuer(t, v, vaultpki.Config{RoleID: "role-1", SecretIDFile: writeSecret(t, "secret-1")}, &log)
	for range 2 {
		_, req := csrFor(t, "a.example.test")
		if _, err := is.Issue(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if n := get(v, func(v *standIn) int { return v.logins }); n != 1 {
		t.Fatalf("%d logins for two issuances; want one", n)
	}
	toks := get(v, func(v *standIn) []string { return v.signTokens })
	if len(toks) != 2 || toks[0] != toks[1] || !strings.HasPrefix(toks[0], "s.approle-") {
		t.Fatalf("sign tokens %v; want the login's token twice", toks)
	}
	// The token is revoked at Vault: 403, a new login, the request again.
	v.set(func(v *standIn) { delete(v.tokens, toks[0]) })
	_, req := csrFor(t, "b.example.test")
	if _, err := is.Issue(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if n := get(v, func(v *standIn) int { return v.logins }); n != 2 {
		t.Fatalf("%d logins after the token was revoked; want 2", n)
	}
	if strings.Contains(log.String(), "secret-1") || strings.Contains(log.String(), "s.approle-") {
		t.Fatal("a secret_id or token reached the log")
	}

	bad := newIssuer(t, v, vaultpki.Config{RoleID: "role-1", SecretIDFile: writeSecret(t, "wrong")}, nil)
	signs := get(v, func(v *standIn) int { return len(v.signs) })
	_, req = csrFor(t, "c.example.test")
	_, err := bad.Issue(context.Background(), req)
	if p, ok := acme.AsProblem(err); !ok || p.Type != acme.ServerInternal ||
		!strings.Contains(p.Detail, "Vault issuer vault-test could not authenticate: AppRole login answered HTTP 400: invalid role or secret ID") {
		t.Fatalf("wrong secret_id: %v", err)
	}
	if n := get(v, func(v *standIn) int { return len(v.signs) }); n != signs {
		t.Fatal("a sign request was sent without a token")
	}
}

// TestErrors: Vault's errors array becomes the ACME problem naming the
// issuer, typed by what the client can change (a name the role does not
// allow: rejectedIdentifier; 429: rateLimited; permission denied and
// others: serverInternal); an unreachable Vault and an unreadable token
// file are serverInternal without internals; a revocation Vault refuses
// is its problem.
func TestErrors(t *testing.T) {
	v := newStandIn(t, "example.test")
	is := newIssuer(t, v, vaultpki.Config{TokenFile: writeSecret(t, "s.static-token")}, nil)
	issue := func(names ...string) *acme.Problem {
		t.Helper()
		_, req := csrFor(t, names...)
		out, err := is.Issue(context.Background(), req)
		p, ok := acme.AsProblem(err)
		if !ok || out != nil {
			t.Fatalf("Issue %v: %v, %v; want a problem", names, out, err)
		}
		return p
	}
	if p := issue("www.other.test"); p.Type != acme.RejectedIdentifier ||
		p.Detail != "Vault issuer vault-test did not issue the certificate: sign answered HTTP 400: common name www.other.test not allowed by this role" {
		t.Fatalf("name outside the role: %+v", p)
	}
	v.set(func(v *standIn) {
		v.fail = &vaultFail{status: 429, errors: []string{"request path \"pki/sign/web\": rate limit quota exceeded"}}
	})
	if p := issue("a.example.test"); p.Type != acme.RateLimited || !strings.Contains(p.Detail, "HTTP 429: request path \"pki/sign/web\": rate limit quota exceeded") {
		t.Fatalf("rate limited: %+v", p)
	}
	v.set(func(v *standIn) {
		v.fail = &vaultFail{status: 500, errors: []string{"1 error occurred:\n\t* internal error\n\n"}}
	})
	if p := issue("a.example.test"); p.Type != acme.ServerInternal || !strings.Contains(p.Detail, "sign answered HTTP 500: 1 error occurred: * internal error") {
		t.Fatalf("internal error: %+v", p)
	}
	// An answer that is no JSON: Vault was reached, its answer could
	// not be used (it said "could not be reached").
	for _, raw := range []string{"<html>maintenance</html>", `{"data": {`, " \n"} {
		v.set(func(v *standIn) { v.fail = &vaultFail{status: 200, raw: raw} })
		if p := issue("a.example.test"); p.Type != acme.ServerInternal || !strings.Contains(p.Detail, "Vault's answer could not be used") {
			t.Fatalf("an answer %q that is no JSON object: %+v", raw, p)
		}
	}
	v.set(func(v *standIn) { v.fail = nil })

	denied := newIssuer(t, v, vaultpki.Config{TokenFile: writeSecret(t, "s.unknown")}, nil)
	_, req := csrFor(t, "a.example.test")
	_, err := denied.Issue(context.Background(), req)
	if p, ok := acme.AsProblem(err); !ok || p.Type != acme.ServerInternal || !strings.HasSuffix(p.Detail, "sign answered HTTP 403: permission denied") {
		t.Fatalf("unknown token: %v", err)
	}
	noFile := newIssuer(t, v, vaultpki.Config{TokenFile: "/nonexistent/token"}, nil)
	_, err = noFile.Issue(context.Background(), req)
	if p, ok := acme.AsProblem(err); !ok || p.Type != acme.ServerInternal || !strings.Contains(p.Detail, "could not read its Vault credentials") {
		t.Fatalf("missing token file: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	down, err := vaultpki.New(vaultpki.Config{Name: "vault-down", Address: "https://" + ln.Addr().String(), Role: "web", TokenFile: writeSecret(t, "s.static-token"), Timeout: "5s"},
		issuer.Env{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = down.Issue(context.Background(), req)
	if p, ok := acme.AsProblem(err); !ok || p.Type != acme.ServerInternal || !strings.Contains(p.Detail, "Vault issuer vault-down did not issue the certificate: Vault could not be reached") {
		t.Fatalf("Vault down: %v", err)
	}

	_, req = csrFor(t, "r.example.test")
	out, err := is.Issue(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	v.set(func(v *standIn) { v.revokeFail = &vaultFail{status: 403, errors: []string{"permission denied"}} })
	err = is.Revoke(context.Background(), out.DER, 1)
	if p, ok := acme.AsProblem(err); !ok || p.Type != acme.ServerInternal || p.Detail != "Vault issuer vault-test did not revoke the certificate: revoke answered HTTP 403: permission denied" {
		t.Fatalf("revocation refused: %v", err)
	}

	// Resume cannot find an outcome at Vault: a problem saying so.
	_, err = is.Resume(context.Background(), issuer.RemoteOrder{OrderURL: v.URL() + "/v1/pki/sign/web"})
	if p, ok := acme.AsProblem(err); !ok || !strings.Contains(p.Detail, "interrupted while Vault issuer vault-test was asked to sign") {
		t.Fatalf("Resume: %v", err)
	}
}

// TestEnvironmentIgnored: the VAULT_* variables Vault's client library
// reads change nothing: not the address, the token, the namespace,
// response wrapping nor the retries (a failed sign is sent once).
func TestEnvironmentIgnored(t *testing.T) {
	v := newStandIn(t)
	t.Setenv("VAULT_ADDR", "https://127.0.0.2:1")
	t.Setenv("VAULT_TOKEN", "s.env-token")
	t.Setenv("VAULT_NAMESPACE", "env-ns")
	t.Setenv("VAULT_WRAP_TTL", "5m")
	t.Setenv("VAULT_MAX_RETRIES", "5")
	is := newIssuer(t, v, vaultpki.Config{TokenFile: writeSecret(t, "s.static-token")}, nil)
	_, req := csrFor(t, "a.example.test")
	if _, err := is.Issue(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if toks := get(v, func(v *standIn) []string { return v.signTokens }); len(toks) != 1 || toks[0] != "s.static-token" {
		t.Fatalf("sign tokens %v; want the token file's", toks)
	}
	for i, ns := range get(v, func(v *standIn) []string { return v.namespaces }) {
		if ns != "" || get(v, func(v *standIn) string { return v.wrapTTLs[i] }) != "" {
			t.Fatalf("request %d: namespace %q, wrap TTL %q from the environment", i, ns, v.wrapTTLs[i])
		}
	}
	v.set(func(v *standIn) { v.fail = &vaultFail{status: 503, errors: []string{"Vault is sealed"}} })
	_, req = csrFor(t, "b.example.test")
	if _, err := is.Issue(context.Background(), req); err == nil {
		t.Fatal("a sealed Vault issued")
	}
	if n := get(v, func(v *standIn) int { return len(v.signs) }); n != 2 {
		t.Fatalf("%d sign requests; want 2 (the failed one not retried)", n)
	}
}

// TestIPOnly: an order of IP addresses only is sent without common_name
// (the role needs require_cn=false), with ip_sans and no alt_names.
func TestIPOnly(t *testing.T) {
	v := newStandIn(t)
	is := newIssuer(t, v, vaultpki.Config{TokenFile: writeSecret(t, "s.static-token")}, nil)
	_, req := csrFor(t, "192.0.2.9", "2001:db8::9")
	out, err := is.Issue(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	body := get(v, func(v *standIn) map[string]any { return v.signs[0] })
	if _, ok := body["common_name"]; ok || body["alt_names"] != nil || body["ip_sans"] != "192.0.2.9,2001:db8::9" {
		t.Fatalf("sign request %v; want ip_sans only", body)
	}
	leaf, _ := x509.ParseCertificate(out.DER)
	if len(leaf.IPAddresses) != 2 || len(leaf.DNSNames) != 0 {
		t.Fatalf("leaf SANs %v %v", leaf.IPAddresses, leaf.DNSNames)
	}
}

// TestMalformedEnvironment: a VAULT_* environment variable that Vault's
// library cannot parse, which it reads whenever it makes a client, stops
// New with the library's reason and the variable to correct, rather than
// failing every sign and revoke later as "could not authenticate".
func TestMalformedEnvironment(t *testing.T) {
	v := newStandIn(t)
	for name, value := range map[string]string{
		"VAULT_CACERT":      "/nonexistent/ca.pem",
		"VAULT_SKIP_VERIFY": "yes please",
		"VAULT_MAX_RETRIES": "many",
		"VAULT_RATE_LIMIT":  "fast",
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, value)
			_, err := vaultpki.New(vaultpki.Config{Name: "vault-test", Type: vaultpki.Type, Address: v.URL(), CABundle: v.CABundle,
				Role: "web", TokenFile: writeSecret(t, "s.static-token")}, issuer.Env{Data: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), "correct or unset that VAULT_* environment variable") {
				t.Fatalf("New with %s=%q: %v", name, value, err)
			}
		})
	}
}
