package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store/storetest"
)

// newShortIntermediateEnv is a policyEnv whose built-in CA's intermediate
// is valid for inter (certgate init --ca-intermediate-validity).
func newShortIntermediateEnv(t *testing.T, inter time.Duration, profiles ...policy.Profile) *policyEnv {
	t.Helper()
	dir := t.TempDir()
	if _, err := local.LoadOrCreate(filepath.Join(dir, "ca"), local.Options{IntermediateValidity: inter}); err != nil {
		t.Fatal(err)
	}
	return newPolicyEnvOn(t, storetest.OpenSQLite(t), dir, ra.Config{}, profiles...)
}

// TestLeafEndsWithIntermediate: under an intermediate valid for 30 days,
// a profile of 90 days issues a certificate whose notAfter is the
// intermediate's (it was two months later: the chain stopped verifying
// long before the leaf expired), logs the cut with a hint to rotate,
// and the ARI window (RFC 9773) follows from the cut validity: it ends
// before the intermediate does.
func TestLeafEndsWithIntermediate(t *testing.T) {
	e := newShortIntermediateEnv(t, 30*24*time.Hour,
		policy.Profile{Name: "long", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(90)})
	ctx := context.Background()
	end := e.iss.CA.Intermediate().NotAfter
	a := e.account("long", nil, nil)
	cert, _, _ := e.issued(a, "long", "w.pre.test")
	if !cert.NotAfter.Equal(end) {
		t.Fatalf("notAfter %s, want the intermediate's %s", cert.NotAfter, end)
	}
	if !strings.Contains(e.logs.String(), "cut to end with the intermediate") || !strings.Contains(e.logs.String(), "certgate ca rotate") {
		t.Errorf("the cut is not logged with the hint to rotate:\n%s", e.logs.String())
	}
	id := base64.RawURLEncoding.EncodeToString(cert.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(cert.SerialNumber.Bytes())
	ri, err := e.ra.RenewalInfo(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	life := cert.NotAfter.Sub(cert.NotBefore)
	w := ri.SuggestedWindow
	if d := w.Start.Sub(cert.NotBefore.Add(life / 3 * 2)); d < -time.Second || d > time.Second {
		t.Errorf("window start %s, want 2/3 of the cut validity %s", w.Start, cert.NotBefore.Add(life/3*2))
	}
	if d := w.End.Sub(cert.NotBefore.Add(life / 6 * 5)); d < -time.Second || d > time.Second {
		t.Errorf("window end %s, want 5/6 of the cut validity %s", w.End, cert.NotBefore.Add(life/6*5))
	}
	if !w.End.Before(end) {
		t.Errorf("window end %s is not before the intermediate's notAfter %s", w.End, end)
	}
}

// TestNewOrderNotAfterBeyondIntermediate: a newOrder that requests a
// notAfter after the intermediate's (within the profile's maximum) is
// refused with malformed naming the intermediate's notAfter and certgate
// ca rotate: the certificate could only be issued with another notAfter
// (RFC 8555 §7.4). It was accepted and issued as asked. One within the
// intermediate's validity is accepted.
func TestNewOrderNotAfterBeyondIntermediate(t *testing.T) {
	e := newShortIntermediateEnv(t, 30*24*time.Hour,
		policy.Profile{Name: "long", Validity: days(30), MaxValidity: days(90)})
	ctx := context.Background()
	end := e.iss.CA.Intermediate().NotAfter
	a := e.account("", nil, nil)
	_, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "long", Identifiers: dnsIDs("a.test"),
		NotAfter: e.now.Add(60 * 24 * time.Hour).Format(time.RFC3339)})
	p := wantProblem(t, err, acme.Malformed, "certgate ca rotate")
	if !strings.Contains(p.Detail, end.UTC().Format(time.RFC3339)) || !strings.Contains(p.Detail, "notAfter") {
		t.Errorf("detail %q does not name the intermediate's notAfter %s", p.Detail, end.UTC().Format(time.RFC3339))
	}
	_, err = e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "long", Identifiers: dnsIDs("a.test"),
		NotBefore: end.Format(time.RFC3339)})
	wantProblem(t, err, acme.Malformed, "notBefore")
	if _, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "long", Identifiers: dnsIDs("a.test"),
		NotAfter: end.Format(time.RFC3339)}); err != nil {
		t.Errorf("notAfter at the intermediate's: %v", err)
	}
}

// TestFinalizeNotAfterBeyondNewIntermediate: an order whose requested
// notAfter was within the intermediate of its newOrder, finalized when
// an intermediate ending earlier signs, is refused (malformed, create a
// new order) and becomes invalid rather than issued with a notAfter
// other than requested.
func TestFinalizeNotAfterBeyondNewIntermediate(t *testing.T) {
	e := newPolicyEnv(t, policy.Profile{Name: "long", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30), MaxValidity: days(90)})
	ctx := context.Background()
	a := e.account("long", nil, nil)
	o, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "long", Identifiers: dnsIDs("w.pre.test"),
		NotAfter: e.now.Add(60 * 24 * time.Hour).Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	azs, err := e.st.GetAuthorizations(ctx, o.AuthzIDs)
	if err != nil {
		t.Fatal(err)
	}
	short, err := local.LoadOrCreate(filepath.Join(t.TempDir(), "ca"), local.Options{LintBeforeSign: true, IntermediateValidity: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.iss.CA = short
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, err = e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "w.pre.test"), nil)
	wantProblem(t, err, acme.Malformed, "create a new order")
	e.wantInvalidOrder(o.ID, acme.Malformed)
}

// TestLeafWithinIntermediateUnchanged: a certificate that ends before the
// intermediate keeps the profile's validity, and nothing is logged.
func TestLeafWithinIntermediateUnchanged(t *testing.T) {
	e := newPolicyEnv(t, policy.Profile{Name: "p", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30)})
	a := e.account("p", nil, nil)
	cert, _, _ := e.issued(a, "p", "w.pre.test")
	if got := cert.NotAfter.Sub(cert.NotBefore) + time.Second; got != 30*24*time.Hour {
		t.Errorf("validity %s, want 30 days", got)
	}
	if strings.Contains(e.logs.String(), "cut to end with the intermediate") {
		t.Errorf("a certificate within the intermediate logged a cut:\n%s", e.logs.String())
	}
}
