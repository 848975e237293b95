package wfe_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	cgacme "github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv"
	"github.com/certgate/certgate/internal/testenv/testdns"
)

// TestApprovalRechecksCAA: an approval that comes more than
// caa-recheck-after (8h) after the validation makes issuance check CAA
// again, as finalize does (docs/validation.md); CAA records that now
// forbid this CA make the order invalid with a caa problem instead of
// issuing on the validation's old check.
func TestApprovalRechecksCAA(t *testing.T) {
	var skew atomic.Int64 // added to the server's clock
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	env := testenv.NewWithOptions(t, testenv.Options{CAAIdentities: []string{"certgate.test"},
		Server: server.Options{Now: now, ProfileTTL: time.Nanosecond}})
	putProfile(t, env, policy.Profile{Name: "signing", Validity: policy.Duration(30 * 24 * time.Hour), Approval: &policy.Approval{Always: true}})
	c, _ := clRegistered(t, env, nil)
	ctx := clTestCtx(t)
	st := env.Server.Store()

	name := "approved-late.caa.example.test"
	ids := acme.DomainIDs(name)
	o, err := c.AuthorizeOrder(ctx, ids, acme.WithOrderIssuanceProfile("signing"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range o.AuthzURLs {
		clSolve(t, env, c, u, "http-01") // no CAA records: allowed
	}
	csr, _ := clCsrFor(t, ids, nil)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go c.CreateOrderCert(fctx, o.FinalizeURL, csr, false) // waits; its outcome is read from the order below
	var ap *store.Approval
	for deadline := time.Now().Add(10 * time.Second); ap == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no approval requested")
		}
		aps, _ := st.ListApprovals(context.Background(), store.ApprovalPending, 10)
		if len(aps) == 1 {
			ap = aps[0]
		}
	}
	cancel()

	env.DNS.SetCAA(name, testdns.CAA{Tag: "issue", Value: "otherca.test"})
	skew.Store(int64(9 * time.Hour))
	if _, err := st.DecideApproval(context.Background(), ap.ID, true, "tester", "ok", nil, now().UTC()); err != nil {
		t.Fatal(err)
	}
	// The fetch that resumes the approved order answers the caa problem
	// (unless the server's sweep resumed it first); then the order is
	// invalid with it.
	_, err = c.GetOrder(ctx, o.URI)
	var ae *acme.Error
	if err != nil && (!errors.As(err, &ae) || ae.StatusCode != http.StatusForbidden || ae.ProblemType != string(cgacme.CAA)) {
		t.Errorf("fetching the approved order: %v, want 403 caa", err)
	}
	got, err := c.GetOrder(ctx, o.URI)
	if err != nil || got.Status != acme.StatusInvalid || got.Error == nil || got.Error.ProblemType != string(cgacme.CAA) {
		t.Fatalf("order after the approval: %+v, %v; want invalid with a caa error", got, err)
	}
}
