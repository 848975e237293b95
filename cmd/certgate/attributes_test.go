package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/testenv"
	"golang.org/x/crypto/acme"
)

// TestCustomAttributesEndToEnd: a profile requires billing_code; an EAB
// key made by `certgate eab create --attr billing_code=X` supplies it, the
// bound account's certificate records it, and `certgate cert list --attr
// billing_code=X` finds it. A key without it gets a newOrder problem
// naming the missing attribute.
func TestCustomAttributesEndToEnd(t *testing.T) {
	env := testenv.NewWithOptions(t, testenv.Options{Server: server.Options{ProfileTTL: time.Nanosecond}})
	data := env.Config.Data
	if _, _, err := runCLI(t, nil, "profile", "create", "billing", "--data", data, "--validity", "30d", "--require-eab",
		"--pre-authorize", "*.corp.test", "--require-attr", "billing_code", "--optional-attr", "owner"); err != nil {
		t.Fatal(err)
	}
	eab := func(args ...string) *acme.ExternalAccountBinding {
		out, _, err := runCLI(t, nil, append([]string{"eab", "create", "--profile", "billing", "--data", data, "--format", "json"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var k struct{ KID, HMAC string }
		if err := json.Unmarshal([]byte(out), &k); err != nil {
			t.Fatal(err)
		}
		key, err := base64.RawURLEncoding.DecodeString(k.HMAC)
		if err != nil {
			t.Fatal(err)
		}
		return &acme.ExternalAccountBinding{KID: k.KID, Key: key}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := func(b *acme.ExternalAccountBinding) *acme.Client {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		c := &acme.Client{Key: k, DirectoryURL: env.BaseURL + "/acme/billing/directory", HTTPClient: env.HTTPClient}
		if _, err := c.Register(ctx, &acme.Account{ExternalAccountBinding: b}, acme.AcceptTOS); err != nil {
			t.Fatalf("register: %v", err)
		}
		return c
	}

	// Without billing_code: newOrder names it.
	_, err := client(eab("--attr", "owner=team-a")).AuthorizeOrder(ctx, acme.DomainIDs("x.corp.test"))
	var ae *acme.Error
	if !errors.As(err, &ae) || ae.ProblemType != "urn:ietf:params:acme:error:malformed" || !strings.Contains(ae.Detail, "missing required attributes: billing_code") {
		t.Fatalf("order without billing_code: %v", err)
	}

	c := client(eab("--attr", "billing_code=CC-1234", "--attr", "owner=team-b"))
	o, err := c.AuthorizeOrder(ctx, acme.DomainIDs("web.corp.test"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != acme.StatusReady {
		t.Fatalf("pre-authorized order is %s, want ready", o.Status)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"web.corp.test"}}, key)
	chain, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(chain[0])

	// The account's own attributes override the EAB key's (set before the
	// account's first request: the server caches accounts for 5 s).
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c2 := &acme.Client{Key: k2, DirectoryURL: env.BaseURL + "/acme/billing/directory", HTTPClient: env.HTTPClient}
	acct, err := c2.Register(ctx, &acme.Account{ExternalAccountBinding: eab("--attr", "billing_code=CC-1234", "--attr", "owner=team-b")}, acme.AcceptTOS)
	if err != nil {
		t.Fatal(err)
	}
	acctID := acct.URI[strings.LastIndex(acct.URI, "/")+1:]
	if _, _, err := runCLI(t, nil, "account", "set-attributes", acctID, "owner=team-c", "--data", data); err != nil {
		t.Fatal(err)
	}
	o2, err := c2.AuthorizeOrder(ctx, acme.DomainIDs("api.corp.test"))
	if err != nil {
		t.Fatal(err)
	}
	csr2, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"api.corp.test"}}, key)
	if _, _, err := c2.CreateOrderCert(ctx, o2.FinalizeURL, csr2, true); err != nil {
		t.Fatal(err)
	}
	if out, _, _ := runCLI(t, nil, "cert", "list", "--data", data, "--attr", "owner=team-c", "--format", "json"); !strings.Contains(out, "api.corp.test") {
		t.Errorf("account attribute owner=team-c not on the certificate:\n%s", out)
	}

	out, _, err := runCLI(t, nil, "cert", "list", "--data", data, "--attr", "billing_code=CC-1234", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, leaf.SerialNumber.Text(16)) || !strings.Contains(out, `"billing"`) || !strings.Contains(out, "team-b") {
		t.Errorf("cert list --attr billing_code=CC-1234 does not show the certificate %x with its profile and attributes:\n%s", leaf.SerialNumber, out)
	}
	out, _, _ = runCLI(t, nil, "cert", "list", "--data", data, "--attr", "billing_code=OTHER", "--format", "json")
	if strings.Contains(out, leaf.SerialNumber.Text(16)) {
		t.Errorf("cert list --attr billing_code=OTHER lists the certificate")
	}
}
