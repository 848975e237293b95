package wfe_test

// lego v5 as a library against the in-process server: issuance over
// http-01, then ACME Renewal Information (RFC 9773) the way lego's ARI
// renewal uses it — the suggested window read through lego's own
// GetRenewalInfo/ShouldRenewAt, and a renewal that names the old
// certificate in "replaces" (lego --ari-enable). Debian's lego 4.9.1
// binary predates ARI, so test/e2e cannot cover this.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/lego"
	"github.com/go-acme/lego/v5/registration"

	"github.com/certgate/certgate/internal/testenv"
)

// legoUser is lego's registration.User.
type legoUser struct {
	key crypto.Signer
	reg *acme.ExtendedAccount
}

func (u *legoUser) GetEmail() string                       { return "" }
func (u *legoUser) GetRegistration() *acme.ExtendedAccount { return u.reg }
func (u *legoUser) GetPrivateKey() crypto.Signer           { return u.key }

// legoHTTP01 answers lego's http-01 challenges through the environment's responder.
type legoHTTP01 struct{ env *testenv.Env }

func (p legoHTTP01) Present(_ context.Context, _, token, keyAuth string) error {
	p.env.SetHTTP01(token, keyAuth)
	return nil
}

func (p legoHTTP01) CleanUp(context.Context, string, string, string) error { return nil }

// conflictRecorder counts 409 alreadyReplaced responses on their way to lego.
type conflictRecorder struct {
	next      http.RoundTripper
	conflicts atomic.Int64
}

func (c *conflictRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := c.next.RoundTrip(req)
	if err != nil || res.StatusCode != http.StatusConflict {
		return res, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	var p struct{ Type string }
	if json.Unmarshal(body, &p) == nil && p.Type == "urn:ietf:params:acme:error:alreadyReplaced" {
		c.conflicts.Add(1)
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	return res, nil
}

// newLegoClient registers a fresh account with lego v5 against env.
func newLegoClient(t *testing.T, env *testenv.Env) *lego.Client {
	t.Helper()
	return newLegoClientAt(t, env, env.DirectoryURL)
}

// newLegoClientAt registers a fresh account with lego v5 against the
// directory at dirURL, answering http-01 through env.
func newLegoClientAt(t *testing.T, env *testenv.Env, dirURL string) *lego.Client {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	user := &legoUser{key: key}
	cfg := lego.NewConfig(user)
	cfg.CADirURL = dirURL
	cfg.HTTPClient = env.HTTPClient
	client, err := lego.NewClient(cfg)
	if err != nil {
		t.Fatalf("lego client: %v", err)
	}
	if err := client.Challenge.SetHTTP01Provider(legoHTTP01{env}); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	user.reg, err = client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatalf("lego register: %v", err)
	}
	return client
}

func TestLegoLibraryARIRenewal(t *testing.T) {
	env := testenv.New(t)
	rec := &conflictRecorder{next: env.HTTPClient.Transport}
	env.HTTPClient = &http.Client{Timeout: env.HTTPClient.Timeout, Transport: rec}
	client := newLegoClient(t, env)
	ctx := t.Context()

	res, err := client.Certificate.Obtain(ctx, certificate.ObtainRequest{Domains: []string{"ari.example.test"}, KeyType: certcrypto.EC256, Bundle: true})
	if err != nil {
		t.Fatalf("obtain: %v", err)
	}
	certs, err := certcrypto.ParsePEMBundle(res.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	leaf := certs[0]

	info, err := client.Certificate.GetRenewalInfo(ctx, leaf)
	if err != nil {
		t.Fatalf("GetRenewalInfo: %v", err)
	}
	lifetime := leaf.NotAfter.Sub(leaf.NotBefore)
	wantStart := leaf.NotBefore.Add(lifetime * 2 / 3)
	wantEnd := leaf.NotBefore.Add(lifetime * 5 / 6)
	if d := info.SuggestedWindow.Start.Sub(wantStart); d < -time.Second || d > time.Second {
		t.Errorf("suggestedWindow.start = %v, want %v (2/3 of the lifetime)", info.SuggestedWindow.Start, wantStart)
	}
	if d := info.SuggestedWindow.End.Sub(wantEnd); d < -time.Second || d > time.Second {
		t.Errorf("suggestedWindow.end = %v, want %v (5/6 of the lifetime)", info.SuggestedWindow.End, wantEnd)
	}
	if info.RetryAfter != 6*time.Hour {
		t.Errorf("lego read Retry-After %v, want 6h", info.RetryAfter)
	}
	// lego's RFC 9773 §4.2 algorithm: not yet (an hour's sleep does not
	// reach the window) just after issuance; at once inside the window.
	if at := info.ShouldRenewAt(leaf.NotBefore, time.Hour); at != nil {
		t.Errorf("ShouldRenewAt(notBefore) = %v, want nil (wait for the window)", at)
	}
	inWindow := wantEnd.Add(time.Minute)
	if at := info.ShouldRenewAt(inWindow, time.Hour); at == nil || !at.Equal(inWindow) {
		t.Errorf("ShouldRenewAt(after the window) = %v, want %v (renew now)", at, inWindow)
	}

	// lego renew --ari-enable: the new order names the old certificate.
	renewed, err := client.Certificate.Renew(ctx, *res, &certificate.RenewOptions{Bundle: true, UseARICertID: true})
	if err != nil {
		t.Fatalf("renew with replaces: %v", err)
	}
	newCerts, err := certcrypto.ParsePEMBundle(renewed.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	if newCerts[0].SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Fatal("renewal returned the old certificate")
	}
	// A second renewal that replaces the same certificate is refused
	// (RFC 9773 §5: 409 alreadyReplaced); lego then retries the order
	// without "replaces", as §5 allows, and gets a certificate.
	before := rec.conflicts.Load()
	if _, err := client.Certificate.Renew(ctx, *res, &certificate.RenewOptions{Bundle: true, UseARICertID: true}); err != nil {
		t.Fatalf("second renewal: %v", err)
	}
	if got := rec.conflicts.Load() - before; got != 1 {
		t.Fatalf("second replacement: %d responses 409 alreadyReplaced, want 1", got)
	}
}
