package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// superseded is RFC 5280 §5.3.1's reason code 4.
const superseded = 4

// upstreamEnv is a policyEnv whose RA has the upstream CA upstream-test
// (gatedUpstream, which stands in for acmeupstream against pebble) for
// profile gw, and the built-in CA for profile web, with an
// account bound to each.
type upstreamEnv struct {
	*policyEnv
	up      *gatedUpstream
	gw, web *store.Account
}

// newUpstreamEnv is an upstreamEnv over st whose upstream issues at once.
func newUpstreamEnv(t *testing.T, st *store.Store) *upstreamEnv {
	t.Helper()
	gate := make(chan struct{})
	close(gate)
	return newGatedUpstreamEnv(t, st, gate)
}

// newGatedUpstreamEnv is an upstreamEnv over st whose upstream issues once
// gate is closed.
func newGatedUpstreamEnv(t *testing.T, st *store.Store, gate chan struct{}) *upstreamEnv {
	t.Helper()
	dir := t.TempDir()
	upCA, err := local.LoadOrCreate(filepath.Join(dir, "upstream-ca"), local.Options{LintBeforeSign: true,
		IssuerURL: "http://up.example.test/ca.crt", CRLURL: "http://up.example.test/crl"})
	if err != nil {
		t.Fatal(err)
	}
	up := &gatedUpstream{ca: &local.Issuer{CA: upCA, IssuerURL: "http://up.example.test/ca.crt", CRLURL: "http://up.example.test/crl"}, gate: gate}
	gw := policy.Profile{Name: "gw", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30), Issuer: "upstream-test"}
	web := policy.Profile{Name: "web", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30)}
	e := newPolicyEnvOn(t, st, filepath.Join(dir, "data"), ra.Config{Issuers: []issuer.Issuer{up}}, gw, web)
	return &upstreamEnv{policyEnv: e, up: up, gw: e.account("gw", nil, nil), web: e.account("web", nil, nil)}
}

// issue has a certificate issued for name under profile (of account acct)
// with key, and returns its record once stored.
func (e *upstreamEnv) issue(acct *store.Account, profile, name string, key *ecdsa.PrivateKey) *store.Certificate {
	e.t.Helper()
	ctx := context.Background()
	o, azs := e.readyOrder(acct, profile, name)
	if _, err := e.ra.Finalize(ctx, acct, o, azs, csrFor(e.t, key, name), nil); err != nil {
		e.t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		got, err := e.st.GetOrder(ctx, o.ID)
		if err != nil {
			e.t.Fatal(err)
		}
		if got.Status == acme.StatusValid {
			c, err := e.st.GetCertificate(ctx, got.CertSerial)
			if err != nil {
				e.t.Fatal(err)
			}
			return c
		}
		if got.Status != acme.StatusProcessing {
			e.t.Fatalf("order for %s: %+v (error %+v)", name, got, got.Error)
		}
	}
	e.t.Fatalf("order for %s still processing", name)
	return nil
}

// state is the status and revocation reason of the certificate serial.
func (e *upstreamEnv) state(serial string) (string, int) {
	e.t.Helper()
	c, err := e.st.GetCertificate(context.Background(), serial)
	if err != nil {
		e.t.Fatal(err)
	}
	return c.Status, c.RevocationReason
}

// asked is the reasons of the revocations the upstream was asked for.
func (e *upstreamEnv) asked() []int {
	e.up.mu.Lock()
	defer e.up.mu.Unlock()
	return slices.Clone(e.up.revoked)
}

func newP256Key(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestUpstreamCertificatesInKeyCompromise: on both engines, a keyCompromise
// revocation of a certificate of the built-in CA leaves the key's
// certificates issued through an upstream CA as they are (valid, or revoked
// for another reason), sends nothing upstream, and names the valid one in
// OtherCAs like another CA's; revoking that one afterwards for
// keyCompromise goes upstream first and is recorded. Raising an upstream
// certificate's earlier reason to keyCompromise goes upstream too, and a
// refusal there records nothing (docs/issuers.md §5, docs/pki.md). The
// former code revoked the upstream's certificates in the inventory only,
// then refused their revocation as already revoked, and raised a reason
// locally without asking the upstream.
func TestUpstreamCertificatesInKeyCompromise(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		e := newUpstreamEnv(t, st)
		ctx := context.Background()
		a, b := e.gw, e.web
		issue, state, asked := e.issue, e.state, e.asked
		key := newP256Key(t)
		u1 := issue(a, "gw", "u1.pre.test", key)
		u2 := issue(a, "gw", "u2.pre.test", key)
		l1 := issue(b, "web", "l1.pre.test", key)
		if u1.Issuer != "upstream-test" || l1.Issuer != issuer.LocalName {
			t.Fatalf("issuers %q and %q; want upstream-test and local", u1.Issuer, l1.Issuer)
		}
		if _, err := e.ra.RevokeSerial(ctx, u2.Serial, superseded, "token:ops"); err != nil {
			t.Fatal(err)
		}
		if got := asked(); !slices.Equal(got, []int{superseded}) {
			t.Fatalf("upstream asked %v; want [superseded]", got)
		}

		// The key compromised through the built-in CA's certificate: the
		// upstream's stay as they are and are named, nothing is sent there.
		rev, err := e.ra.RevokeSerial(ctx, l1.Serial, acme.ReasonKeyCompromise, "token:ops")
		if err != nil {
			t.Fatal(err)
		}
		if len(rev.RevokedWith) != 0 || !slices.Equal(rev.OtherCAs, []string{u1.Serial}) {
			t.Errorf("keyCompromise of %s: revoked with %v, other CAs %v; want none, and [%s]", l1.Serial, rev.RevokedWith, rev.OtherCAs, u1.Serial)
		}
		if s, r := state(u1.Serial); s != acme.StatusValid {
			t.Errorf("upstream certificate %s after the cascade: %s reason %d; want valid (never sent upstream)", u1.Serial, s, r)
		}
		if s, r := state(u2.Serial); s != acme.StatusRevoked || r != superseded {
			t.Errorf("upstream certificate %s after the cascade: %s reason %d; want revoked, superseded", u2.Serial, s, r)
		}
		if got := asked(); !slices.Equal(got, []int{superseded}) {
			t.Errorf("upstream asked %v after the cascade; want only the earlier superseded", got)
		}
		// Revoked through certgate afterwards, it reaches the upstream.
		if _, err := e.ra.RevokeSerial(ctx, u1.Serial, acme.ReasonKeyCompromise, "token:ops"); err != nil {
			t.Fatalf("keyCompromise revocation of the upstream certificate %s left valid: %v", u1.Serial, err)
		}
		if s, r := state(u1.Serial); s != acme.StatusRevoked || r != acme.ReasonKeyCompromise || !slices.Equal(asked(), []int{superseded, acme.ReasonKeyCompromise}) {
			t.Errorf("%s: %s reason %d, upstream asked %v; want keyCompromise, asked upstream", u1.Serial, s, r, asked())
		}

		// Its earlier reason raised to keyCompromise: upstream first; a
		// refusal there changes nothing.
		e.up.mu.Lock()
		e.up.revokeErr = acme.NewProblem(acme.ServerInternal, "upstream CA upstream-test did not revoke the certificate: it could not be reached")
		e.up.mu.Unlock()
		if _, err := e.ra.RevokeSerial(ctx, u2.Serial, acme.ReasonKeyCompromise, "token:ops"); err == nil || !strings.Contains(err.Error(), "did not revoke") {
			t.Fatalf("keyCompromise of %s refused upstream: %v; want the upstream's problem", u2.Serial, err)
		}
		if s, r := state(u2.Serial); r != superseded {
			t.Errorf("%s after the upstream refused keyCompromise: %s reason %d; want superseded still", u2.Serial, s, r)
		}
		e.up.mu.Lock()
		e.up.revokeErr = nil
		e.up.mu.Unlock()
		if _, err := e.ra.RevokeSerial(ctx, u2.Serial, acme.ReasonKeyCompromise, "token:ops"); err != nil {
			t.Fatal(err)
		}
		if s, r := state(u2.Serial); r != acme.ReasonKeyCompromise || !slices.Equal(asked(), []int{superseded, acme.ReasonKeyCompromise, acme.ReasonKeyCompromise}) {
			t.Errorf("%s: %s reason %d, upstream asked %v; want keyCompromise, asked upstream", u2.Serial, s, r, asked())
		}
	})
}

// TestRevocationWithoutUpstreamRefused: on both engines, a server that does
// not have the upstream CA of a certificate configured (restarted without
// the issuers file, the upstream removed from it, a cluster node missing
// it) refuses its revocation and records nothing, not even the key's
// block: RevokeSerial (admin API, dashboard) with an
// *ra.IssuerNotConfiguredError naming the upstream, ACME revokeCert with
// serverInternal (500) naming it, by the issuing account or the
// certificate's key, for any reason, a keyCompromise raising an earlier
// reason included; the upstream is not asked, and a server that has it
// revokes it afterwards. The former code recorded such revocations in the
// inventory only.
func TestRevocationWithoutUpstreamRefused(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		e := newUpstreamEnv(t, st)
		ctx := context.Background()
		key3 := newP256Key(t)
		u3 := e.issue(e.gw, "gw", "u3.pre.test", key3)
		u4 := e.issue(e.gw, "gw", "u4.pre.test", newP256Key(t))
		if _, err := e.ra.RevokeSerial(ctx, u4.Serial, superseded, "token:ops"); err != nil {
			t.Fatal(err)
		}
		before := e.asked()
		// A server without the upstream (restarted without the issuers file,
		// or another node of the cluster missing it) over the same database.
		bare := ra.New(ra.Config{Audit: audit.New(st, e.clock)}, st, nil, e.iss, e.clock, slog.New(slog.DiscardHandler))
		t.Cleanup(func() { bare.Shutdown(context.Background()) })
		for _, c := range []struct {
			serial string
			reason int
		}{{u3.Serial, superseded}, {u3.Serial, acme.ReasonKeyCompromise}, {u4.Serial, acme.ReasonKeyCompromise}} {
			_, err := bare.RevokeSerial(ctx, c.serial, c.reason, "token:ops")
			var nc *ra.IssuerNotConfiguredError
			if !errors.As(err, &nc) || nc.Issuer != "upstream-test" || nc.Serial != c.serial || !strings.Contains(err.Error(), "upstream CA upstream-test") {
				t.Errorf("RevokeSerial(%s, %d) without the upstream: %v; want an IssuerNotConfiguredError naming upstream-test", c.serial, c.reason, err)
			}
		}
		// A second superseded of u4 is already revoked, upstream or not.
		if _, err := bare.RevokeSerial(ctx, u4.Serial, superseded, "token:ops"); !errors.Is(err, ra.ErrAlreadyRevoked) {
			t.Errorf("superseded again of %s without the upstream: %v; want ErrAlreadyRevoked", u4.Serial, err)
		}
		for name, req := range map[string]ra.RevokeRequest{
			"issuing account":     {CertDER: u3.DER, Account: e.gw},
			"certificate's key":   {CertDER: u3.DER, CertKey: key3.Public()},
			"raised, by account":  {CertDER: u4.DER, Account: e.gw, Reason: new(acme.ReasonKeyCompromise)},
			"account, superseded": {CertDER: u3.DER, Account: e.gw, Reason: new(superseded)},
		} {
			err := bare.Revoke(ctx, req)
			p, ok := acme.AsProblem(err)
			if !ok || p.Type != acme.ServerInternal || p.HTTPStatus() != 500 || !strings.Contains(p.Detail, "upstream CA upstream-test, which this server does not have configured") {
				t.Errorf("ACME revokeCert (%s) without the upstream: %v; want serverInternal naming upstream-test", name, err)
			}
		}
		if s, _ := e.state(u3.Serial); s != acme.StatusValid {
			t.Errorf("%s after revocations refused for want of its upstream: %s; want valid", u3.Serial, s)
		}
		if _, r := e.state(u4.Serial); r != superseded {
			t.Errorf("%s after a keyCompromise refused for want of its upstream: reason %d; want superseded", u4.Serial, r)
		}
		if u3.KeyHash == nil {
			t.Fatalf("certificate %s has no key hash", u3.Serial)
		}
		if _, err := st.GetBlockedKey(ctx, u3.KeyHash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("key of %s blocked by a refused revocation: %v", u3.Serial, err)
		}
		if got := e.asked(); !slices.Equal(got, before) {
			t.Errorf("upstream asked %v; want nothing more than %v", got, before)
		}
		for _, serial := range []string{u3.Serial, u4.Serial} {
			evs, err := st.ListAudit(ctx, store.AuditFilter{ObjectID: serial, Action: audit.ActionCertificateRevoke, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if want := map[string]int{u3.Serial: 0, u4.Serial: 1}[serial]; len(evs) != want {
				t.Errorf("%d revocation events of %s; want %d (none for the refused ones)", len(evs), serial, want)
			}
		}
		// The server with the upstream still revokes it.
		if _, err := e.ra.RevokeSerial(ctx, u3.Serial, superseded, "token:ops"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestUpstreamCertificateOfKeyBlockedMeanwhile: on both engines, when the
// key of an order's CSR is blocked (a keyCompromise revocation of a
// certificate of the built-in CA with it) while the upstream CA issues
// the order's certificate, the certificate is stored revoked for
// keyCompromise and the upstream is asked to revoke it for keyCompromise
// too; the former code recorded it revoked in the inventory only, and the
// upstream kept it valid.
func TestUpstreamCertificateOfKeyBlockedMeanwhile(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		gate := make(chan struct{})
		e := newGatedUpstreamEnv(t, st, gate)
		ctx := context.Background()
		key := newP256Key(t)
		l1 := e.issue(e.web, "web", "l1.pre.test", key) // the built-in CA: not gated
		o, azs := e.readyOrder(e.gw, "gw", "u1.pre.test")
		if got, err := e.ra.Finalize(ctx, e.gw, o, azs, csrFor(t, key, "u1.pre.test"), nil); err != nil || got.Status != acme.StatusProcessing {
			t.Fatalf("finalize at the upstream: %+v, %v; want processing", got, err)
		}
		if _, err := e.ra.RevokeSerial(ctx, l1.Serial, acme.ReasonKeyCompromise, "token:ops"); err != nil {
			t.Fatal(err)
		}
		close(gate)
		var done *store.Order
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			got, err := e.st.GetOrder(ctx, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != acme.StatusProcessing {
				done = got
				break
			}
		}
		if done == nil || done.Status != acme.StatusInvalid || done.Error == nil || done.Error.Type != acme.BadPublicKey {
			t.Fatalf("order whose key was blocked meanwhile: %+v; want invalid with badPublicKey", done)
		}
		certs, err := e.st.SearchCertificates(ctx, store.CertQuery{Issuer: "upstream-test", Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(certs) != 1 || certs[0].Status != acme.StatusRevoked || certs[0].RevocationReason != acme.ReasonKeyCompromise {
			t.Fatalf("upstream certificates stored: %+v; want one, revoked for keyCompromise", certs)
		}
		// Asked after the transaction that made the order invalid.
		got := e.asked()
		for deadline := time.Now().Add(20 * time.Second); len(got) == 0 && time.Now().Before(deadline); got = e.asked() {
			time.Sleep(5 * time.Millisecond)
		}
		if !slices.Equal(got, []int{acme.ReasonKeyCompromise}) {
			t.Errorf("upstream asked %v; want [keyCompromise] for the certificate of the blocked key", got)
		}
	})
}
