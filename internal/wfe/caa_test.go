package wfe_test

// CAA end to end (RFC 8659, RFC 8657): the server's caa-identities in the
// directory, CAA checked after the challenge succeeds (an authorization
// refused by CAA turns invalid with a caa problem), and re-checked at
// finalize once the validation is older than caa-recheck-after.

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cgacme "github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/testenv"
	"github.com/certgate/certgate/internal/testenv/testdns"
	"golang.org/x/crypto/acme"
)

func TestCAA(t *testing.T) {
	var skew atomic.Int64 // added to the server's clock
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	env := testenv.NewWithOptions(t, testenv.Options{CAAIdentities: []string{"certgate.test", "ca.example.org"},
		Server: server.Options{Now: now}})

	t.Run("directory meta.caaIdentities", func(t *testing.T) {
		res, err := env.HTTPClient.Get(env.DirectoryURL)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var dir struct {
			Meta struct {
				CAAIdentities []string `json:"caaIdentities"`
			} `json:"meta"`
		}
		if err := json.NewDecoder(res.Body).Decode(&dir); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("directory: %d %v", res.StatusCode, err)
		}
		if want := []string{"certgate.test", "ca.example.org"}; !slices.Equal(dir.Meta.CAAIdentities, want) {
			t.Fatalf("meta.caaIdentities = %q, want %q", dir.Meta.CAAIdentities, want)
		}
	})

	t.Run("record names another CA: authorization invalid with caa problem", func(t *testing.T) {
		ctx := clTestCtx(t)
		c, _ := clRegistered(t, env, nil)
		env.DNS.SetCAA("other.caa.example.test", testdns.CAA{Tag: "issue", Value: "otherca.test"})
		o, err := c.AuthorizeOrder(ctx, acme.DomainIDs("www.other.caa.example.test"))
		if err != nil {
			t.Fatal(err)
		}
		z, err := c.GetAuthorization(ctx, o.AuthzURLs[0])
		if err != nil {
			t.Fatal(err)
		}
		chal := clFindChallenge(t, z, "http-01")
		clPrepareChallenge(t, env, c, z, chal)
		if _, err := c.Accept(ctx, chal); err != nil {
			t.Fatal(err)
		}
		_, err = c.WaitAuthorization(ctx, o.AuthzURLs[0])
		var ae *acme.AuthorizationError
		if !errors.As(err, &ae) {
			t.Fatalf("wait authorization: %v, want an invalid authorization", err)
		}
		z, err = c.GetAuthorization(ctx, o.AuthzURLs[0])
		if err != nil || z.Status != acme.StatusInvalid {
			t.Fatalf("authorization: %v %v, want invalid", z, err)
		}
		ch := clFindChallenge(t, z, "http-01")
		var pe *acme.Error
		if ch.Status != acme.StatusInvalid || !errors.As(ch.Error, &pe) {
			t.Fatalf("challenge %s, error %v; want invalid with a problem", ch.Status, ch.Error)
		}
		if pe.ProblemType != string(cgacme.CAA) || pe.StatusCode != http.StatusForbidden ||
			!strings.Contains(pe.Detail, "CAA records at other.caa.example.test (inherited by www.other.caa.example.test)") ||
			!strings.Contains(pe.Detail, `"otherca.test"`) {
			t.Fatalf("problem %d %s %q", pe.StatusCode, pe.ProblemType, pe.Detail)
		}
		if o, err = c.GetOrder(ctx, o.URI); err != nil || o.Status != acme.StatusInvalid {
			t.Fatalf("order: %v %v, want invalid", o, err)
		}
	})

	t.Run("record names us with this account and method: issued", func(t *testing.T) {
		c, acct := clRegistered(t, env, nil)
		name := "ours.caa.example.test"
		env.DNS.SetCAA(name, testdns.CAA{Tag: "issue", Value: "CertGate.test; accounturi=" + acct.URI + "; validationmethods=http-01,dns-01"})
		is := clIssue(t, env, c, acme.DomainIDs(name), "http-01")
		clCheckLeaf(t, env, is, []string{name}, nil)
	})

	t.Run("accounturi of another account: refused", func(t *testing.T) {
		c, _ := clRegistered(t, env, nil)
		_, other := clRegistered(t, env, nil)
		name := "acct.caa.example.test"
		env.DNS.SetCAA(name, testdns.CAA{Tag: "issue", Value: "certgate.test; accounturi=" + other.URI})
		ctx := clTestCtx(t)
		o, err := c.AuthorizeOrder(ctx, acme.DomainIDs(name))
		if err != nil {
			t.Fatal(err)
		}
		z, _ := c.GetAuthorization(ctx, o.AuthzURLs[0])
		chal := clFindChallenge(t, z, "dns-01")
		clPrepareChallenge(t, env, c, z, chal)
		if _, err := c.Accept(ctx, chal); err != nil {
			t.Fatal(err)
		}
		if _, err := c.WaitAuthorization(ctx, o.AuthzURLs[0]); err == nil {
			t.Fatal("authorization valid, want invalid (accounturi names another account)")
		}
		z, _ = c.GetAuthorization(ctx, o.AuthzURLs[0])
		var pe *acme.Error
		if ch := clFindChallenge(t, z, "dns-01"); !errors.As(ch.Error, &pe) || !strings.Contains(pe.Detail, "accounturi") {
			t.Fatalf("challenge error %v, want accounturi mismatch", ch.Error)
		}
	})

	// Runs last: it moves the server's clock.
	t.Run("finalize re-checks stale validations; order stays ready", func(t *testing.T) {
		c, _ := clRegistered(t, env, nil)
		name := "recheck.caa.example.test"
		ids := acme.DomainIDs(name)
		o := clReadyOrder(t, env, c, ids, "http-01") // no CAA yet: valid
		env.DNS.SetCAA(name, testdns.CAA{Tag: "issue", Value: "otherca.test"})
		csr, _ := clCsrFor(t, ids, nil)
		ctx := clTestCtx(t)
		// Within caa-recheck-after (8h) the validation's CAA check stands.
		skew.Store(int64(7 * time.Hour))
		o2 := clReadyOrder(t, env, c, ids, "http-01") // reuses the valid authorization
		if _, _, err := c.CreateOrderCert(ctx, o2.FinalizeURL, csr, false); err != nil {
			t.Fatalf("finalize within 8h of validation: %v", err)
		}
		skew.Store(int64(9 * time.Hour))
		_, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, false)
		pe := clWantACMEError(t, err, http.StatusForbidden, cgacme.CAA)
		if !strings.Contains(pe.Detail, "CAA re-checked at finalize") || !strings.Contains(pe.Detail, "otherca.test") {
			t.Fatalf("detail %q", pe.Detail)
		}
		if got, err := c.GetOrder(ctx, o.URI); err != nil || got.Status != acme.StatusReady {
			t.Fatalf("order after refused finalize: %v %v, want ready", got, err)
		}
		env.DNS.SetCAA(name, testdns.CAA{Tag: "issue", Value: "ca.example.org"})
		if _, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, false); err != nil {
			t.Fatalf("finalize after fixing CAA: %v", err)
		}
	})
}
