package cmpupstream

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer"
)

// testPEM is a self-signed certificate as PEM (any will do: the
// configuration's files are only parsed).
func testPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CMP config"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// load writes body (with DIR replaced by a directory holding secret,
// cert.pem, key.pem and ca.pem) as an issuers file and loads it with
// this connector.
func load(t *testing.T, body string) ([]issuer.Issuer, error) {
	t.Helper()
	dir, cert := t.TempDir(), testPEM(t)
	for name, b := range map[string]string{"secret": "the-secret\n", "empty": "\nsecond line\n", "cert.pem": cert, "key.pem": "key", "ca.pem": cert, "junk.pem": "no certificate",
		"openssl-1.1": "#!/bin/sh\necho 'OpenSSL 1.1.1w  11 Sep 2023'\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "issuers.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(body, "DIR", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	return issuer.Load(path, issuer.Env{Data: dir}, Connector())
}

// TestLoad: a valid entry becomes a Remote and Revoker issuer of its name
// and timeout whose secrets reach openssl as file: sources only; each
// mistake stops the load with one line naming the key at fault.
func TestLoad(t *testing.T) {
	iss, err := load(t, "issuers:\n  - name: ca\n    type: cmp\n    server: http://127.0.0.1:8080/pkix/\n    ref: certgate\n    secretFile: DIR/secret\n    timeout: 45s\n")
	if err != nil || len(iss) != 1 || iss[0].Name() != "ca" {
		t.Fatalf("load: %v, %v", iss, err)
	}
	if rm, ok := iss[0].(issuer.Remote); !ok || rm.IssueTimeout().Seconds() != 45 {
		t.Fatalf("issuer %T is not a Remote with the 45s timeout", iss[0])
	}
	if _, ok := iss[0].(issuer.Revoker); !ok {
		t.Fatal("issuer is not a Revoker")
	}
	is := iss[0].(*Issuer)
	if i := slices.Index(is.auth, "-secret"); i < 0 || !strings.HasPrefix(is.auth[i+1], "file:") || slices.ContainsFunc(is.auth, func(a string) bool { return strings.Contains(a, "the-secret") }) {
		t.Fatalf("openssl's authentication options %q; want -secret file:PATH, never the secret", is.auth)
	}
	signed, err := load(t, "issuers:\n  - name: ca\n    type: cmp\n    server: https://ca.example.test/pkix/\n    cert: DIR/cert.pem\n    key: DIR/key.pem\n    keyPassFile: DIR/secret\n    srvCert: DIR/ca.pem\n    tlsTrusted: DIR/ca.pem\n")
	if err != nil {
		t.Fatalf("load a signing entry: %v", err)
	}
	if a := signed[0].(*Issuer).auth; !slices.Contains(a, "-keypass") || slices.ContainsFunc(a, func(a string) bool { return strings.Contains(a, "the-secret") }) {
		t.Fatalf("openssl's authentication options %q; want -keypass file:PATH, never the pass phrase", a)
	}

	const head = "issuers:\n  - name: ca\n    type: cmp\n"
	const pbm = "    ref: certgate\n    secretFile: DIR/secret\n"
	for name, tc := range map[string]struct{ body, want string }{
		"no server":      {head + pbm, `server: "" is not an http:// or https:// URL`},
		"ftp server":     {head + "    server: ftp://ca.example.test/\n" + pbm, `server: "ftp://ca.example.test/" is not an http:// or https:// URL`},
		"query":          {head + "    server: http://ca.example.test/?a=b\n" + pbm, "give scheme, host, port and path only"},
		"https no trust": {head + "    server: https://ca.example.test/\n" + pbm, "tlsTrusted: required with an https server"},
		"http trust":     {head + "    server: http://ca.example.test/\n    tlsTrusted: DIR/ca.pem\n" + pbm, "tlsTrusted: given with an http server"},
		"no auth":        {head + "    server: http://ca.example.test/\n", "secretFile or cert and key: give how certgate authenticates"},
		"no ref":         {head + "    server: http://ca.example.test/\n    secretFile: DIR/secret\n", "ref: required with secretFile"},
		"secret missing": {head + "    server: http://ca.example.test/\n    ref: r\n    secretFile: DIR/nonexistent\n", "secretFile: open"},
		"secret empty":   {head + "    server: http://ca.example.test/\n    ref: r\n    secretFile: DIR/empty\n", "secretFile: the first line of"},
		"cert no key":    {head + "    server: http://ca.example.test/\n    cert: DIR/cert.pem\n    srvCert: DIR/ca.pem\n", "cert and key: give both or neither"},
		"pass no key":    {head + "    server: http://ca.example.test/\n    keyPassFile: DIR/secret\n" + pbm, "keyPassFile: given without key"},
		"signed untrust": {head + "    server: http://ca.example.test/\n    cert: DIR/cert.pem\n    key: DIR/key.pem\n", "trusted or srvCert: required with cert and key"},
		"both trusts":    {head + "    server: http://ca.example.test/\n    trusted: DIR/ca.pem\n    srvCert: DIR/ca.pem\n" + pbm, "trusted and srvCert: give one"},
		"junk trusted":   {head + "    server: http://ca.example.test/\n    trusted: DIR/junk.pem\n" + pbm, "trusted: " + "/"},
		"key missing":    {head + "    server: http://ca.example.test/\n    cert: DIR/cert.pem\n    key: DIR/nokey.pem\n    srvCert: DIR/ca.pem\n", "key: stat"},
		"recipient":      {head + "    server: http://ca.example.test/\n    recipient: CN=CA\n" + pbm, `recipient: "CN=CA" is not a distinguished name in OpenSSL's form`},
		"timeout":        {head + "    server: http://ca.example.test/\n    timeout: 10ms\n" + pbm, `timeout: "10ms" is not a duration of a second or more`},
		"openssl":        {head + "    server: http://ca.example.test/\n    openssl: /nonexistent/openssl\n" + pbm, "openssl: exec: \"/nonexistent/openssl\""},
		"openssl 1.1":    {head + "    server: http://ca.example.test/\n    openssl: DIR/openssl-1.1\n" + pbm, `openssl-1.1 is "OpenSSL 1.1.1w  11 Sep 2023", which has no cmp command: OpenSSL 3.0 or later is needed`},
		"unknown key":    {head + "    server: http://ca.example.test/\n    secret: x\n", `line 5: unknown key "secret" (the keys are name, type, server, ref, secretFile, cert, key, keyPassFile, trusted, srvCert, recipient, tlsTrusted, timeout, openssl`},
	} {
		if _, err := load(t, tc.body); err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v; want one line containing %q", name, err, tc.want)
		}
	}
}

// TestResumeRefuses: an enrollment interrupted before its answer was
// stored cannot be fetched with CMP: Resume's answer is a problem saying
// so, not an ErrRemoteProcessing that would keep the order processing.
func TestResumeRefuses(t *testing.T) {
	iss, err := load(t, "issuers:\n  - name: ca\n    type: cmp\n    server: http://127.0.0.1:8080/pkix/\n    ref: certgate\n    secretFile: DIR/secret\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = iss[0].(issuer.Remote).Resume(context.Background(), issuer.RemoteOrder{OrderURL: "http://127.0.0.1:8080/pkix/", AccountURL: "ref certgate"})
	var p *acme.Problem
	if !errors.As(err, &p) || errors.Is(err, issuer.ErrRemoteProcessing) || !strings.Contains(p.Detail, "CMP cannot fetch it afterwards") {
		t.Fatalf("Resume: %v; want a problem saying CMP cannot fetch the certificate", err)
	}
}
