package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
)

// gatedUpstream stands in for a CA elsewhere (internal/issuer/acmeupstream
// against pebble is test/e2e's TestUpstreamPebble): a CA of its own that
// chooses its serials and keeps its orders by URL, whose Issue waits until
// the test opens gate, so that what the RA does while the upstream works
// is seen without timing. With hold set, Issue signs and then never
// answers until hold is closed (certgate died before it stored the
// certificate), sending the order's URL on issued first.
type gatedUpstream struct {
	ca   *local.Issuer
	gate chan struct{}

	mu        sync.Mutex
	fail      error    // Issue's error, when set
	names     []string // the names Issue signs instead of the request's, when set
	revoked   []int    // reasons of the revocations asked
	revokeErr error    // Revoke's error, when set
	hold      chan struct{}
	issued    chan string
	orders    map[string]*upOrder // by URL
	resumes   int                 // Resume calls
}

// upOrder is an order at gatedUpstream: its status (RFC 8555 §7.1.6) and
// outcome.
type upOrder struct {
	status string
	out    *issuer.Issued
	err    error
}

// upAccount is gatedUpstream's account URL.
const upAccount = "https://up.example.test/acct/1"

func (u *gatedUpstream) Name() string                { return "upstream-test" }
func (u *gatedUpstream) IssueTimeout() time.Duration { return 10 * time.Second }

func (u *gatedUpstream) Issue(ctx context.Context, req issuer.IssueRequest) (*issuer.Issued, error) {
	u.mu.Lock()
	if u.orders == nil {
		u.orders = map[string]*upOrder{}
	}
	url := fmt.Sprintf("https://up.example.test/order/%d", len(u.orders)+1)
	o := &upOrder{status: acme.StatusReady}
	u.orders[url] = o
	u.mu.Unlock()
	if req.Placed == nil {
		return nil, errors.New("the RA does not record the upstream order")
	}
	if err := req.Placed(ctx, issuer.RemoteOrder{OrderURL: url, AccountURL: upAccount}); err != nil {
		return nil, err
	}
	select {
	case <-u.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	u.mu.Lock()
	fail, names, hold := u.fail, u.names, u.hold
	u.mu.Unlock()
	if fail != nil {
		u.set(o, acme.StatusInvalid, nil, fail)
		return nil, fail
	}
	if req.CSR == nil {
		return nil, errors.New("no CSR forwarded")
	}
	serial, err := local.RandomSerial() // its own, not the reserved one
	if err != nil {
		return nil, err
	}
	req.Serial = serial
	if names != nil {
		req.DNSNames = names
	}
	out, err := u.ca.Issue(ctx, req)
	if err != nil {
		return nil, err
	}
	u.set(o, acme.StatusValid, out, nil)
	if hold != nil {
		u.issued <- url
		<-hold
		return nil, fmt.Errorf("upstream-test: no answer: %w", issuer.ErrRemoteProcessing)
	}
	return out, nil
}

func (u *gatedUpstream) set(o *upOrder, status string, out *issuer.Issued, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	o.status, o.out, o.err = status, out, err
}

func (u *gatedUpstream) Revoke(_ context.Context, _ []byte, reason int) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.revokeErr != nil {
		return u.revokeErr
	}
	u.revoked = append(u.revoked, reason)
	return nil
}

func (u *gatedUpstream) Resume(_ context.Context, ro issuer.RemoteOrder) (*issuer.Issued, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.resumes++
	o := u.orders[ro.OrderURL]
	switch {
	case o == nil || ro.AccountURL != upAccount:
		return nil, acme.NewProblem(acme.Malformed, "upstream CA upstream-test has no order %s for account %s", ro.OrderURL, ro.AccountURL)
	case o.status == acme.StatusValid:
		return o.out, nil
	case o.status == acme.StatusInvalid:
		return nil, o.err
	case o.status == acme.StatusProcessing:
		return nil, fmt.Errorf("upstream-test: %w", issuer.ErrRemoteProcessing)
	}
	return nil, fmt.Errorf("upstream-test: %w", issuer.ErrRemoteNotFinalized)
}

// TestRemoteIssuer: a profile whose issuer is a CA elsewhere (issuer.Remote)
// answers finalize processing at once and issues detached; the
// certificate is stored under the upstream's name and serial with its
// audit event; an upstream refusal makes the order invalid with the
// upstream's problem and stores nothing; a certificate for other names is
// not served, but recorded in the audit log and revoked at the upstream; revocation goes to the upstream first, and is not recorded
// when the upstream refuses; a newOrder asking for a validity is refused;
// an approved order is issued detached too; the upstream's order is
// recorded against each order before it is asked to issue.
func TestRemoteIssuer(t *testing.T) {
	const superseded = 4 // RFC 5280 §5.3.1
	dir := t.TempDir()
	upCA, err := local.LoadOrCreate(filepath.Join(dir, "upstream-ca"), local.Options{LintBeforeSign: true,
		IssuerURL: "http://up.example.test/ca.crt", CRLURL: "http://up.example.test/crl"})
	if err != nil {
		t.Fatal(err)
	}
	up := &gatedUpstream{ca: &local.Issuer{CA: upCA, IssuerURL: "http://up.example.test/ca.crt", CRLURL: "http://up.example.test/crl"}, gate: make(chan struct{})}
	gw := policy.Profile{Name: "gw", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30), Issuer: "upstream-test"}
	gwApproved := policy.Profile{Name: "gw-approved", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30), Issuer: "upstream-test",
		Approval: &policy.Approval{Always: true}}
	e := newPolicyEnvWith(t, ra.Config{Issuers: []issuer.Issuer{up}}, gw, gwApproved)
	ctx := context.Background()
	a := e.account("gw", nil, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	finalize := func(name string) *store.Order {
		t.Helper()
		o, azs := e.readyOrder(a, "gw", name)
		got, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, name), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != acme.StatusProcessing {
			t.Fatalf("finalize answered %q while the upstream works; want processing", got.Status)
		}
		stored, err := e.st.GetOrder(ctx, o.ID)
		if err != nil || stored.Status != acme.StatusProcessing {
			t.Fatalf("stored order while the upstream works: %+v, %v; want processing", stored, err)
		}
		return o
	}
	// settled waits for the detached issuance to end the order.
	settled := func(o *store.Order) *store.Order {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			got, err := e.st.GetOrder(ctx, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != acme.StatusProcessing {
				return got
			}
		}
		t.Fatalf("order %s still processing", o.ID)
		return nil
	}

	// The upstream sets the validity: an order asking for one is refused.
	_, err = e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "gw", Identifiers: dnsIDs("v.pre.test"),
		NotAfter: e.now.Add(48 * time.Hour).Format(time.RFC3339)})
	if p, ok := acme.AsProblem(err); !ok || p.Type != acme.Malformed || !strings.Contains(p.Detail, "upstream CA upstream-test, which sets the validity itself") {
		t.Fatalf("newOrder with notAfter: %v; want malformed naming the upstream", err)
	}

	o := finalize("a.pre.test")
	close(up.gate)
	done := settled(o)
	if ro, err := e.st.GetRemoteOrder(ctx, o.ID); err != nil || ro.UpstreamOrder != "https://up.example.test/order/1" || ro.UpstreamAccount != upAccount || ro.Issuer != "upstream-test" {
		t.Fatalf("upstream order recorded: %+v, %v", ro, err)
	}
	if done.Status != acme.StatusValid || done.CertSerial == "" {
		t.Fatalf("order after the upstream issued: %+v (error %+v); want valid", done, done.Error)
	}
	cert, err := e.st.GetCertificate(ctx, done.CertSerial)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.DER)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Issuer != "upstream-test" || cert.Serial != leaf.SerialNumber.Text(16) || issuer.SignedSerial(cert.DER, upCA.Intermediate()) == nil {
		t.Fatalf("stored certificate: issuer %q serial %s (leaf %x); want the upstream's name and serial, signed by it", cert.Issuer, cert.Serial, leaf.SerialNumber)
	}
	evs, err := audit.New(e.st, nil).List(ctx, store.AuditFilter{Action: audit.ActionCertificateIssue, Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].ObjectID != cert.Serial {
		t.Fatalf("issue events %+v, %v; want one for %s", evs, err, cert.Serial)
	}

	// After an approval, the upstream is asked detached as well.
	b := e.account("gw-approved", nil, nil)
	ao, aazs := e.readyOrder(b, "gw-approved", "appr.pre.test")
	parked, err := e.ra.Finalize(ctx, b, ao, aazs, csrFor(t, key, "appr.pre.test"), nil)
	if err != nil || parked.Status != store.OrderAwaitingApproval {
		t.Fatalf("finalize of an order needing approval: %+v, %v", parked, err)
	}
	ap, err := e.st.GetApprovalByOrder(ctx, ao.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.DecideApproval(ctx, ap.ID, true, "alice", "ok", nil, e.now); err != nil {
		t.Fatal(err)
	}
	resumed, err := e.ra.ResumeApproved(ctx, parked)
	if err != nil || (resumed.Status != acme.StatusProcessing && resumed.Status != acme.StatusValid) {
		t.Fatalf("resume after approval: %+v, %v; want processing (or valid already)", resumed, err)
	}
	if got := settled(ao); got.Status != acme.StatusValid {
		t.Fatalf("approved order: %+v (error %+v); want valid", got, got.Error)
	}

	// The upstream refuses: the order is invalid with its problem.
	up.mu.Lock()
	up.fail = acme.NewProblem(acme.RejectedIdentifier, "upstream CA upstream-test did not issue the certificate: rejectedIdentifier: not ours")
	up.mu.Unlock()
	bad := settled(finalize("b.pre.test"))
	if bad.Status != acme.StatusInvalid || bad.Error == nil || bad.Error.Type != acme.RejectedIdentifier || !strings.Contains(bad.Error.Detail, "upstream CA upstream-test") {
		t.Fatalf("order after the upstream refused: %+v (error %+v)", bad, bad.Error)
	}
	// It returns a certificate for other names: not served.
	up.mu.Lock()
	up.fail, up.names = nil, []string{"other.pre.test"}
	up.mu.Unlock()
	wrong := settled(finalize("c.pre.test"))
	if wrong.Status != acme.StatusInvalid || wrong.Error == nil || !strings.Contains(wrong.Error.Detail, "returned a certificate for other.pre.test, not the order's c.pre.test") {
		t.Fatalf("order after the upstream signed other names: %+v (error %+v)", wrong, wrong.Error)
	}
	if n, err := e.st.CountCertificates(ctx); err != nil || n != 2 {
		t.Fatalf("certificates stored: %d, %v; want the first and the approved one", n, err)
	}
	// ... but it is recorded, with its serial and fingerprint, and
	// revoked at the upstream (cessationOfOperation).
	checkUpstreamRefused(t, e, up, wrong, []int{cessationOfOperation})

	// Revocation: refused upstream, nothing recorded; then forwarded.
	up.mu.Lock()
	up.revokeErr = acme.NewProblem(acme.ServerInternal, "upstream CA upstream-test did not revoke the certificate: it could not be reached")
	up.mu.Unlock()
	if _, err := e.ra.RevokeSerial(ctx, cert.Serial, superseded, "token:ops"); err == nil || !strings.Contains(err.Error(), "did not revoke") {
		t.Fatalf("revocation refused upstream: %v; want the upstream's problem", err)
	}
	if c, _ := e.st.GetCertificate(ctx, cert.Serial); c.Status != acme.StatusValid {
		t.Fatalf("a revocation the upstream refused was recorded: %s", c.Status)
	}
	up.mu.Lock()
	up.revokeErr = nil
	up.mu.Unlock()
	if _, err := e.ra.RevokeSerial(ctx, cert.Serial, superseded, "token:ops"); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.st.GetCertificate(ctx, cert.Serial); c.Status != acme.StatusRevoked || !slices.Equal(up.revoked, []int{cessationOfOperation, superseded}) {
		t.Fatalf("after the revocation: %s, upstream asked %v; want revoked, superseded asked once (after the refused certificate's cessationOfOperation)", c.Status, up.revoked)
	}
}
