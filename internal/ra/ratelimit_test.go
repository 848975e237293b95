package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// failVA fails every validation.
type failVA struct{}

func (failVA) Validate(context.Context, acme.Identifier, string, string, string) error {
	return acme.NewProblem(acme.IncorrectResponse, "wrong answer")
}
func (failVA) CheckCAA(context.Context, acme.Identifier, bool, string, []string) error { return nil }

// selfSigner issues self-signed leaves.
type selfSigner struct{ key *ecdsa.PrivateKey }

func (s selfSigner) Name() string { return "test" }
func (s selfSigner) Issue(_ context.Context, req issuer.IssueRequest) (*issuer.Issued, error) {
	tmpl := &x509.Certificate{SerialNumber: req.Serial, Subject: pkix.Name{CommonName: req.DNSNames[0]}, DNSNames: req.DNSNames,
		NotBefore: req.NotBefore, NotAfter: req.NotAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, req.PublicKey, s.key)
	if err != nil {
		return nil, err
	}
	return &issuer.Issued{DER: der, ChainPEM: []byte("chain")}, nil
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func rateLimitedAfter(t *testing.T, err error, want time.Duration) {
	t.Helper()
	p, ok := acme.AsProblem(err)
	if !ok || p.Type != acme.RateLimited || p.RetryAfter != want || p.HelpURL == "" {
		t.Fatalf("got %v (Retry-After %v); want rateLimited with Retry-After %v and a help link", err, retryOf(p), want)
	}
}

func retryOf(p *acme.Problem) time.Duration {
	if p == nil {
		return 0
	}
	return p.RetryAfter
}

func dnsIDs(names ...string) []acme.Identifier {
	out := make([]acme.Identifier, len(names))
	for i, n := range names {
		out[i] = acme.Identifier{Type: acme.IdentifierDNS, Value: n}
	}
	return out
}

// TestRateLimitsInRA: pending authorizations are counted with those a
// newOrder adds; challenges that end invalid are charged to the account
// and refuse its next newOrder; certificates-per-domain is spent at
// finalize, which refuses (order stays ready) once the domain's bucket is
// empty, and newOrder for the domain is refused too.
func TestRateLimitsInRA(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	clk := &testClock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cfg := Config{ValidationAttempts: 1, RateLimits: ratelimit.Config{
		FailedValidationsPerAccount:     ratelimit.Rate{Count: 2, Period: time.Hour},
		CertificatesPerDomain:           ratelimit.Rate{Count: 1, Period: 7 * 24 * time.Hour},
		PendingAuthorizationsPerAccount: 3,
		PolicyURL:                       "https://ca.test/limits",
	}}
	r := New(cfg, st, failVA{}, selfSigner{key: caKey}, clk.now, slog.New(slog.DiscardHandler))
	defer r.Shutdown(ctx)
	acct := &store.Account{ID: "acct", KeyThumbprint: "tp", JWK: []byte("{}"), Status: acme.StatusValid, CreatedAt: clk.now()}
	if err := st.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}

	o1, err := r.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("a.one.test", "b.one.test")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("c.one.test", "d.one.test")})
	// 2 pending + 2 new > 3; the wait is until the earliest pending
	// authorization expires (7 days by default).
	rateLimitedAfter(t, err, 7*24*time.Hour)

	// Fail both authorizations of the first order.
	for _, id := range o1.AuthzIDs {
		az, err := st.GetAuthorization(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		c := az.Challenges[0]
		if _, err := r.RespondChallenge(ctx, acct, az, &c); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			cur, err := st.GetChallenge(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if cur.Status == acme.StatusInvalid {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("challenge still %s", cur.Status)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The charge follows the stored result; wait for the validation
	// jobs to finish.
	r.jobs.Wait()
	_, err = r.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("e.two.test")})
	rateLimitedAfter(t, err, 30*time.Minute) // 2 per hour, both spent: one refills in 30 min

	// Certificates per registered domain, at finalize.
	now := clk.now()
	var orders []*store.Order
	var authzs []*store.Authorization
	for i, name := range []string{"www.example.com", "api.example.com"} {
		id := dnsIDs(name)[0]
		az := &store.Authorization{ID: "vz" + name, AccountID: "acct", Identifier: id, Status: acme.StatusValid,
			Expires: now.Add(24 * time.Hour), ValidatedAt: now, CreatedAt: now}
		o := &store.Order{ID: "vo" + name, AccountID: "acct", Status: acme.StatusPending, Expires: now.Add(time.Hour),
			Identifiers: []acme.Identifier{id}, AuthzIDs: []string{az.ID}, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateOrder(ctx, o, []*store.Authorization{az}); err != nil {
			t.Fatal(i, err)
		}
		orders, authzs = append(orders, o), append(authzs, az)
	}
	csr := func(name string) []byte {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, k)
		return der
	}
	if _, err := r.Finalize(ctx, acct, orders[0], authzs[:1], csr("www.example.com"), nil); err != nil {
		t.Fatalf("first certificate for example.com: %v", err)
	}
	_, err = r.Finalize(ctx, acct, orders[1], authzs[1:], csr("api.example.com"), nil)
	rateLimitedAfter(t, err, 7*24*time.Hour)
	if o, _ := st.GetOrder(ctx, orders[1].ID); o.Status != acme.StatusPending || OrderStatus(o, authzs[1:], clk.now()) != acme.StatusReady {
		t.Fatalf("refused finalize left the order %s; want it still ready", o.Status)
	}
}

// TestRateLimitOverrideByEABKey: an override for an external account
// binding key applies to the accounts created with it; the account's own
// override wins over its key's.
func TestRateLimitOverrideByEABKey(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	now := time.Now().UTC()
	for _, o := range []store.RateLimitOverride{
		{Limit: string(ratelimit.NewOrdersPerAccount), Subject: ratelimit.EABSubject("kid1"), Count: 1, Period: time.Hour, CreatedAt: now},
		{Limit: string(ratelimit.NewOrdersPerAccount), Subject: ratelimit.AccountSubject("own"), Count: 3, Period: time.Hour, CreatedAt: now},
	} {
		if err := st.SetRateLimitOverride(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	r := New(Config{RateLimits: ratelimit.Config{NewOrdersPerAccount: ratelimit.Rate{Count: 100, Period: time.Hour}}}, st, nopVA{}, nil, nil, slog.New(slog.DiscardHandler))
	defer r.Shutdown(ctx)
	for _, c := range []struct {
		id, kid string
		want    int
	}{{"bound", "kid1", 1}, {"own", "kid1", 3}, {"free", "", 5}} {
		a := &store.Account{ID: c.id, KeyThumbprint: "tp-" + c.id, JWK: []byte("{}"), Status: acme.StatusValid, EABKid: c.kid, CreatedAt: now}
		if err := st.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		n := 0
		for i := range 5 {
			if _, err := r.NewOrder(ctx, a, acme.NewOrderRequest{Identifiers: dnsIDs(fmt.Sprintf("h%d.%s.test", i, c.id))}); err != nil {
				if p, ok := acme.AsProblem(err); !ok || p.Type != acme.RateLimited {
					t.Fatal(err)
				}
				break
			}
			n++
		}
		if n != c.want {
			t.Errorf("account %s (EAB key %q): %d orders allowed, want %d", c.id, c.kid, n, c.want)
		}
	}
}
