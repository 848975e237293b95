package ra_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/certlint"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv/testca"
	"github.com/certgate/certgate/internal/testenv/testdns"
	"github.com/certgate/certgate/internal/va"
)

// policyEnv is an RA over a fresh SQLite store with a linting built-in CA,
// a profile registry that sees stored changes at once, and a validator
// whose DNS (CAA) lookups ask dns, a test server on loopback (CAA
// identity "ca.test", account URLs "https://ca.test/acct/" + ID).
type policyEnv struct {
	t     *testing.T
	ra    *ra.RA
	st    *store.Store
	dns   *testdns.Server
	now   time.Time
	clock func() time.Time
	// iss is the RA's issuer; a test may change its fields (OCSPURL)
	// between calls.
	iss *local.Issuer
	// logs holds what the RA logged (text handler, all levels).
	logs *logBuffer
}

// logBuffer is a bytes.Buffer safe for the RA's goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newPolicyEnv(t *testing.T, profiles ...policy.Profile) *policyEnv {
	t.Helper()
	return newPolicyEnvWith(t, ra.Config{}, profiles...)
}

func newPolicyEnvWith(t *testing.T, cfg ra.Config, profiles ...policy.Profile) *policyEnv {
	t.Helper()
	dir := t.TempDir()
	st := storetest.OpenSQLite(t)
	return newPolicyEnvOn(t, st, dir, cfg, profiles...)
}

// newPolicyEnvOn is newPolicyEnvWith over st, with its CA in dir: the
// one there, else the CA certgate makes or, when one of profiles has an
// EKU its intermediate does not allow (emailProtection, codeSigning: the
// RA refuses newOrder under such a profile), an imported one whose
// intermediate has no EKU extension (an enterprise CA for any purpose).
func newPolicyEnvOn(t *testing.T, st *store.Store, dir string, cfg ra.Config, profiles ...policy.Profile) *policyEnv {
	t.Helper()
	e := &policyEnv{t: t, st: st, now: time.Now().UTC()}
	e.clock = func() time.Time { return e.now }
	anyEKU := false
	for _, p := range profiles {
		e.putProfile(p)
		anyEKU = anyEKU || slices.ContainsFunc(p.EKUs, func(e string) bool { return e != "serverAuth" && e != "clientAuth" })
	}
	if ok, err := local.Exists(filepath.Join(dir, "ca")); err != nil {
		t.Fatal(err)
	} else if !ok && anyEKU {
		rootKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		interKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if _, err := local.Import(filepath.Join(dir, "ca"), testca.BundleEKUs(t, e.now, rootKey, interKey, nil)); err != nil {
			t.Fatal(err)
		}
	}
	ca, err := local.LoadOrCreate(filepath.Join(dir, "ca"), local.Options{LintBeforeSign: true,
		IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl"})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := policy.NewRegistry(st, ra.DefaultProfile(90*24*time.Hour, 0, false, false), time.Nanosecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	iss := &local.Issuer{CA: ca, IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl"}
	e.iss = iss
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if e.dns, err = testdns.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.dns.Close() })
	v, err := va.New(va.Config{DNSResolver: e.dns.Addr(), CAAIdentities: []string{"ca.test"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Profiles, cfg.CAARecheckAfter, cfg.Audit = reg, 24*time.Hour, audit.New(st, e.clock)
	if cfg.AccountURIPrefixes == nil {
		cfg.AccountURIPrefixes = []string{"https://ca.test/acct/"}
	}
	e.logs = &logBuffer{}
	e.ra = ra.New(cfg, st, v, iss, func() time.Time { return e.clock() }, slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { e.ra.Shutdown(context.Background()) })
	return e
}

func (e *policyEnv) putProfile(p policy.Profile) {
	e.t.Helper()
	if err := p.Validate(); err != nil {
		e.t.Fatal(err)
	}
	spec, _ := json.Marshal(p)
	if err := e.st.PutProfile(context.Background(), &store.Profile{Name: p.Name, Spec: spec, CreatedAt: e.now, UpdatedAt: e.now}, false); err != nil {
		e.t.Fatal(err)
	}
}

// accountSeq numbers the accounts of all tests; parallel subtests (one per
// engine) take numbers at once.
var accountSeq atomic.Int64

// account creates an account, bound to a new EAB key for profile when
// eabProfile is not "" (with the key's attributes and allowlist).
func (e *policyEnv) account(eabProfile string, attrs map[string]string, allow []string) *store.Account {
	e.t.Helper()
	ctx := context.Background()
	n := int(accountSeq.Add(1))
	a := &store.Account{ID: "acct" + strings.Repeat("x", n), KeyThumbprint: "tp" + strings.Repeat("y", n), JWK: []byte(`{}`),
		Status: acme.StatusValid, CreatedAt: e.now}
	if eabProfile == "" {
		if err := e.st.CreateAccount(ctx, a); err != nil {
			e.t.Fatal(err)
		}
		return a
	}
	k := &store.EABKey{KID: "kid-" + a.ID, HMACKey: []byte("0123456789abcdef0123456789abcdef"), Profile: eabProfile, Attributes: attrs, Allow: allow,
		Status: store.EABActive, CreatedAt: e.now}
	if err := e.st.CreateEABKey(ctx, k); err != nil {
		e.t.Fatal(err)
	}
	a.EABKid = k.KID
	if err := e.st.CreateAccountEAB(ctx, a, e.now, nil); err != nil {
		e.t.Fatal(err)
	}
	return a
}

func dnsIDs(names ...string) []acme.Identifier {
	var out []acme.Identifier
	for _, n := range names {
		out = append(out, acme.Identifier{Type: acme.IdentifierDNS, Value: n})
	}
	return out
}

func wantProblem(t *testing.T, err error, typ acme.ProblemType, detail string) *acme.Problem {
	t.Helper()
	p, ok := acme.AsProblem(err)
	if !ok || p.Type != typ || !strings.Contains(p.Detail, detail) {
		t.Fatalf("got %v, want %s containing %q", err, typ, detail)
	}
	return p
}

func days(n int) policy.Duration { return policy.Duration(time.Duration(n) * 24 * time.Hour) }

// TestNewOrderPolicy is the newOrder policy table: identifier rules,
// profiles, EAB, attributes, validity and challenges.
func TestNewOrderPolicy(t *testing.T) {
	e := newPolicyEnv(t,
		policy.Profile{Name: "internal", Allow: []string{"*.corp.test", "10.0.0.0/8"}, Deny: []string{"vault.corp.test"}, Validity: days(30)},
		policy.Profile{Name: "eab", RequireEAB: true, Validity: days(30), PreAuthorized: []string{"*.pre.test"}},
		policy.Profile{Name: "billing", Validity: days(30), MaxValidity: days(60), Attributes: []policy.Attribute{
			{Name: "billing_code", Required: true, Regex: "[A-Z]+-[0-9]+"}, {Name: "owner", Required: true}, {Name: "environment", Enum: []string{"prod", "test"}}}},
		policy.Profile{Name: "httponly", Validity: days(30), Wildcard: true, Challenges: []string{"http-01"}},
	)
	ctx := context.Background()
	plain := e.account("", nil, nil)
	bound := e.account("eab", nil, nil)
	billingBound := e.account("billing", map[string]string{"owner": "team-a", "billing_code": "EAB-1"}, []string{"*.team-a.test"})

	t.Run("allowlist rejects outside names with a subproblem each", func(t *testing.T) {
		_, err := e.ra.NewOrder(ctx, plain, acme.NewOrderRequest{Profile: "internal",
			Identifiers: append(dnsIDs("a.corp.test", "www.example.com", "vault.corp.test"), acme.Identifier{Type: "ip", Value: "192.0.2.1"})})
		p := wantProblem(t, err, acme.RejectedIdentifier, "profile internal does not allow")
		var got []string
		for _, sp := range p.Subproblems {
			got = append(got, sp.Identifier.Value)
		}
		if !slices.Equal(got, []string{"www.example.com", "vault.corp.test", "192.0.2.1"}) {
			t.Errorf("subproblems for %v", got)
		}
		if o, err := e.ra.NewOrder(ctx, plain, acme.NewOrderRequest{Profile: "internal", Identifiers: dnsIDs("a.corp.test")}); err != nil || o.Profile != "internal" {
			t.Errorf("allowed name: %v, %v", o, err)
		}
	})
	t.Run("unknown profile", func(t *testing.T) {
		_, err := e.ra.NewOrder(ctx, plain, acme.NewOrderRequest{Profile: "nope", Identifiers: dnsIDs("a.test")})
		wantProblem(t, err, acme.InvalidProfile, `"nope"`)
	})
	t.Run("EAB required", func(t *testing.T) {
		_, err := e.ra.NewOrder(ctx, plain, acme.NewOrderRequest{Profile: "eab", Identifiers: dnsIDs("a.test")})
		wantProblem(t, err, acme.ExternalAccountRequired, "profile eab")
		if _, err := e.ra.NewOrder(ctx, bound, acme.NewOrderRequest{Profile: "eab", Identifiers: dnsIDs("a.test")}); err != nil {
			t.Errorf("bound account: %v", err)
		}
	})
	t.Run("pre-authorized names skip challenges for bound accounts", func(t *testing.T) {
		o, err := e.ra.NewOrder(ctx, bound, acme.NewOrderRequest{Profile: "eab", Identifiers: dnsIDs("web.pre.test", "other.test")})
		if err != nil {
			t.Fatal(err)
		}
		azs, _ := e.st.GetAuthorizations(ctx, o.AuthzIDs)
		if azs[0].Status != acme.StatusValid || azs[1].Status != acme.StatusPending {
			t.Errorf("statuses %s, %s; want valid, pending", azs[0].Status, azs[1].Status)
		}
	})
	t.Run("attributes", func(t *testing.T) {
		_, err := e.ra.NewOrder(ctx, plain, acme.NewOrderRequest{Profile: "billing", Identifiers: dnsIDs("a.test")})
		wantProblem(t, err, acme.Malformed, "missing required attributes: billing_code, owner")
		_, err = e.ra.NewOrder(ctx, plain, acme.NewOrderRequest{Profile: "billing", Identifiers: dnsIDs("a.test"),
			Certgate: &acme.OrderExtension{Attributes: map[string]string{"billing_code": "X-1", "owner": "me", "environment": "dev"}}})
		wantProblem(t, err, acme.Malformed, "environment (one of prod, test)")
		o, err := e.ra.NewOrder(ctx, plain, acme.NewOrderRequest{Profile: "billing", Identifiers: dnsIDs("a.test"),
			Certgate: &acme.OrderExtension{Attributes: map[string]string{"billing_code": "X-1", "owner": "me"}}})
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := e.st.GetOrder(ctx, o.ID)
		if stored.Attributes["billing_code"] != "X-1" || stored.Profile != "billing" {
			t.Errorf("stored order %+v", stored)
		}
		// EAB defaults, which the order may repeat but not override; the
		// key's allowlist applies.
		o, err = e.ra.NewOrder(ctx, billingBound, acme.NewOrderRequest{Profile: "billing", Identifiers: dnsIDs("x.team-a.test"),
			Certgate: &acme.OrderExtension{Attributes: map[string]string{"billing_code": "EAB-1", "environment": "prod"}}})
		if err != nil {
			t.Fatal(err)
		}
		if o.Attributes["owner"] != "team-a" || o.Attributes["billing_code"] != "EAB-1" || o.Attributes["environment"] != "prod" {
			t.Errorf("merged attributes %v", o.Attributes)
		}
		_, err = e.ra.NewOrder(ctx, billingBound, acme.NewOrderRequest{Profile: "billing", Identifiers: dnsIDs("x.team-a.test"),
			Certgate: &acme.OrderExtension{Attributes: map[string]string{"billing_code": "ORD-2"}}})
		wantProblem(t, err, acme.Malformed, `cannot override attributes set by the administrator: billing_code (set to "EAB-1" by the administrator, in the EAB key `+billingBound.EABKid)
		_, err = e.ra.NewOrder(ctx, billingBound, acme.NewOrderRequest{Profile: "billing", Identifiers: dnsIDs("x.team-b.test")})
		wantProblem(t, err, acme.RejectedIdentifier, "x.team-b.test")
	})
	t.Run("attribute errors name their source and fix", func(t *testing.T) {
		acct := e.account("", nil, nil)
		if err := e.st.SetAccountAttributes(ctx, acct.ID, map[string]string{"foo": "bar"}); err != nil {
			t.Fatal(err)
		}
		acct.Attributes = map[string]string{"foo": "bar", "environment": "dev"}
		_, err := e.ra.NewOrder(ctx, acct, acme.NewOrderRequest{Profile: "billing", Identifiers: dnsIDs("a.test"),
			Certgate: &acme.OrderExtension{Attributes: map[string]string{"billing_code": "X-1", "owner": "me"}}})
		wantProblem(t, err, acme.Malformed, "environment from the account's attributes (certgate account set-attributes "+
			acct.ID+" replaces them, --clear removes them all)")
		_, err = e.ra.NewOrder(ctx, billingBound, acme.NewOrderRequest{Profile: "billing", Identifiers: dnsIDs("y.team-a.test"),
			Certgate: &acme.OrderExtension{Attributes: map[string]string{"colour": "red"}}})
		wantProblem(t, err, acme.Malformed, `colour from the order's "certgate" object (fix or leave them out of the newOrder payload`)
		eabBad := e.account("billing", map[string]string{"environment": "dev"}, nil)
		_, err = e.ra.NewOrder(ctx, eabBad, acme.NewOrderRequest{Profile: "billing", Identifiers: dnsIDs("a.test"),
			Certgate: &acme.OrderExtension{Attributes: map[string]string{"billing_code": "X-1", "owner": "me"}}})
		wantProblem(t, err, acme.Malformed, "environment from the EAB key "+eabBad.EABKid+" bound to the account (the account's own attributes override the key's values: "+
			"certgate account set-attributes "+eabBad.ID+"; declare an undeclared one in profile billing)")
	})
	t.Run("validity above the profile maximum", func(t *testing.T) {
		nb := e.now.Format(time.RFC3339)
		_, err := e.ra.NewOrder(ctx, plain, acme.NewOrderRequest{Profile: "billing", Identifiers: dnsIDs("a.test"), NotBefore: nb,
			NotAfter: e.now.Add(61 * 24 * time.Hour).Format(time.RFC3339),
			Certgate: &acme.OrderExtension{Attributes: map[string]string{"billing_code": "X-1", "owner": "me"}}})
		wantProblem(t, err, acme.Malformed, "maximum of 60d of profile billing")
	})
	t.Run("challenge types", func(t *testing.T) {
		o, err := e.ra.NewOrder(ctx, plain, acme.NewOrderRequest{Profile: "httponly", Identifiers: dnsIDs("h.test")})
		if err != nil {
			t.Fatal(err)
		}
		az, _ := e.st.GetAuthorization(ctx, o.AuthzIDs[0])
		if len(az.Challenges) != 1 || az.Challenges[0].Type != acme.ChallengeHTTP01 {
			t.Errorf("challenges %+v, want http-01 only", az.Challenges)
		}
		_, err = e.ra.NewOrder(ctx, plain, acme.NewOrderRequest{Profile: "httponly", Identifiers: dnsIDs("*.h.test")})
		wantProblem(t, err, acme.RejectedIdentifier, "cannot be validated under profile httponly")
	})
	t.Run("default profile keeps today's behaviour", func(t *testing.T) {
		o, err := e.ra.NewOrder(ctx, plain, acme.NewOrderRequest{Identifiers: append(dnsIDs("*.any.test"), acme.Identifier{Type: "ip", Value: "192.0.2.9"})})
		if err != nil {
			t.Fatal(err)
		}
		if o.Profile != policy.DefaultName {
			t.Errorf("profile %q", o.Profile)
		}
	})
}

func csrFor(t *testing.T, key crypto.Signer, names ...string) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// readyOrder creates an order of a bound account whose names are all
// pre-authorized, so it is ready without validation.
func (e *policyEnv) readyOrder(a *store.Account, profile string, names ...string) (*store.Order, []*store.Authorization) {
	e.t.Helper()
	ctx := context.Background()
	o, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: profile, Identifiers: dnsIDs(names...)})
	if err != nil {
		e.t.Fatal(err)
	}
	azs, err := e.st.GetAuthorizations(ctx, o.AuthzIDs)
	if err != nil {
		e.t.Fatal(err)
	}
	if st := ra.OrderStatus(o, azs, e.now); st != acme.StatusReady {
		e.t.Fatalf("order %s, want ready", st)
	}
	return o, azs
}

// issued finalizes a ready order of account a for name under profile with
// a new P-256 key and returns the certificate (its leaf, read back from
// the store's chain), that key and the order's authorizations.
func (e *policyEnv) issued(a *store.Account, profile, name string) (*x509.Certificate, *ecdsa.PrivateKey, []*store.Authorization) {
	e.t.Helper()
	ctx := context.Background()
	o, azs := e.readyOrder(a, profile, name)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	done, err := e.ra.Finalize(ctx, a, o, azs, csrFor(e.t, key, name), nil)
	if err != nil || done.CertSerial == "" {
		e.t.Fatalf("finalize %s: %+v, %v", name, done, err)
	}
	_, chain, err := e.st.CertificateChain(ctx, done.CertSerial)
	if err != nil {
		e.t.Fatal(err)
	}
	blk, _ := pem.Decode([]byte(chain))
	if blk == nil {
		e.t.Fatalf("chain of %s is not PEM", done.CertSerial)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		e.t.Fatal(err)
	}
	return cert, key, azs
}

// TestFinalizePolicy: key types (badCSR), EKUs and validity of issued
// certificates follow the profile, and every certificate passes zlint.
func TestFinalizePolicy(t *testing.T) {
	profiles := []policy.Profile{
		{Name: "ec-only", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30), KeyTypes: []string{policy.KeyECDSAP256}},
		{Name: "mtls", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: policy.Duration(160 * time.Hour), EKUs: []string{"clientAuth"}},
		{Name: "web-mtls", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(90), EKUs: []string{"serverAuth", "clientAuth"}},
		{Name: "smime", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(365), EKUs: []string{"emailProtection"}},
		{Name: "code", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(365), EKUs: []string{"codeSigning"}},
	}
	e := newPolicyEnv(t, profiles...)
	ctx := context.Background()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)

	a := e.account("ec-only", nil, nil)
	o, azs := e.readyOrder(a, "ec-only", "k.pre.test")
	_, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, rk, "k.pre.test"), nil)
	wantProblem(t, err, acme.BadCSR, "does not allow rsa2048 keys")
	if _, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, ec, "k.pre.test"), nil); err != nil {
		t.Fatalf("ECDSA finalize: %v", err)
	}

	// Each profile issues for an ECDSA and an RSA key: an RSA certificate
	// has keyEncipherment only where its EKUs allow it (a clientAuth or
	// codeSigning one with it failed the lint: serverInternal, the order
	// invalid).
	for _, p := range profiles[1:] {
		for _, key := range []crypto.Signer{ec, rk} {
			t.Run(fmt.Sprintf("%s/%T", p.Name, key), func(t *testing.T) {
				a := e.account(p.Name, nil, nil)
				o, azs := e.readyOrder(a, p.Name, "c.pre.test")
				done, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "c.pre.test"), nil)
				if err != nil {
					t.Fatal(err)
				}
				rec, err := e.st.GetCertificate(ctx, done.CertSerial)
				if err != nil {
					t.Fatal(err)
				}
				c, _ := x509.ParseCertificate(rec.DER)
				p.Validate()
				if !slices.Equal(c.ExtKeyUsage, p.ExtKeyUsages()) {
					t.Errorf("EKUs %v, want %v", c.ExtKeyUsage, p.ExtKeyUsages())
				}
				// The validity period counts the notAfter second (RFC 5280
				// §4.1.2.5): exactly the profile's validity.
				if got := c.NotAfter.Sub(c.NotBefore) + time.Second; got != time.Duration(p.Validity) {
					t.Errorf("validity period %s, want the profile's %s", got, time.Duration(p.Validity))
				}
				if err := certlint.Check(rec.DER); err != nil {
					t.Errorf("zlint: %v", err)
				}
			})
		}
	}
}

// TestFinalizeRefusesShrunkMaximum: an order whose requested notAfter was
// within its profile's maximum validity at newOrder, finalized after the
// maximum was lowered below it, is refused (malformed, naming the profile
// change; the order invalid, nothing issued) instead of being issued
// shortened with another notAfter than the order's (RFC 8555 §7.4), as
// newOrder refuses such a notAfter; with notBefore requested too, the
// period is measured from it. Orders whose notAfter still fits the
// lowered maximum, and orders that requested none, are issued: the
// latter with the profile's validity as it is now.
func TestFinalizeRefusesShrunkMaximum(t *testing.T) {
	p := policy.Profile{Name: "shrink", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(10), MaxValidity: days(60)}
	e := newPolicyEnv(t, p)
	ctx := context.Background()
	a := e.account("shrink", nil, nil)
	order := func(name string, nb, na time.Time) *store.Order {
		t.Helper()
		req := acme.NewOrderRequest{Profile: "shrink", Identifiers: dnsIDs(name)}
		if !nb.IsZero() {
			req.NotBefore = nb.Format(time.RFC3339)
		}
		if !na.IsZero() {
			req.NotAfter = na.Format(time.RFC3339)
		}
		o, err := e.ra.NewOrder(ctx, a, req)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	long := order("long.pre.test", time.Time{}, e.now.Add(50*24*time.Hour))
	fromNB := order("nb.pre.test", e.now.Add(time.Hour), e.now.Add(time.Hour+20*24*time.Hour)) // 20d + 1s from notBefore
	fits := order("fits.pre.test", time.Time{}, e.now.Add(19*24*time.Hour))
	none := order("none.pre.test", time.Time{}, time.Time{})
	p.Validity, p.MaxValidity = days(5), days(20)
	e.updateProfile(p)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	finalize := func(o *store.Order) (*store.Order, error) {
		t.Helper()
		azs, err := e.st.GetAuthorizations(ctx, o.AuthzIDs)
		if err != nil {
			t.Fatal(err)
		}
		return e.ra.Finalize(ctx, a, o, azs, csrFor(t, ec, o.Identifiers[0].Value), nil)
	}
	for _, o := range []*store.Order{long, fromNB} {
		_, err := finalize(o)
		wantProblem(t, err, acme.Malformed, "profile shrink changed after the order was created")
		e.wantInvalidOrder(o.ID, acme.Malformed)
	}
	for _, c := range []struct {
		o        *store.Order
		notAfter time.Time // zero: the profile's validity now
	}{{fits, fits.NotAfter}, {none, time.Time{}}} {
		done, err := finalize(c.o)
		if err != nil {
			t.Fatalf("finalize of %s: %v", c.o.Identifiers[0].Value, err)
		}
		rec, _ := e.st.GetCertificate(ctx, done.CertSerial)
		switch {
		case !c.notAfter.IsZero() && !rec.NotAfter.Equal(c.notAfter.Truncate(time.Second)):
			t.Errorf("%s: notAfter %s, want the order's %s", c.o.Identifiers[0].Value, rec.NotAfter, c.notAfter)
		case c.notAfter.IsZero() && rec.NotAfter.Sub(rec.NotBefore)+time.Second != 5*24*time.Hour:
			t.Errorf("%s: validity period %s, want the profile's new 5d", c.o.Identifiers[0].Value, rec.NotAfter.Sub(rec.NotBefore)+time.Second)
		}
	}
}

// TestProfileRenewalWindow: a profile's renewalWindow replaces the default
// ARI window (RFC 9773) of its certificates; other profiles keep the
// default (2/3 to 5/6 of the lifetime).
func TestProfileRenewalWindow(t *testing.T) {
	e := newPolicyEnv(t,
		policy.Profile{Name: "early", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30),
			RenewalWindow: &policy.RenewalWindow{Start: 0.5, End: 0.75}},
		policy.Profile{Name: "plain", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30)})
	ctx := context.Background()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		profile    string
		start, end float64
	}{{"early", 0.5, 0.75}, {"plain", 2.0 / 3, 5.0 / 6}} {
		a := e.account(tc.profile, nil, nil)
		o, azs := e.readyOrder(a, tc.profile, "w.pre.test")
		done, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, ec, "w.pre.test"), nil)
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := e.st.GetCertificate(ctx, done.CertSerial)
		c, _ := x509.ParseCertificate(rec.DER)
		id := base64.RawURLEncoding.EncodeToString(c.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(c.SerialNumber.Bytes())
		ri, err := e.ra.RenewalInfo(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		life := float64(c.NotAfter.Sub(c.NotBefore))
		wantStart := c.NotBefore.Add(time.Duration(life * tc.start))
		wantEnd := c.NotBefore.Add(time.Duration(life * tc.end))
		if d := ri.SuggestedWindow.Start.Sub(wantStart); d < -time.Second || d > time.Second {
			t.Errorf("%s: start %v, want %v", tc.profile, ri.SuggestedWindow.Start, wantStart)
		}
		if d := ri.SuggestedWindow.End.Sub(wantEnd); d < -time.Second || d > time.Second {
			t.Errorf("%s: end %v, want %v", tc.profile, ri.SuggestedWindow.End, wantEnd)
		}
	}
}

// TestProfileSubjectFields: the subject attributes a profile allows are
// copied from the CSR; others are dropped; the certificate passes zlint.
func TestProfileSubjectFields(t *testing.T) {
	e := newPolicyEnv(t, policy.Profile{Name: "org", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30),
		EKUs: []string{"clientAuth"}, SubjectFields: []string{"O", "OU"}})
	ctx := context.Background()
	a := e.account("org", nil, nil)
	o, azs := e.readyOrder(a, "org", "svc.pre.test")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"svc.pre.test"},
		Subject: pkix.Name{CommonName: "svc.pre.test", Organization: []string{"Example Corp"}, OrganizationalUnit: []string{"Payments"},
			Country: []string{"DE"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	done, err := e.ra.Finalize(ctx, a, o, azs, der, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := e.st.GetCertificate(ctx, done.CertSerial)
	c, _ := x509.ParseCertificate(rec.DER)
	if !slices.Equal(c.Subject.Organization, []string{"Example Corp"}) || !slices.Equal(c.Subject.OrganizationalUnit, []string{"Payments"}) ||
		len(c.Subject.Country) != 0 || c.Subject.CommonName != "svc.pre.test" {
		t.Errorf("subject %v", c.Subject)
	}
	if err := certlint.Check(rec.DER); err != nil {
		t.Errorf("zlint: %v", err)
	}
}

// TestProfileSubjectFieldsBadCSR: a CSR whose copied subject attributes
// the certificate lint would refuse (RFC 5280 upper bounds, country code,
// white space) is refused with badCSR and the order stays ready for a
// corrected CSR; it failed issuance with serverInternal and the order
// became invalid.
func TestProfileSubjectFieldsBadCSR(t *testing.T) {
	e := newPolicyEnv(t, policy.Profile{Name: "org", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30),
		EKUs: []string{"clientAuth"}, SubjectFields: []string{"O", "OU", "C", "ST", "L"}})
	ctx := context.Background()
	a := e.account("org", nil, nil)
	o, azs := e.readyOrder(a, "org", "svc.pre.test")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr := func(sub pkix.Name) []byte {
		sub.CommonName = "svc.pre.test"
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"svc.pre.test"}, Subject: sub}, key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	for name, sub := range map[string]pkix.Name{
		"O of 65 characters":     {Organization: []string{strings.Repeat("o", 65)}},
		"OU of 65 characters":    {OrganizationalUnit: []string{strings.Repeat("u", 65)}},
		"L of 129 characters":    {Locality: []string{strings.Repeat("l", 129)}},
		"ST of 129 characters":   {Province: []string{strings.Repeat("s", 129)}},
		"lower-case country":     {Country: []string{"de"}},
		"three-letter country":   {Country: []string{"DEU"}},
		"country UK (not ISO)":   {Country: []string{"UK"}},
		"country AA (not ISO)":   {Country: []string{"AA"}},
		"O with a leading space": {Organization: []string{" Example"}},
		"O with a tab":           {Organization: []string{"Example\tCorp"}},
		"L with a new line":      {Locality: []string{"Main St\nBerlin"}},
		// Invisible formatting characters (Unicode Cf): the name would
		// display as another ("Ex<U+202E>ample" reversed after the
		// override); the lint let them through.
		"O with a right-to-left override": {Organization: []string{"Ex\u202eample"}},
		"OU with a zero-width space":      {OrganizationalUnit: []string{"Pay\u200bments"}},
	} {
		_, err := e.ra.Finalize(ctx, a, o, azs, csr(sub), nil)
		if p, ok := acme.AsProblem(err); !ok || p.Type != acme.BadCSR {
			t.Errorf("%s: %v, want badCSR", name, err)
		}
		cur, err := e.st.GetOrder(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st := ra.OrderStatus(cur, azs, time.Now()); st != acme.StatusReady {
			t.Fatalf("%s: the order is %s after the refused CSR, want ready", name, st)
		}
	}
	done, err := e.ra.Finalize(ctx, a, o, azs, csr(pkix.Name{Organization: []string{strings.Repeat("o", 64)}, Country: []string{"DE"},
		Locality: []string{"Köln"}}), nil)
	if err != nil {
		t.Fatalf("a corrected CSR: %v", err)
	}
	rec, _ := e.st.GetCertificate(ctx, done.CertSerial)
	if err := certlint.Check(rec.DER); err != nil {
		t.Errorf("zlint: %v", err)
	}
}

// TestProfileSubjectFieldsServerAuth: a serverAuth profile's certificates
// are domain-validated, which may carry no subject attribute but the
// country (CA/B BR 7.1.2.7.2): a CSR whose subject has O, OU, ST or L
// that subjectFields would copy is refused with badCSR and the order
// stays ready; it failed the issuance lint after the order moved to
// processing (serverInternal, the order invalid). A country alone is
// copied and the certificate passes the lint.
func TestProfileSubjectFieldsServerAuth(t *testing.T) {
	e := newPolicyEnv(t, policy.Profile{Name: "tls", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30),
		SubjectFields: []string{"O", "OU", "C", "ST", "L"}})
	ctx := context.Background()
	a := e.account("tls", nil, nil)
	o, azs := e.readyOrder(a, "tls", "svc.pre.test")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr := func(sub pkix.Name) []byte {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"svc.pre.test"}, Subject: sub}, key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	for name, sub := range map[string]pkix.Name{
		"O, C and L": {Organization: []string{"Example Corp"}, Country: []string{"DE"}, Locality: []string{"Berlin"}},
		"OU":         {OrganizationalUnit: []string{"IT"}},
		"ST":         {Province: []string{"Bayern"}, Country: []string{"DE"}},
		"L":          {Locality: []string{"Berlin"}},
	} {
		_, err := e.ra.Finalize(ctx, a, o, azs, csr(sub), nil)
		if p, ok := acme.AsProblem(err); !ok || p.Type != acme.BadCSR || !strings.Contains(p.Detail, "serverAuth") {
			t.Errorf("%s: %v, want badCSR naming serverAuth", name, err)
		}
		cur, err := e.st.GetOrder(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st := ra.OrderStatus(cur, azs, time.Now()); st != acme.StatusReady {
			t.Fatalf("%s: the order is %s after the refused CSR, want ready", name, st)
		}
	}
	done, err := e.ra.Finalize(ctx, a, o, azs, csr(pkix.Name{Country: []string{"DE"}}), nil)
	if err != nil {
		t.Fatalf("a CSR with a country alone: %v", err)
	}
	rec, _ := e.st.GetCertificate(ctx, done.CertSerial)
	c, _ := x509.ParseCertificate(rec.DER)
	if !slices.Equal(c.Subject.Country, []string{"DE"}) {
		t.Errorf("subject %v, want the country copied", c.Subject)
	}
	if err := certlint.Check(rec.DER); err != nil {
		t.Errorf("zlint: %v", err)
	}
}

// TestFinalizeSubsecondOrderValidity: an order whose notBefore and
// notAfter carry fractions of a second (RFC 3339 allows them) is measured
// as X.509 encodes the period (whole seconds, notAfter included: RFC 5280
// §4.1.2.5): 60d − 0.5s that spans 60d + 1s of whole seconds is refused
// at newOrder (it could only be issued shortened, and RFC 8555 §7.4
// forbids other contents than requested); one within the maximum is
// issued with exactly the requested seconds.
func TestFinalizeSubsecondOrderValidity(t *testing.T) {
	p := policy.Profile{Name: "frac", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(10), MaxValidity: days(60)}
	e := newPolicyEnv(t, p)
	ctx := context.Background()
	a := e.account("frac", nil, nil)
	base := e.now.Truncate(time.Second)
	nb := base.Add(900 * time.Millisecond)
	na := base.Add(60*24*time.Hour + 400*time.Millisecond) // na − nb = 60d − 0.5s
	_, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "frac", Identifiers: dnsIDs("f.pre.test"),
		NotBefore: nb.Format(time.RFC3339Nano), NotAfter: na.Format(time.RFC3339Nano)})
	wantProblem(t, err, acme.Malformed, "maximum of 60d of profile frac")
	na = na.Add(-time.Second) // base + 60d − 1s in whole seconds: a period of 60d
	o, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "frac", Identifiers: dnsIDs("f.pre.test"),
		NotBefore: nb.Format(time.RFC3339Nano), NotAfter: na.Format(time.RFC3339Nano)})
	if err != nil {
		t.Fatal(err)
	}
	azs, _ := e.st.GetAuthorizations(ctx, o.AuthzIDs)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	done, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, ec, "f.pre.test"), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := e.st.GetCertificate(ctx, done.CertSerial)
	if !rec.NotBefore.Equal(base) || !rec.NotAfter.Equal(na.Truncate(time.Second)) {
		t.Errorf("notBefore %s notAfter %s, want the requested %s and %s in whole seconds", rec.NotBefore, rec.NotAfter, base, na.Truncate(time.Second))
	}
}

// TestOrderNotAfterKept: an order that asks for notAfter only gets a
// certificate with that notAfter (RFC 8555 §7.4: the server MUST NOT
// issue a certificate with other contents than requested): when the
// usual backdate of notBefore would make the period longer than the
// profile's maximum, notBefore is backdated less instead of notAfter
// being cut (it was up to a minute earlier than asked). A notAfter
// exactly the maximum after now (a period one second longer than the
// maximum, its notAfter second included) is refused at newOrder.
func TestOrderNotAfterKept(t *testing.T) {
	p := policy.Profile{Name: "keep", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(10), MaxValidity: days(60)}
	e := newPolicyEnv(t, p)
	ctx := context.Background()
	a := e.account("keep", nil, nil)
	now := e.now.Truncate(time.Second)
	_, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "keep", Identifiers: dnsIDs("k.pre.test"),
		NotAfter: now.Add(60 * 24 * time.Hour).Format(time.RFC3339)})
	wantProblem(t, err, acme.Malformed, "maximum of 60d of profile keep")
	for _, na := range []time.Time{now.Add(60*24*time.Hour - time.Second), now.Add(60*24*time.Hour - 30*time.Second), now.Add(30 * 24 * time.Hour)} {
		o, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "keep", Identifiers: dnsIDs("k.pre.test"), NotAfter: na.Format(time.RFC3339)})
		if err != nil {
			t.Fatalf("notAfter %s: %v", na, err)
		}
		azs, _ := e.st.GetAuthorizations(ctx, o.AuthzIDs)
		ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		done, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, ec, "k.pre.test"), nil)
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := e.st.GetCertificate(ctx, done.CertSerial)
		if !rec.NotAfter.Equal(na) {
			t.Errorf("requested notAfter %s: issued %s", na, rec.NotAfter)
		}
		if period := rec.NotAfter.Sub(rec.NotBefore) + time.Second; period > 60*24*time.Hour || rec.NotBefore.After(now) || rec.NotBefore.Before(now.Add(-time.Minute)) {
			t.Errorf("requested notAfter %s: notBefore %s, period %s; want a period within 60d and notBefore at most a minute back", na, rec.NotBefore, period)
		}
		if err := certlint.Check(rec.DER); err != nil {
			t.Errorf("zlint: %v", err)
		}
	}
}

// TestNewOrderSubsecondPeriodRefused: a requested period that is not a
// whole second once cut to the seconds X.509 encodes is malformed at
// newOrder, not a serverInternal at finalize.
func TestNewOrderSubsecondPeriodRefused(t *testing.T) {
	p := policy.Profile{Name: "frac", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(10), MaxValidity: days(60)}
	e := newPolicyEnv(t, p)
	a := e.account("frac", nil, nil)
	base := e.now.Truncate(time.Second).Add(time.Minute)
	_, err := e.ra.NewOrder(context.Background(), a, acme.NewOrderRequest{Profile: "frac", Identifiers: dnsIDs("g.pre.test"),
		NotBefore: base.Add(100 * time.Millisecond).Format(time.RFC3339Nano), NotAfter: base.Add(900 * time.Millisecond).Format(time.RFC3339Nano)})
	wantProblem(t, err, acme.Malformed, "at least one second later than notBefore")
}

// TestFinalizeSmallECDSAKey: a CSR whose ECDSA key has a trivially small
// private scalar (here 1 and 2^16, or their negation) is refused with
// badCSR before anything is signed and the order stays ready; the issuance
// lint (e_ecdsa_small_private_key) refused it after the order moved to
// processing, a 500 serverInternal and an invalid order.
func TestFinalizeSmallECDSAKey(t *testing.T) {
	e := newPolicyEnv(t, policy.Profile{Name: "svc", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30)})
	ctx := context.Background()
	a := e.account("svc", nil, nil)
	o, azs := e.readyOrder(a, "svc", "weak.pre.test")
	for _, c := range []struct {
		curve elliptic.Curve
		d     *big.Int
	}{
		{elliptic.P256(), big.NewInt(1)},
		{elliptic.P384(), big.NewInt(1 << 16)},
		{elliptic.P256(), new(big.Int).Sub(elliptic.P256().Params().N, big.NewInt(7))}, // -7
	} {
		scalar := c.d.FillBytes(make([]byte, (c.curve.Params().BitSize+7)/8))
		key, err := ecdsa.ParseRawPrivateKey(c.curve, scalar)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "weak.pre.test"), nil)
		if p, ok := acme.AsProblem(err); !ok || p.Type != acme.BadCSR || !strings.Contains(p.Detail, "weak") {
			t.Errorf("%s key d=%v: %v, want badCSR", c.curve.Params().Name, c.d, err)
		}
		cur, err := e.st.GetOrder(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st := ra.OrderStatus(cur, azs, time.Now()); st != acme.StatusReady {
			t.Fatalf("the order is %s after the refused CSR, want ready", st)
		}
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "weak.pre.test"), nil); err != nil {
		t.Fatalf("a sound key: %v", err)
	}
}

// TestFinalizeROCAKey: a CSR whose RSA key has the ROCA fingerprint
// (CVE-2017-15361) is refused with badCSR before anything is signed (CA/B
// BR 6.1.1.3 lists ROCA among the weak keys a CA must refuse) and the
// order stays ready; it was issued.
func TestFinalizeROCAKey(t *testing.T) {
	e := newPolicyEnv(t, policy.Profile{Name: "svc", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30)})
	ctx := context.Background()
	a := e.account("svc", nil, nil)
	o, azs := e.readyOrder(a, "svc", "roca.pre.test")
	_, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, testca.ROCAKey(t), "roca.pre.test"), nil)
	wantProblem(t, err, acme.BadCSR, "ROCA")
	cur, err := e.st.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st := ra.OrderStatus(cur, azs, time.Now()); st != acme.StatusReady {
		t.Fatalf("the order is %s after the refused CSR, want ready", st)
	}
}

// TestNewOrderPastNotAfterNamed: a newOrder with only a notAfter, in the
// past, is malformed saying so, not naming a notBefore the client did not
// send (RFC 8555 §7.4: the period then starts at issuance).
func TestNewOrderPastNotAfterNamed(t *testing.T) {
	p := policy.Profile{Name: "past", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(10), MaxValidity: days(60)}
	e := newPolicyEnv(t, p)
	a := e.account("past", nil, nil)
	_, err := e.ra.NewOrder(context.Background(), a, acme.NewOrderRequest{Profile: "past", Identifiers: dnsIDs("h.pre.test"),
		NotAfter: e.now.Add(-time.Hour).Format(time.RFC3339)})
	wantProblem(t, err, acme.Malformed, "notAfter is in the past")
}
