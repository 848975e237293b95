package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv/testca"
)

// updateProfile replaces the stored profile p.Name with p.
func (e *policyEnv) updateProfile(p policy.Profile) {
	e.t.Helper()
	if err := p.Validate(); err != nil {
		e.t.Fatal(err)
	}
	spec, _ := json.Marshal(p)
	if err := e.st.PutProfile(context.Background(), &store.Profile{Name: p.Name, Spec: spec, CreatedAt: e.now, UpdatedAt: e.now}, true); err != nil {
		e.t.Fatal(err)
	}
}

// approveAfterChange finalizes ready order o of account a with csr, which
// parks it for its approver, then replaces its profile with changed, has
// the approver approve and returns the error of issuing the approved
// order (ResumeApproved).
func (e *policyEnv) approveAfterChange(a *store.Account, o *store.Order, azs []*store.Authorization, csr []byte, changed policy.Profile) error {
	e.t.Helper()
	ctx := context.Background()
	parked, err := e.ra.Finalize(ctx, a, o, azs, csr, nil)
	if err != nil || parked.Status != store.OrderAwaitingApproval {
		e.t.Fatalf("finalize: %v %v", parked, err)
	}
	e.updateProfile(changed)
	ap, err := e.st.GetApprovalByOrder(ctx, o.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.DecideApproval(ctx, ap.ID, true, "alice", "ok", nil, e.now); err != nil {
		e.t.Fatal(err)
	}
	_, err = e.ra.ResumeApproved(ctx, parked)
	return err
}

// wantInvalidOrder checks that order id is stored invalid with an error
// of type typ and no certificate.
func (e *policyEnv) wantInvalidOrder(id string, typ acme.ProblemType) {
	e.t.Helper()
	o, err := e.st.GetOrder(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	if o.Status != acme.StatusInvalid || o.CertSerial != "" || o.Error == nil || o.Error.Type != typ {
		e.t.Errorf("order %s: status %s serial %q error %v; want invalid without certificate, error %s", id, o.Status, o.CertSerial, o.Error, typ)
	}
}

// TestProfileTightenedAfterOrder: identifier rules, identifier types,
// the wildcard flag and requireEAB tightened after an order was created
// are enforced at finalize and before an approved order is issued, with
// the newOrder check on the profile as it is now: rejectedIdentifier with
// one subproblem per refused identifier (externalAccountRequired for
// requireEAB), and the order becomes invalid (RFC 8555 §7.1.6: it cannot
// be issued, whatever CSR is sent).
func TestProfileTightenedAfterOrder(t *testing.T) {
	base := policy.Profile{Name: "web", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Wildcard: true, Validity: days(30)}
	e := newPolicyEnv(t, base)
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	a := e.account("web", nil, nil)

	for _, c := range []struct {
		name    string
		names   []string
		tighten func(p *policy.Profile)
		refused []string // identifiers in subproblems
		subType acme.ProblemType
	}{
		{"deny added", []string{"a.pre.test", "b.pre.test"}, func(p *policy.Profile) { p.Deny = []string{"b.pre.test"} }, []string{"b.pre.test"}, acme.RejectedIdentifier},
		{"allow narrowed", []string{"a.pre.test", "b.pre.test", "c.pre.test"}, func(p *policy.Profile) { p.Allow = []string{"a.pre.test"} }, []string{"b.pre.test", "c.pre.test"}, acme.RejectedIdentifier},
		{"wildcards off", []string{"*.w.pre.test", "w.pre.test"}, func(p *policy.Profile) { p.Wildcard = false }, []string{"*.w.pre.test"}, acme.RejectedIdentifier},
		{"ip only", []string{"t.pre.test"}, func(p *policy.Profile) { p.IdentifierTypes = []string{acme.IdentifierIP} }, []string{"t.pre.test"}, acme.UnsupportedIdentifier},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.updateProfile(base)
			o, azs := e.readyOrder(a, "web", c.names...)
			tight := base
			c.tighten(&tight)
			e.updateProfile(tight)
			_, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, c.names...), nil)
			p := wantProblem(t, err, acme.RejectedIdentifier, "profile web")
			if len(p.Subproblems) != len(c.refused) {
				t.Fatalf("subproblems %+v, want one each for %v", p.Subproblems, c.refused)
			}
			for i, sp := range p.Subproblems {
				if sp.Identifier == nil || sp.Identifier.Value != c.refused[i] || sp.Type != c.subType {
					t.Errorf("subproblem %d %+v, want %s for %s", i, sp, c.subType, c.refused[i])
				}
			}
			if !strings.Contains(p.Detail, "changed after the order was created") {
				t.Errorf("detail %q does not say the profile changed", p.Detail)
			}
			e.wantInvalidOrder(o.ID, acme.RejectedIdentifier)
		})
	}

	// The control: the same order under the unchanged profile issues.
	e.updateProfile(base)
	o, azs := e.readyOrder(a, "web", "ok.pre.test")
	if _, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "ok.pre.test"), nil); err != nil {
		t.Fatalf("unchanged profile: %v", err)
	}

	// requireEAB turned on for a profile whose order came from an unbound
	// account.
	open := policy.Profile{Name: "open", Wildcard: true, Validity: days(30)}
	e.putProfile(open)
	plain := e.account("", nil, nil)
	o, err := e.ra.NewOrder(ctx, plain, acme.NewOrderRequest{Profile: "open", Identifiers: dnsIDs("plain.test")})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range o.AuthzIDs {
		if err := e.st.SetAuthorizationStatus(ctx, id, []string{acme.StatusPending}, acme.StatusValid); err != nil {
			t.Fatal(err)
		}
	}
	azs, _ = e.st.GetAuthorizations(ctx, o.AuthzIDs)
	open.RequireEAB = true
	e.updateProfile(open)
	_, err = e.ra.Finalize(ctx, plain, o, azs, csrFor(t, key, "plain.test"), nil)
	wantProblem(t, err, acme.ExternalAccountRequired, "changed after the order was created")
	e.wantInvalidOrder(o.ID, acme.ExternalAccountRequired)
}

// TestApprovedOrderRecheckedAgainstProfile: a name denied after the
// finalize that parked the order for approval is not issued when the
// approver approves: the order becomes invalid with rejectedIdentifier.
func TestApprovedOrderRecheckedAgainstProfile(t *testing.T) {
	p := policy.Profile{Name: "gated", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30), Approval: &policy.Approval{Always: true}}
	e := newPolicyEnv(t, p)
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	a := e.account("gated", nil, nil)
	o, azs := e.readyOrder(a, "gated", "x.pre.test", "y.pre.test")
	parked, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "x.pre.test", "y.pre.test"), nil)
	if err != nil || parked.Status != store.OrderAwaitingApproval {
		t.Fatalf("finalize: %v %v", parked, err)
	}
	p.Deny = []string{"y.pre.test"}
	e.updateProfile(p)
	ap, err := e.st.GetApprovalByOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.DecideApproval(ctx, ap.ID, true, "alice", "ok", nil, e.now); err != nil {
		t.Fatal(err)
	}
	_, err = e.ra.ResumeApproved(ctx, parked)
	prob := wantProblem(t, err, acme.RejectedIdentifier, "y.pre.test")
	if len(prob.Subproblems) != 1 || prob.Subproblems[0].Identifier.Value != "y.pre.test" {
		t.Errorf("subproblems %+v, want one for y.pre.test", prob.Subproblems)
	}
	e.wantInvalidOrder(o.ID, acme.RejectedIdentifier)
	if st := ra.OrderStatus(parked, azs, e.now); st == acme.StatusValid {
		t.Error("served valid")
	}
}

// TestApprovedOrderRecheckedKeyType: a CSR key type the profile stopped
// allowing while the order waited for its approver is not issued when the
// approver approves (the profile as it is then decides, as at finalize):
// the order becomes invalid with badCSR and no certificate is stored.
func TestApprovedOrderRecheckedKeyType(t *testing.T) {
	p := policy.Profile{Name: "gated", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30),
		KeyTypes: []string{policy.KeyECDSAP256, policy.KeyECDSAP384}, Approval: &policy.Approval{Always: true}}
	e := newPolicyEnv(t, p)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	a := e.account("gated", nil, nil)
	o, azs := e.readyOrder(a, "gated", "k.pre.test")
	p.KeyTypes = []string{policy.KeyECDSAP384}
	err := e.approveAfterChange(a, o, azs, csrFor(t, key, "k.pre.test"), p)
	wantProblem(t, err, acme.BadCSR, "does not allow ecdsa-p256 keys")
	e.wantInvalidOrder(o.ID, acme.BadCSR)
}

// TestApprovedOrderRefusedAfterMaximumLowered: an order parked for
// approval whose requested notAfter is beyond its profile's maximum
// validity once the maximum was lowered is not issued when the approver
// approves: the order becomes invalid (malformed, naming the profile
// change) instead of getting a certificate with another notAfter than
// its own (RFC 8555 §7.4).
func TestApprovedOrderRefusedAfterMaximumLowered(t *testing.T) {
	p := policy.Profile{Name: "gated", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(10), MaxValidity: days(60),
		Approval: &policy.Approval{Always: true}}
	e := newPolicyEnv(t, p)
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	a := e.account("gated", nil, nil)
	o, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "gated", Identifiers: dnsIDs("x.pre.test"),
		NotAfter: e.now.Add(50 * 24 * time.Hour).Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	azs, err := e.st.GetAuthorizations(ctx, o.AuthzIDs)
	if err != nil {
		t.Fatal(err)
	}
	p.MaxValidity = days(20)
	err = e.approveAfterChange(a, o, azs, csrFor(t, key, "x.pre.test"), p)
	wantProblem(t, err, acme.Malformed, "profile gated changed after the order was created")
	e.wantInvalidOrder(o.ID, acme.Malformed)
}

// TestApprovedOrderRecheckedWeakKey: an order parked for approval is
// issued only if its CSR's key passes the weak-key checks of finalize as
// they are when it is issued. An approval requested before a check was
// added (here the ROCA fingerprint, stored as a former finalize stored
// it) was issued with the key the new check refuses: the issuance lint
// does not look for it (badCSR, order invalid).
func TestApprovedOrderRecheckedWeakKey(t *testing.T) {
	p := policy.Profile{Name: "gated", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30),
		Approval: &policy.Approval{Always: true}}
	e := newPolicyEnv(t, p)
	ctx := context.Background()
	a := e.account("gated", nil, nil)
	o, _ := e.readyOrder(a, "gated", "roca.pre.test")
	ap := &store.Approval{ID: "ap-roca", OrderID: o.ID, AccountID: a.ID, Profile: o.Profile, Identifiers: o.Identifiers, KeyType: "rsa-2048",
		Reason: "always", CSR: csrFor(t, testca.ROCAKey(t), "roca.pre.test"), Status: store.ApprovalPending, RequestedAt: e.now}
	if err := e.st.RequestApproval(ctx, ap, e.now); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.DecideApproval(ctx, ap.ID, true, "alice", "ok", nil, e.now); err != nil {
		t.Fatal(err)
	}
	parked, err := e.st.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.ra.ResumeApproved(ctx, parked)
	wantProblem(t, err, acme.BadCSR, "ROCA")
	e.wantInvalidOrder(o.ID, acme.BadCSR)
}

// TestProfileAttributesTightenedAfterOrder: a profile whose attribute
// rules changed after an order was created (a value no longer in the
// enum, an attribute now required) refuses the order at finalize with
// malformed saying that the profile changed, the order invalid; before,
// the certificate was issued and its record broke the profile's rules
// (notifications and searches rely on them). Under the unchanged profile
// the same order issues with its attributes.
func TestProfileAttributesTightenedAfterOrder(t *testing.T) {
	base := policy.Profile{Name: "attrs", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30),
		Attributes: []policy.Attribute{{Name: "environment", Enum: []string{"prod", "dev"}}, {Name: "owner"}}}
	e := newPolicyEnv(t, base)
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	a := e.account("attrs", map[string]string{"environment": "prod"}, nil)
	for _, c := range []struct {
		name    string
		tighten func(p *policy.Profile)
		want    string
	}{
		{"value dropped from the enum", func(p *policy.Profile) { p.Attributes[0].Enum = []string{"dev"} }, "environment (one of dev)"},
		{"attribute now required", func(p *policy.Profile) { p.Attributes[1].Required = true }, "owner"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.updateProfile(base)
			o, azs := e.readyOrder(a, "attrs", "a.pre.test")
			tight := base
			tight.Attributes = append([]policy.Attribute(nil), base.Attributes...)
			c.tighten(&tight)
			e.updateProfile(tight)
			_, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "a.pre.test"), nil)
			p := wantProblem(t, err, acme.Malformed, "profile attrs changed after the order was created")
			if !strings.Contains(p.Detail, c.want) {
				t.Errorf("detail %q does not name %q", p.Detail, c.want)
			}
			e.wantInvalidOrder(o.ID, acme.Malformed)
		})
	}
	e.updateProfile(base)
	o, azs := e.readyOrder(a, "attrs", "ok.pre.test")
	done, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "ok.pre.test"), nil)
	if err != nil {
		t.Fatalf("unchanged profile: %v", err)
	}
	rec, err := e.st.GetCertificate(ctx, done.CertSerial)
	if err != nil || rec.Attributes["environment"] != "prod" {
		t.Errorf("certificate attributes %v (%v), want environment=prod", rec.Attributes, err)
	}
}
