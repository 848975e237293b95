package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// cessationOfOperation is the RFC 5280 §5.3.1 reason a refused upstream
// certificate is revoked with.
const cessationOfOperation = 5

// heldEnv is an RA (node A) whose upstream issues every certificate and
// then never answers (hold): node A died between the upstream issuing and
// its storing the certificate. Its clock is clock (nanoseconds), safe to
// move while recoveries run.
type heldEnv struct {
	*policyEnv
	up    *gatedUpstream
	clock *atomic.Int64
	dir   string
}

func newHeldEnv(t *testing.T, st *store.Store) *heldEnv {
	t.Helper()
	dir := t.TempDir()
	upCA, err := local.LoadOrCreate(filepath.Join(dir, "upstream-ca"), local.Options{LintBeforeSign: true,
		IssuerURL: "http://up.example.test/ca.crt", CRLURL: "http://up.example.test/crl"})
	if err != nil {
		t.Fatal(err)
	}
	up := &gatedUpstream{ca: &local.Issuer{CA: upCA, IssuerURL: "http://up.example.test/ca.crt", CRLURL: "http://up.example.test/crl"},
		gate: make(chan struct{}), hold: make(chan struct{}), issued: make(chan string, 8)}
	close(up.gate)
	gw := policy.Profile{Name: "gw", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30), Issuer: "upstream-test"}
	e := &heldEnv{policyEnv: newPolicyEnvOn(t, st, dir, ra.Config{Issuers: []issuer.Issuer{up}}, gw), up: up, clock: new(atomic.Int64), dir: dir}
	e.clock.Store(e.now.UnixNano())
	e.policyEnv.clock = func() time.Time { return time.Unix(0, e.clock.Load()).UTC() }
	// Before node A's Shutdown (cleanups run last first): its held
	// issuances end, their answer lost.
	t.Cleanup(func() { close(up.hold) })
	return e
}

// advance moves the clock on by d.
func (e *heldEnv) advance(d time.Duration) { e.clock.Add(int64(d)) }

// issuedHeld finalizes an order for name at node A and returns it once the
// upstream issued its certificate (node A never stores it) with the
// upstream order's URL.
func (e *heldEnv) issuedHeld(a *store.Account, name string) (*store.Order, string) {
	e.t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	o, azs := e.readyOrder(a, "gw", name)
	got, err := e.ra.Finalize(context.Background(), a, o, azs, csrFor(e.t, key, name), nil)
	if err != nil || got.Status != acme.StatusProcessing {
		e.t.Fatalf("finalize: %+v, %v; want processing", got, err)
	}
	return o, <-e.up.issued
}

// node is another RA over the same database, CA and upstream: another
// node of the cluster, or the process started again.
func (e *heldEnv) node(cfg ra.Config) *ra.RA {
	e.t.Helper()
	ca, err := local.LoadOrCreate(filepath.Join(e.dir, "ca"), local.Options{LintBeforeSign: true,
		IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl"})
	if err != nil {
		e.t.Fatal(err)
	}
	reg, err := policy.NewRegistry(e.st, ra.DefaultProfile(90*24*time.Hour, 0, false, false), time.Nanosecond, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg.Profiles, cfg.CAARecheckAfter, cfg.Audit, cfg.Issuers = reg, 24*time.Hour, audit.New(e.st, e.policyEnv.clock), []issuer.Issuer{e.up}
	n := ra.New(cfg, e.st, nil, &local.Issuer{CA: ca, IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl"},
		e.policyEnv.clock, slog.New(slog.DiscardHandler))
	e.t.Cleanup(func() { n.Shutdown(context.Background()) })
	return n
}

// settledOrder waits for order id to leave processing.
func settledOrder(t *testing.T, st *store.Store, id string) *store.Order {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		got, err := st.GetOrder(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != acme.StatusProcessing {
			return got
		}
	}
	t.Fatalf("order %s still processing", id)
	return nil
}

// upstreamDER is the certificate the upstream issued for its order url.
func (u *gatedUpstream) upstreamDER(t *testing.T, url string) []byte {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if o := u.orders[url]; o != nil && o.out != nil {
		return o.out.DER
	}
	t.Fatalf("the upstream issued nothing for %s", url)
	return nil
}

// TestRemoteIssuanceRecovered: on both engines, a node that dies after
// the upstream CA issued an order's certificate and before it stored it
// (the record used to be lost: the sweep failed the order as
// interrupted) leaves the order processing with its upstream order
// recorded; two other nodes sweeping at once past StuckAfter fetch the
// upstream order once (one claims it), store the upstream's certificate
// (its serial and fingerprint) with its certificate.issue event, and make
// the order valid. A process started again alone on the storage
// (Exclusive) recovers an order at once, without waiting for StuckAfter.
func TestRemoteIssuanceRecovered(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		e := newHeldEnv(t, st)
		a := e.account("gw", nil, nil)
		o, url := e.issuedHeld(a, "r.pre.test")
		if got, err := st.GetOrder(ctx, o.ID); err != nil || got.Status != acme.StatusProcessing {
			t.Fatalf("order after node A died: %+v, %v; want processing", got, err)
		}
		if ro, err := st.GetRemoteOrder(ctx, o.ID); err != nil || ro.UpstreamOrder != url || ro.UpstreamAccount != upAccount {
			t.Fatalf("recorded upstream order: %+v, %v; want %s", ro, err, url)
		}
		if n, err := st.CountCertificates(ctx); err != nil || n != 0 {
			t.Fatalf("certificates before the recovery: %d, %v", n, err)
		}
		b, c := e.node(ra.Config{}), e.node(ra.Config{})
		e.advance(15 * time.Minute) // past StuckAfter (the upstream's timeout + 1m)
		var wg sync.WaitGroup
		for _, n := range []*ra.RA{b, c} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := n.Sweep(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		got := settledOrder(t, st, o.ID)
		der := e.up.upstreamDER(t, url)
		leaf, _ := x509.ParseCertificate(der)
		fp := sha256.Sum256(der)
		if got.Status != acme.StatusValid || got.CertSerial != leaf.SerialNumber.Text(16) {
			t.Fatalf("order after the recovery: %s serial %q (error %+v); want valid with the upstream's serial %x", got.Status, got.CertSerial, got.Error, leaf.SerialNumber)
		}
		cert, err := st.GetCertificate(ctx, got.CertSerial)
		if err != nil || cert.FingerprintSHA256 != hex.EncodeToString(fp[:]) || cert.Issuer != "upstream-test" || cert.OrderID != o.ID || cert.AccountID != a.ID {
			t.Fatalf("recovered certificate: %+v, %v; want the upstream's", cert, err)
		}
		evs, err := audit.New(st, nil).List(ctx, store.AuditFilter{Action: audit.ActionCertificateIssue, Limit: 10})
		if err != nil || len(evs) != 1 || evs[0].ObjectID != cert.Serial {
			t.Fatalf("issue events %+v, %v; want one for %s", evs, err, cert.Serial)
		}
		e.up.mu.Lock()
		resumes := e.up.resumes
		e.up.mu.Unlock()
		if resumes != 1 {
			t.Fatalf("the upstream order was fetched %d times by two sweeping nodes; want once", resumes)
		}

		// Killed again; the process starts again alone on the storage.
		o2, url2 := e.issuedHeld(a, "r2.pre.test")
		e.advance(time.Second)
		restarted := e.node(ra.Config{Exclusive: true})
		if err := restarted.Start(ctx); err != nil {
			t.Fatal(err)
		}
		got = settledOrder(t, st, o2.ID)
		leaf2, _ := x509.ParseCertificate(e.up.upstreamDER(t, url2))
		if got.Status != acme.StatusValid || got.CertSerial != leaf2.SerialNumber.Text(16) {
			t.Fatalf("order recovered at start: %s serial %q (error %+v); want valid with %x", got.Status, got.CertSerial, got.Error, leaf2.SerialNumber)
		}
	})
}

// TestRemoteRecoveryOutcomes: the recovery of an upstream order that is
// not valid: invalid upstream, the order becomes invalid with the
// upstream's problem; never finalized (pending or ready), invalid as
// interrupted before the upstream was asked; still processing, the order
// stays processing until RemoteRecoveryWindow after the record, then
// becomes invalid naming the upstream order; a certificate for other names
// than the order's is refused, recorded (certificate.upstream_refused) and
// revoked at the upstream.
func TestRemoteRecoveryOutcomes(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	e := newHeldEnv(t, st)
	a := e.account("gw", nil, nil)
	refusedAt := func(o *upOrder) {
		o.status, o.out, o.err = acme.StatusInvalid, nil, acme.NewProblem(acme.RejectedIdentifier, "upstream CA upstream-test did not issue the certificate: rejectedIdentifier: not ours")
	}
	invalid, invalidURL := e.issuedHeld(a, "inv.pre.test")
	ready, readyURL := e.issuedHeld(a, "ready.pre.test")
	slow, slowURL := e.issuedHeld(a, "slow.pre.test")
	e.up.mu.Lock()
	refusedAt(e.up.orders[invalidURL])
	e.up.orders[readyURL].status, e.up.orders[readyURL].out = acme.StatusReady, nil
	e.up.orders[slowURL].status, e.up.orders[slowURL].out = acme.StatusProcessing, nil
	e.up.names = []string{"other.pre.test"}
	e.up.mu.Unlock()
	wrong, _ := e.issuedHeld(a, "wrong.pre.test")

	e.advance(15 * time.Minute)
	if err := e.ra.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := settledOrder(t, st, invalid.ID); got.Status != acme.StatusInvalid || got.Error == nil || got.Error.Type != acme.RejectedIdentifier {
		t.Fatalf("order whose upstream order is invalid: %s %+v; want invalid with the upstream's problem", got.Status, got.Error)
	}
	if got := settledOrder(t, st, ready.ID); got.Status != acme.StatusInvalid || got.Error == nil || !strings.Contains(got.Error.Detail, "before upstream CA upstream-test was asked to issue") {
		t.Fatalf("order whose upstream order was never finalized: %s %+v", got.Status, got.Error)
	}
	got := settledOrder(t, st, wrong.ID)
	if got.Status != acme.StatusInvalid || got.Error == nil || !strings.Contains(got.Error.Detail, "returned a certificate for other.pre.test, not the order's wrong.pre.test") {
		t.Fatalf("order whose recovered certificate has other names: %s %+v", got.Status, got.Error)
	}
	checkUpstreamRefused(t, e.policyEnv, e.up, got, []int{cessationOfOperation})
	if n, err := st.CountCertificates(ctx); err != nil || n != 0 {
		t.Fatalf("certificates stored: %d, %v; want none", n, err)
	}

	// Still processing upstream a day later: given up.
	e.advance(ra.RemoteRecoveryWindow)
	if err := e.ra.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	got = settledOrder(t, st, slow.ID)
	if got.Status != acme.StatusInvalid || got.Error == nil || !strings.Contains(got.Error.Detail, "did not finish order "+slowURL+" within 24h0m0s") {
		t.Fatalf("order still processing upstream past the window: %s %+v", got.Status, got.Error)
	}
}

// checkUpstreamRefused checks that the certificate the upstream issued for
// order o and certgate refused is recorded in the audit log
// (certificate.upstream_refused: its serial, fingerprint, the order,
// revoked upstream) and that the upstream was asked to revoke with
// wantRevoked.
func checkUpstreamRefused(t *testing.T, e *policyEnv, up *gatedUpstream, o *store.Order, wantRevoked []int) {
	t.Helper()
	evs, err := audit.New(e.st, nil).List(context.Background(), store.AuditFilter{Action: audit.ActionCertificateUpstreamRefused, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		var rec struct {
			Serial, Order, Issuer string
			Fingerprint           string `json:"fingerprint_sha256"`
			Revoked               bool   `json:"revoked_upstream"`
		}
		if err := json.Unmarshal([]byte(ev.After), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Order != o.ID {
			continue
		}
		up.mu.Lock()
		var der []byte
		for _, uo := range up.orders {
			if uo.out == nil {
				continue
			}
			if leaf, _ := x509.ParseCertificate(uo.out.DER); leaf.SerialNumber.Text(16) == rec.Serial {
				der = uo.out.DER
			}
		}
		revoked := slices.Clone(up.revoked)
		up.mu.Unlock()
		fp := sha256.Sum256(der)
		if der == nil || ev.ObjectID != rec.Serial || rec.Fingerprint != hex.EncodeToString(fp[:]) || rec.Issuer != "upstream-test" || !rec.Revoked {
			t.Fatalf("certificate.upstream_refused %s: %s; want the upstream's serial and fingerprint, revoked", ev.ObjectID, ev.After)
		}
		if !slices.Equal(revoked, wantRevoked) {
			t.Fatalf("revocations asked of the upstream: %v; want %v", revoked, wantRevoked)
		}
		return
	}
	t.Fatalf("no certificate.upstream_refused event for order %s among %d", o.ID, len(evs))
}
