package e2e

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/certgate/certgate/internal/testenv"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/lego"
	"github.com/go-acme/lego/v5/registration"
)

// The operations that no Debian client of the matrix (docs/clients.md)
// has, through the Go libraries that have them, against the certgate
// binary: an order's notBefore/notAfter (RFC 8555 §7.4) and its alternate
// chains (§7.4.2) with golang.org/x/crypto/acme; profile selection by the
// newOrder "profile" field (draft-ietf-acme-profiles) and renewal with ACME
// Renewal Information (RFC 9773: renewalInfo, then "replaces") with lego
// v5, the library of lego's --profile and --ari-enable. internal/wfe runs
// the same libraries in process; these go through `certgate serve` as
// deployed, with a profile made by `certgate profile create`.

// webrootHTTP01 answers http-01 by writing key authorizations into the
// .well-known/acme-challenge directory of a web root that serveDir serves.
type webrootHTTP01 struct{ chdir string }

func (w webrootHTTP01) Present(_ context.Context, _, token, keyAuth string) error {
	return os.WriteFile(filepath.Join(w.chdir, token), []byte(keyAuth), 0o644)
}

func (w webrootHTTP01) CleanUp(_ context.Context, _, token, _ string) error {
	return os.Remove(filepath.Join(w.chdir, token))
}

// legoV5User is lego v5's registration.User, without a contact.
type legoV5User struct {
	key crypto.Signer
	reg *legoacme.ExtendedAccount
}

func (u *legoV5User) GetEmail() string                           { return "" }
func (u *legoV5User) GetRegistration() *legoacme.ExtendedAccount { return u.reg }
func (u *legoV5User) GetPrivateKey() crypto.Signer               { return u.key }

func newP256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestGoLibraries(t *testing.T) {
	t.Parallel()
	requireTool(t, "openssl", "openssl")
	if serverKind != "certgate" {
		t.Skip("certgate profiles and `certgate cert show` exist only on certgate") // the harness's pebble mode only
	}
	s := startServer(t)
	certgateCLI(t, s, "profile", "create", "short", "--validity", "2d", "--description", "Short-lived web servers")
	// The server reads profiles made by another process within its
	// profile cache's lifetime (2 s).
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := s.client.Get(s.DirURL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `"short"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the directory does not list profile short:\n%s", b)
		}
		time.Sleep(200 * time.Millisecond)
	}
	webroot, chdir := newWebroot(t, t.TempDir())
	serveDir(t, s.HTTPPort, "", webroot)

	t.Run("x-crypto-acme-notBefore-notAfter-alternates", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
		defer cancel()
		c := &xacme.Client{Key: newP256(t), DirectoryURL: s.DirURL, HTTPClient: s.client, UserAgent: "certgate-e2e"}
		if _, err := c.Register(ctx, &xacme.Account{}, xacme.AcceptTOS); err != nil {
			t.Fatalf("register: %v", err)
		}
		const name = "xacme-window.example.test"
		notBefore := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		notAfter := notBefore.Add(36 * time.Hour)
		o, err := c.AuthorizeOrder(ctx, xacme.DomainIDs(name), xacme.WithOrderNotBefore(notBefore), xacme.WithOrderNotAfter(notAfter))
		if err != nil {
			t.Fatalf("newOrder with notBefore/notAfter: %v", err)
		}
		if !o.NotBefore.Equal(notBefore) || !o.NotAfter.Equal(notAfter) {
			t.Errorf("order notBefore %v notAfter %v; want the requested %v and %v", o.NotBefore, o.NotAfter, notBefore, notAfter)
		}
		testenv.AuthorizeHTTP01(ctx, t, c, o, func(token, keyAuth string) {
			writeFile(t, filepath.Join(chdir, token), []byte(keyAuth))
		})
		certKey := newP256(t)
		csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, certKey)
		if err != nil {
			t.Fatal(err)
		}
		der, certURL, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
		if err != nil {
			t.Fatalf("finalize: %v", err)
		}
		// The certificate is valid from notBefore, an hour ahead: it is
		// verified as of then.
		leaf, err := x509.ParseCertificate(der[0])
		if err != nil {
			t.Fatal(err)
		}
		if !leaf.NotBefore.Equal(notBefore) || !leaf.NotAfter.Equal(notAfter) {
			t.Errorf("certificate validity %v to %v; want the order's %v to %v", leaf.NotBefore, leaf.NotAfter, notBefore, notAfter)
		}
		roots, inter := x509.NewCertPool(), x509.NewCertPool()
		roots.AppendCertsFromPEM(readFile(t, s.RootFile))
		for _, b := range der[1:] {
			c, err := x509.ParseCertificate(b)
			if err != nil {
				t.Fatal(err)
			}
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter, CurrentTime: notBefore.Add(time.Minute),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("the certificate does not verify at its notBefore: %v", err)
		}
		lintLeaf(t, leaf.Raw)
		// certgate offers one chain: the certificate resource has no
		// Link rel="alternate" (RFC 8555 §7.4.2).
		alts, err := c.ListCertAlternates(ctx, certURL)
		if err != nil {
			t.Fatalf("list alternates: %v", err)
		}
		if len(alts) != 0 {
			t.Errorf("alternate chains %q; certgate offers none", alts)
		}
		// The certificate resource again, by POST-as-GET (§7.4.2).
		again, err := c.FetchCert(ctx, certURL, true)
		if err != nil {
			t.Fatalf("POST-as-GET the certificate: %v", err)
		}
		if len(again) != len(der) || string(again[0]) != string(der[0]) {
			t.Errorf("POST-as-GET of %s returned another chain", certURL)
		}
	})

	t.Run("lego-v5-profile-and-ari-renewal", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
		defer cancel()
		user := &legoV5User{key: newP256(t)}
		cfg := lego.NewConfig(user)
		cfg.CADirURL = s.DirURL
		cfg.HTTPClient = s.client
		client, err := lego.NewClient(cfg)
		if err != nil {
			t.Fatalf("lego client: %v", err)
		}
		if err := client.Challenge.SetHTTP01Provider(webrootHTTP01{chdir}); err != nil {
			t.Fatal(err)
		}
		if user.reg, err = client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true}); err != nil {
			t.Fatalf("register: %v", err)
		}
		if got := client.GetServerMetadata().Profiles["short"]; got != "Short-lived web servers" {
			t.Errorf("directory meta.profiles[short] = %q, want the description given to certgate profile create", got)
		}
		const name = "legov5-ari.example.test"
		res, err := client.Certificate.Obtain(ctx, certificate.ObtainRequest{Domains: []string{name}, KeyType: certcrypto.EC256, Bundle: true, Profile: "short"})
		if err != nil {
			t.Fatalf("obtain in profile short: %v", err)
		}
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "first.pem"), res.Certificate)
		first := checkIssued(t, s, filepath.Join(dir, "first.pem"), name)
		if life := first.Leaf.NotAfter.Sub(first.Leaf.NotBefore); life > 48*time.Hour+time.Second {
			t.Errorf("validity %s in profile short; want 2d at most", life)
		}
		if r := showCert(t, s, first); r.Status != "valid" {
			t.Errorf("certgate cert show: status %q", r.Status)
		}

		info, err := client.Certificate.GetRenewalInfo(ctx, first.Leaf)
		if err != nil {
			t.Fatalf("renewalInfo: %v", err)
		}
		w := info.SuggestedWindow
		if !w.Start.After(first.Leaf.NotBefore) || !w.End.After(w.Start) || w.End.After(first.Leaf.NotAfter) {
			t.Errorf("suggestedWindow %v to %v is not inside the validity %v to %v", w.Start, w.End, first.Leaf.NotBefore, first.Leaf.NotAfter)
		}
		if info.RetryAfter <= 0 {
			t.Errorf("renewalInfo without a Retry-After (RFC 9773 §4.2)")
		}

		// lego renew --ari-enable --profile short: the new order names
		// the certificate it replaces.
		renewed, err := client.Certificate.Renew(ctx, *res, &certificate.RenewOptions{Bundle: true, UseARICertID: true, Profile: "short"})
		if err != nil {
			t.Fatalf("renew with replaces: %v", err)
		}
		writeFile(t, filepath.Join(dir, "renewed.pem"), renewed.Certificate)
		second := checkIssued(t, s, filepath.Join(dir, "renewed.pem"), name)
		if second.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
			t.Fatal("the renewal returned the old certificate")
		}
		rec := showCert(t, s, second)
		if serial := fmt.Sprintf("%x", first.Leaf.SerialNumber); !strings.Contains(strings.ToLower(rec.Replaces), serial) {
			t.Errorf("certgate cert show of the renewal: replaces %q; want the first certificate, serial %s", rec.Replaces, serial)
		}
	})
}
