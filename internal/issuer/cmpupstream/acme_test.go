package cmpupstream_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/issuer/cmpupstream"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv"
)

// order has a certificate issued for name through certgate's directory
// dirURL with golang.org/x/crypto/acme (new account, http-01 answered by
// env's responder, finalize with a CSR of certKey) and returns the order's
// URL with the chain (DER, leaf first), or the order's problem.
func order(t *testing.T, env *testenv.Env, dirURL, name string, certKey *ecdsa.PrivateKey) (string, [][]byte, *acme.Error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a guard against a hang
	defer cancel()
	c := &acme.Client{Key: newKey(t), DirectoryURL: dirURL, HTTPClient: env.HTTPClient}
	if _, err := c.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatal(err)
	}
	o, err := c.AuthorizeOrder(ctx, acme.DomainIDs(name))
	if err != nil {
		t.Fatal(err)
	}
	o = env.AuthorizeHTTP01(ctx, t, c, o)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}}, certKey)
	if err != nil {
		t.Fatal(err)
	}
	chain, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	if err == nil {
		return o.URI, chain, nil
	}
	var oe *acme.OrderError
	if !errors.As(err, &oe) {
		t.Fatalf("finalize: %v; want a certificate or an invalid order", err)
	}
	got, gerr := c.GetOrder(ctx, o.URI)
	if gerr != nil || got.Status != acme.StatusInvalid || got.Error == nil {
		t.Fatalf("order after its failure: %+v, %v; want invalid with its problem", got, gerr)
	}
	return o.URI, nil, got.Error
}

// TestCMPThroughACME runs certgate (in-process, on SQLite and on
// PostgreSQL) with issuers of type cmp in front of OpenSSL's mock CMP
// server, which returns the certificate the test made for the client's
// key and names: an ACME order through a profile naming the issuer gets
// that certificate with its intermediate, stored in the inventory under
// the issuer's name, and the CMP server recorded in remote_orders; its
// revocation reaches the CA (rr) and is recorded. A CA that refuses, one
// that cannot be reached, and one that returns a certificate for other
// names each leave the order invalid with a problem naming the issuer;
// the certificate for other names is not stored, and is revoked at the CA
// and audited.
func TestCMPThroughACME(t *testing.T) {
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			dsn := ""
			if eng.Name == store.EnginePostgres {
				dsn = storetest.PostgresDSN(t)
			}
			testCMPThroughACME(t, dsn)
		})
	}
}

func testCMPThroughACME(t *testing.T, dsn string) {
	ca := newTestCA(t)
	dir := t.TempDir()
	secret := writeFile(t, filepath.Join(dir, "secret"), []byte("s3cret-of-the-test\n"))
	srvAuth := []string{"-srv_ref", "certgate-test", "-srv_secret", "file:" + secret}
	const okName, wrongName = "cmp-ok.example.test", "cmp-wrong.example.test"
	okKey, wrongKey := newKey(t), newKey(t)
	okLeaf := ca.leaf(t, okKey.Public(), okName)
	okURL := startMock(t, append(srvAuth, "-rsp_cert", ca.file(t, "ok.pem", okLeaf),
		"-rsp_extracerts", ca.file(t, "inter.pem", ca.inter), "-rsp_capubs", ca.file(t, "root.pem", ca.root))...)
	refuseURL := startMock(t, append(srvAuth, "-rsp_cert", ca.file(t, "ok2.pem", okLeaf),
		"-pkistatus", "2", "-failure", "2", "-statusstring", "names not allowed for this sender")...)
	wrongLeaf := ca.leaf(t, wrongKey.Public(), "other.example.test")
	wrongURL := startMock(t, append(srvAuth, "-rsp_cert", ca.file(t, "wrong.pem", wrongLeaf))...)

	var entries []string
	// openssl tries a refused connection again until its timeout: the
	// unreachable CA's is short.
	for _, e := range []struct{ name, url, timeout string }{{"cmp-ok", okURL, "1m"}, {"cmp-refuse", refuseURL, "1m"}, {"cmp-down", closedPort(t), "3s"}, {"cmp-wrong", wrongURL, "1m"}} {
		entries = append(entries, fmt.Sprintf("  - name: %s\n    type: cmp\n    server: %s\n    ref: certgate-test\n    secretFile: %s\n    recipient: /CN=CMP Test Issuing CA\n    timeout: %s\n",
			e.name, e.url, secret, e.timeout))
	}
	issuersFile := writeFile(t, filepath.Join(dir, "issuers.yaml"), []byte("issuers:\n"+strings.Join(entries, "")))
	issuers, err := issuer.Load(issuersFile, issuer.Env{Data: dir, Log: slog.New(slog.DiscardHandler)}, cmpupstream.Connector())
	if err != nil {
		t.Fatal(err)
	}
	env := testenv.NewWithOptions(t, testenv.Options{DB: dsn, Server: server.Options{Issuers: issuers}})
	st := env.Server.Store()
	ctx := context.Background()
	admin, _, err := auth.NewTokens(st, audit.New(st, nil), nil).Create(ctx, auth.CreateRequest{Name: "admin", Role: auth.RoleAdmin, Actor: "cli:test"})
	if err != nil {
		t.Fatal(err)
	}
	dirURL := map[string]string{}
	for _, name := range []string{"cmp-ok", "cmp-refuse", "cmp-down", "cmp-wrong"} {
		req, _ := http.NewRequest("POST", env.BaseURL+"/api/v1/profiles", strings.NewReader(`{"name":"`+name+`","validity":"30d","issuer":"`+name+`"}`))
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := env.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create profile %s: %s", name, resp.Status)
		}
		dirURL[name] = env.BaseURL + "/acme/" + name + "/directory"
	}

	// Issued: the CA's certificate, with its intermediate, in the
	// inventory under the issuer's name; the CMP server recorded.
	orderURL, chain, prob := order(t, env, dirURL["cmp-ok"], okName, okKey)
	if prob != nil {
		t.Fatalf("order through the CMP issuer: %v", prob)
	}
	if len(chain) != 2 || string(chain[0]) != string(okLeaf.Raw) || string(chain[1]) != string(ca.inter.Raw) {
		t.Fatalf("chain of %d certificates; want the CMP server's certificate and the intermediate", len(chain))
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.root)
	inter := x509.NewCertPool()
	inter.AddCert(ca.inter)
	if _, err := okLeaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: okName}); err != nil {
		t.Fatal(err)
	}
	serial := okLeaf.SerialNumber.Text(16)
	rec, err := st.GetCertificate(ctx, serial)
	if err != nil || rec.Issuer != "cmp-ok" || rec.Status != store.StatusValid || rec.Profile != "cmp-ok" {
		t.Fatalf("inventory record %+v, %v; want issuer cmp-ok, valid, profile cmp-ok", rec, err)
	}
	ro, err := st.GetRemoteOrder(ctx, orderURL[strings.LastIndex(orderURL, "/")+1:])
	if err != nil || ro.Issuer != "cmp-ok" || ro.UpstreamOrder != okURL || ro.UpstreamAccount != "ref certgate-test" {
		t.Fatalf("remote order %+v, %v; want the CMP server %s and the sender", ro, err, okURL)
	}

	// Revoked through ACME (signed with the certificate's key): forwarded
	// to the CA (rr), then recorded.
	rc := &acme.Client{Key: okKey, DirectoryURL: dirURL["cmp-ok"], HTTPClient: env.HTTPClient}
	if err := rc.RevokeCert(ctx, okKey, okLeaf.Raw, acme.CRLReasonSuperseded); err != nil {
		t.Fatalf("revocation through the CMP issuer: %v", err)
	}
	if rec, err := st.GetCertificate(ctx, serial); err != nil || rec.Status != store.StatusRevoked {
		t.Fatalf("inventory record after revocation %+v, %v; want revoked", rec, err)
	}

	// Refused, unreachable: invalid, the issuer named, nothing stored.
	for _, tc := range []struct{ profile, want string }{
		{"cmp-refuse", `upstream CA cmp-refuse (CMP) did not issue the certificate: the CA refused: PKIStatus: rejection; PKIFailureInfo: badRequest; StatusString: "names not allowed for this sender"`},
		{"cmp-down", "upstream CA cmp-down (CMP) did not issue the certificate: it could not be reached or did not answer within 3s; try again later"},
	} {
		_, chain, prob := order(t, env, dirURL[tc.profile], okName, newKey(t))
		if chain != nil || prob == nil || prob.ProblemType != "urn:ietf:params:acme:error:serverInternal" || !strings.Contains(prob.Detail, tc.want) {
			t.Errorf("%s: chain %d certificates, problem %v; want serverInternal containing %q", tc.profile, len(chain), prob, tc.want)
		}
	}

	// A certificate for other names: not served nor stored, revoked at
	// the CA and audited.
	_, chain, prob = order(t, env, dirURL["cmp-wrong"], wrongName, wrongKey)
	if chain != nil || prob == nil || !strings.Contains(prob.Detail, "upstream CA cmp-wrong returned a certificate for other.example.test, not the order's "+wrongName) {
		t.Fatalf("order answered with other names: chain of %d, problem %v; want it refused", len(chain), prob)
	}
	if _, err := st.GetCertificate(ctx, wrongLeaf.SerialNumber.Text(16)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused certificate's record: %v; want none", err)
	}
	evs, err := st.ListAudit(ctx, store.AuditFilter{Action: audit.ActionCertificateUpstreamRefused})
	if err != nil || len(evs) != 1 || evs[0].ObjectID != wrongLeaf.SerialNumber.Text(16) || !strings.Contains(evs[0].After, `"revoked_upstream":true`) {
		t.Fatalf("audit of the refused certificate: %+v, %v; want one event, revoked at the CA", evs, err)
	}
}

// TestCMPSignedRequests: with a signer certificate and an encrypted key
// (its pass phrase in keyPassFile) instead of a shared secret, and the
// CA's signer certificate pinned (srvCert), the connector enrolls at
// OpenSSL's mock CMP server, which checks the requests' signatures
// against the test's root, and revokes there.
func TestCMPSignedRequests(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	dir := t.TempDir()
	clientKey, srvKey, certKey := newKey(t), newKey(t), newKey(t)
	clientCert := ca.file(t, "client.pem", ca.leaf(t, clientKey.Public(), "certgate-cmp-client"), ca.inter)
	srvCert := ca.file(t, "srv.pem", ca.leaf(t, srvKey.Public(), "cmp-server"))
	leaf := ca.leaf(t, certKey.Public(), "signed.example.test")
	url := startMock(t, "-srv_cert", srvCert, "-srv_key", keyFile(t, filepath.Join(dir, "srv.key"), srvKey),
		"-srv_trusted", ca.file(t, "root.pem", ca.root), "-srv_untrusted", ca.file(t, "inter.pem", ca.inter),
		"-rsp_cert", ca.file(t, "leaf.pem", leaf), "-rsp_extracerts", ca.file(t, "inter2.pem", ca.inter))

	pass := writeFile(t, filepath.Join(dir, "key.pass"), []byte("pass phrase of the test\n"))
	plain := keyFile(t, filepath.Join(dir, "client.key"), clientKey)
	encrypted := filepath.Join(dir, "client.enc.key")
	if out, err := exec.Command("openssl", "pkey", "-in", plain, "-aes256", "-passout", "file:"+pass, "-out", encrypted).CombinedOutput(); err != nil {
		t.Fatalf("encrypt the client key: %v\n%s", err, out)
	}
	is, err := cmpupstream.New(cmpupstream.Config{Name: "cmp-signed", Server: url, Cert: clientCert, Key: encrypted, KeyPassFile: pass, SrvCert: srvCert, Timeout: "1m"},
		issuer.Env{Data: dir})
	if err != nil {
		t.Fatal(err)
	}
	enrollAndRevoke(t, is, certKey, "signed.example.test", leaf, "with signed requests")
}

// enrollAndRevoke enrolls a CSR for name by certKey through is, checks that
// the answer is leaf (the mock server's -rsp_cert) with one intermediate,
// and revokes it (superseded); failures name how (e.g. "over https").
func enrollAndRevoke(t *testing.T, is *cmpupstream.Issuer, certKey *ecdsa.PrivateKey, name string, leaf *x509.Certificate, how string) {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, certKey)
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := x509.ParseCertificateRequest(der)
	ctx := context.Background()
	out, err := is.Issue(ctx, issuer.IssueRequest{CSR: csr})
	if err != nil {
		t.Fatalf("enrollment %s: %v", how, err)
	}
	if string(out.DER) != string(leaf.Raw) || strings.Count(string(out.ChainPEM), "BEGIN CERTIFICATE") != 2 {
		t.Fatalf("enrolled certificate: not the CA's, or a chain without the intermediate:\n%s", out.ChainPEM)
	}
	if err := is.Revoke(ctx, leaf.Raw, 4); err != nil {
		t.Fatalf("revocation %s: %v", how, err)
	}
}

// TestCMPRefusalTypes: a CA refusing with failInfo badCertTemplate gives
// the client badCSR (it can change its CSR), with the CA's status string;
// a CA answering an rr with failInfo certRevoked has the certificate
// revoked already, which is no error.
func TestCMPRefusalTypes(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	dir := t.TempDir()
	secret := writeFile(t, filepath.Join(dir, "secret"), []byte("s3cret-of-the-test\n"))
	certKey := newKey(t)
	leaf := ca.leaf(t, certKey.Public(), "refused.example.test")
	connect := func(url string) *cmpupstream.Issuer {
		is, err := cmpupstream.New(cmpupstream.Config{Name: "cmp-refusing", Server: url, Ref: "certgate-test", SecretFile: secret, Timeout: "1m"}, issuer.Env{Data: dir})
		if err != nil {
			t.Fatal(err)
		}
		return is
	}
	srvAuth := []string{"-srv_ref", "certgate-test", "-srv_secret", "file:" + secret, "-rsp_cert", ca.file(t, "leaf.pem", leaf), "-pkistatus", "2"}
	badTemplate := connect(startMock(t, append(srvAuth, "-failure", "19", "-statusstring", "key usage not allowed")...))
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"refused.example.test"}}, certKey)
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := x509.ParseCertificateRequest(der)
	ctx := context.Background()
	_, err = badTemplate.Issue(ctx, issuer.IssueRequest{CSR: csr})
	if err == nil || !strings.Contains(err.Error(), "urn:ietf:params:acme:error:badCSR") || !strings.Contains(err.Error(), `PKIFailureInfo: badCertTemplate; StatusString: "key usage not allowed"`) {
		t.Fatalf("Issue at a CA refusing the template: %v; want badCSR with the CA's status", err)
	}
	revoked := connect(startMock(t, append(srvAuth, "-failure", "10")...))
	if err := revoked.Revoke(ctx, leaf.Raw, 1); err != nil {
		t.Fatalf("Revoke of a certificate the CA revoked already: %v; want no error", err)
	}
	if err := badTemplate.Revoke(ctx, leaf.Raw, 1); err == nil || !strings.Contains(err.Error(), "did not revoke the certificate: the CA refused") {
		t.Fatalf("Revoke refused by the CA: %v; want its refusal", err)
	}
}
