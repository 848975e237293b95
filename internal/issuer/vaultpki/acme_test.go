package vaultpki_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	cgacme "github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/issuer/vaultpki"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv"
	"golang.org/x/crypto/acme"
)

// TestACMEThroughVault runs certgate in process, on SQLite and on
// PostgreSQL, with a profile whose issuer is a Vault PKI role (the
// stand-in Vault of standin_test.go, as Vault cannot run here), and
// orders through its ACME directory with golang.org/x/crypto/acme:
// finalize answers processing while Vault is asked, then the order is
// valid with Vault's certificate (leaf and intermediate, chaining to the
// stand-in's root), stored under the issuer's name and Vault's serial
// with the sign request recorded as the remote order; a revocation
// (revokeCert) reaches Vault as its serial_number and is recorded; a
// certificate Vault signs for other names is not served, is revoked at
// Vault and audited (certificate.upstream_refused); Vault's refusal makes
// the order invalid with a problem naming the issuer and passing
// Vault's message on.
func TestACMEThroughVault(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			testACMEThroughVault(t, e)
		})
	}
}

func testACMEThroughVault(t *testing.T, e storetest.Engine) {
	v := newStandIn(t, "vault.test")
	is, err := vaultpki.New(vaultpki.Config{Name: "vault-test", Address: v.URL(), CABundle: v.CABundle, Role: "web",
		TokenFile: writeSecret(t, "s.static-token"), Format: vaultpki.FormatPEMBundle, Timeout: "20s"}, issuer.Env{})
	if err != nil {
		t.Fatal(err)
	}
	o := testenv.Options{Server: server.Options{Issuers: []issuer.Issuer{is}, ProfileTTL: time.Nanosecond}}
	if e.Name == store.EnginePostgres {
		o.DB = e.NewDSN(t)
	}
	env := testenv.NewWithOptions(t, o)
	st := env.Server.Store()
	prof := policy.Profile{Name: "vault", Issuer: "vault-test", Validity: policy.Duration(30 * 24 * time.Hour), Allow: []string{"*.vault.test"}}
	if err := prof.Validate(); err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(prof)
	now := time.Now().UTC()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := st.PutProfile(ctx, &store.Profile{Name: prof.Name, Spec: spec, CreatedAt: now, UpdatedAt: now}, false); err != nil {
		t.Fatal(err)
	}

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c := &acme.Client{Key: key, DirectoryURL: env.BaseURL + "/acme/vault/directory", HTTPClient: env.HTTPClient}
	if _, err := c.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatal(err)
	}
	// order authorizes names over http-01 and finalizes with a CSR of a
	// new key; it returns the order's URL, the certificate chain (DER)
	// and the finalize error.
	order := func(names ...string) (string, [][]byte, error) {
		t.Helper()
		ord, err := c.AuthorizeOrder(ctx, acme.DomainIDs(names...))
		if err != nil {
			t.Fatal(err)
		}
		ord = env.AuthorizeHTTP01(ctx, t, c, ord)
		ck, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, ck)
		chain, _, err := c.CreateOrderCert(ctx, ord.FinalizeURL, csr, true)
		return ord.URI, chain, err
	}

	// Issued by Vault, served, stored.
	uri, chain, err := order("www.vault.test", "api.vault.test")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 2 {
		t.Fatalf("chain of %d certificates; want the leaf and Vault's intermediate", len(chain))
	}
	inter, _ := x509.ParseCertificate(chain[1])
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(v.Root)
	inters.AddCert(inter)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: "api.vault.test"}); err != nil {
		t.Fatalf("the served certificate does not chain to Vault's root: %v", err)
	}
	rec, err := st.GetCertificate(ctx, leaf.SerialNumber.Text(16))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Issuer != "vault-test" || rec.Profile != "vault" || !slices.Equal(rec.SANs, []string{"www.vault.test", "api.vault.test"}) {
		t.Fatalf("stored certificate: issuer %q profile %q SANs %v", rec.Issuer, rec.Profile, rec.SANs)
	}
	if ro, err := st.GetRemoteOrder(ctx, path.Base(uri)); err != nil || ro.Issuer != "vault-test" || ro.UpstreamOrder != v.URL()+"/v1/pki/sign/web" {
		t.Fatalf("remote order of %s: %+v, %v; want the sign request recorded", path.Base(uri), ro, err)
	}
	if body := get(v, func(v *standIn) map[string]any { return v.signs[0] }); body["common_name"] != "www.vault.test" ||
		body["alt_names"] != "www.vault.test,api.vault.test" || body["format"] != "pem_bundle" {
		t.Fatalf("sign request %v", body)
	}

	// Revocation goes to Vault, then is recorded.
	if err := c.RevokeCert(ctx, nil, chain[0], acme.CRLReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	if got := get(v, func(v *standIn) []string { return v.revoked }); !slices.Equal(got, []string{vaultpki.SerialNumber(leaf)}) {
		t.Fatalf("Vault revoked %v; want %s", got, vaultpki.SerialNumber(leaf))
	}
	if rec, _ = st.GetCertificate(ctx, rec.Serial); rec.Status != cgacme.StatusRevoked {
		t.Fatalf("certificate %s after revokeCert: %s", rec.Serial, rec.Status)
	}

	// Vault signs other names: not served, revoked at Vault, audited.
	v.set(func(v *standIn) { v.names = []string{"evil.vault.test"} })
	uri, _, err = order("x.vault.test")
	if err == nil {
		t.Fatal("a certificate for other names was served")
	}
	ord, err := c.GetOrder(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	if ord.Status != acme.StatusInvalid || ord.Error == nil || !strings.Contains(ord.Error.Detail, "returned a certificate for evil.vault.test, not the order's x.vault.test") {
		t.Fatalf("order after Vault signed other names: %s %v", ord.Status, ord.Error)
	}
	wrong := get(v, func(v *standIn) string { return v.lastSerial })
	if got := get(v, func(v *standIn) []string { return v.revoked }); !slices.Contains(got, wrong) {
		t.Fatalf("Vault revoked %v; want the refused %s too", got, wrong)
	}
	evs, err := audit.New(st, nil).List(ctx, store.AuditFilter{Action: audit.ActionCertificateUpstreamRefused, Limit: 10})
	wrongHex, _ := new(big.Int).SetString(strings.ReplaceAll(wrong, ":", ""), 16)
	if err != nil || len(evs) != 1 || wrongHex == nil || evs[0].ObjectID != wrongHex.Text(16) {
		t.Fatalf("upstream_refused events %+v, %v; want one for %s", evs, err, wrong)
	}
	v.set(func(v *standIn) { v.names = nil })

	// Vault refuses: the order is invalid with Vault's message.
	v.set(func(v *standIn) {
		v.fail = &vaultFail{status: 400, errors: []string{"subject alternate name y.vault.test not allowed by this role"}}
	})
	uri, _, err = order("y.vault.test")
	var oe *acme.OrderError
	if err == nil || (!errors.As(err, &oe) && !strings.Contains(err.Error(), "invalid")) {
		t.Fatalf("finalize refused by Vault: %v", err)
	}
	if ord, err = c.GetOrder(ctx, uri); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("Vault issuer vault-test did not issue the certificate: sign answered HTTP 400: %s", "subject alternate name y.vault.test not allowed by this role")
	if ord.Status != acme.StatusInvalid || ord.Error == nil || ord.Error.ProblemType != string(cgacme.RejectedIdentifier) || !strings.Contains(ord.Error.Detail, want) {
		t.Fatalf("order refused by Vault: %s %+v; want rejectedIdentifier with %q", ord.Status, ord.Error, want)
	}
	// The issuer's own, not the server's listener certificate (issuer local).
	if got, err := st.SearchCertificates(ctx, store.CertQuery{Issuer: "vault-test", Limit: 10}); err != nil || len(got) != 1 {
		t.Fatalf("certificates stored by vault-test: %d, %v; want the first only", len(got), err)
	}
}

// TestShutdownWhileVaultSigns: certgate shuts down while Vault has the
// sign request and does not answer; after the shutdown grace the order
// is invalid (not stuck processing), its problem names the issuer and
// says that Vault may have signed, and the sign request is recorded as
// the order's remote order. A server started again on the same database
// serves the order so.
func TestShutdownWhileVaultSigns(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			v := newStandIn(t)
			v.holdSign.Store(true)
			o := testenv.Options{Data: t.TempDir(), Server: server.Options{ProfileTTL: time.Nanosecond}}
			if e.Name == store.EnginePostgres {
				o.DB = e.NewDSN(t)
			}
			var orderID string
			t.Run("first", func(t *testing.T) {
				is, err := vaultpki.New(vaultpki.Config{Name: "vault-test", Address: v.URL(), CABundle: v.CABundle, Role: "web",
					TokenFile: writeSecret(t, "s.static-token")}, issuer.Env{})
				if err != nil {
					t.Fatal(err)
				}
				o := o
				o.Server.Issuers = []issuer.Issuer{is}
				env := testenv.NewWithOptions(t, o)
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				prof := policy.Profile{Name: "vault", Issuer: "vault-test", Validity: policy.Duration(30 * 24 * time.Hour)}
				spec, _ := json.Marshal(prof)
				now := time.Now().UTC()
				if err := env.Server.Store().PutProfile(ctx, &store.Profile{Name: prof.Name, Spec: spec, CreatedAt: now, UpdatedAt: now}, false); err != nil {
					t.Fatal(err)
				}
				key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				c := &acme.Client{Key: key, DirectoryURL: env.BaseURL + "/acme/vault/directory", HTTPClient: env.HTTPClient}
				if _, err := c.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
					t.Fatal(err)
				}
				ord, err := c.AuthorizeOrder(ctx, acme.DomainIDs("held.vault.test"))
				if err != nil {
					t.Fatal(err)
				}
				ord = env.AuthorizeHTTP01(ctx, t, c, ord)
				ck, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"held.vault.test"}}, ck)
				go c.CreateOrderCert(ctx, ord.FinalizeURL, csr, true) // waits until cancelled
				for v.held.Load() == 0 {
					time.Sleep(10 * time.Millisecond)
				}
				orderID = path.Base(ord.URI)
				if got, err := env.Server.Store().GetOrder(ctx, orderID); err != nil || got.Status != cgacme.StatusProcessing {
					t.Fatalf("order while Vault signs: %+v, %v; want processing", got, err)
				}
				cancel() // the client gives up; the server stops when this subtest ends
			})
			env := testenv.NewWithOptions(t, o) // no issuer configured now
			ctx := context.Background()
			got, err := env.Server.Store().GetOrder(ctx, orderID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != cgacme.StatusInvalid || got.Error == nil ||
				!strings.Contains(got.Error.Detail, "Vault issuer vault-test did not issue the certificate") ||
				!strings.Contains(got.Error.Detail, "Vault may have signed a certificate that is not served") {
				t.Fatalf("order after a shutdown while Vault signed: %s %+v", got.Status, got.Error)
			}
			if ro, err := env.Server.Store().GetRemoteOrder(ctx, orderID); err != nil || ro.UpstreamOrder != v.URL()+"/v1/pki/sign/web" {
				t.Fatalf("remote order: %+v, %v", ro, err)
			}
		})
	}
}
