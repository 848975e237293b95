package store_test

import (
	"context"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// testStatusIndexRows: the queries answered by the partial indexes of
// migration 00014 (rows in one status only) find every row in that status,
// whichever way it got there, and no row that left it: the sweep deletes
// expired pending and invalid orders, and expired pending, invalid and
// never-valid deactivated authorizations with their challenges, and keeps
// the rest; pending authorizations are counted until they turn valid or
// invalid; orders are found processing only while processing; challenges
// are leased only while processing; revoked certificates are listed.
func testStatusIndexRows(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a := createAccount(t, s, "acct1")
	b := createAccount(t, s, "acct2")
	pending := func(account string) int {
		t.Helper()
		n, _, err := s.PendingAuthorizations(ctx, account, now)
		must(t, err)
		return n
	}
	finish := func(ch string, ok bool) {
		t.Helper()
		must(t, s.StartChallenge(ctx, ch, now))
		c, err := s.GetChallenge(ctx, ch)
		must(t, err)
		var p *acme.Problem
		if !ok {
			p = &acme.Problem{Type: acme.Unauthorized, Detail: "no", Status: 403}
		}
		must(t, s.FinishChallenge(ctx, c, p, now, now.Add(30*time.Minute)))
	}

	// Orders: pending (po), invalid (io), processing (pr), valid (vo).
	// Authorizations: pending (pa, and pb of acct2), invalid (ia), valid
	// (va), deactivated while pending (da), deactivated after valid (dv).
	createOrder(t, s, a.ID, "po", newAuthz(a.ID, "pa", "p.example.test", false, acme.ChallengeHTTP01, acme.ChallengeDNS01))
	createOrder(t, s, b.ID, "pob", newAuthz(b.ID, "pb", "p.example.test", false, acme.ChallengeHTTP01))
	if n := pending(a.ID); n != 1 {
		t.Fatalf("pending authorizations of acct1 = %d, want 1", n)
	}
	createOrder(t, s, a.ID, "io", newAuthz(a.ID, "ia", "i.example.test", false, acme.ChallengeHTTP01))
	createOrder(t, s, a.ID, "pr", newAuthz(a.ID, "va", "v.example.test", false, acme.ChallengeHTTP01))
	createOrder(t, s, a.ID, "vo", newAuthz(a.ID, "dv", "d.example.test", false, acme.ChallengeHTTP01))
	createOrder(t, s, a.ID, "do", newAuthz(a.ID, "da", "x.example.test", false, acme.ChallengeHTTP01))
	if n := pending(a.ID); n != 5 {
		t.Fatalf("pending authorizations of acct1 = %d, want 5", n)
	}
	if n, _, err := s.PendingAuthorizations(ctx, a.ID, now.Add(2*time.Hour)); err != nil || n != 0 {
		t.Fatalf("pending authorizations after their expiry = %d, %v; want 0", n, err)
	}

	// A processing challenge is leased until it finishes.
	must(t, s.StartChallengeLeased(ctx, "ia-http-01", "node-a", now, now.Add(time.Minute)))
	if ids, err := s.ExpiredLeases(ctx, now.Add(2*time.Minute), 10); err != nil || !reflect.DeepEqual(ids, []string{"ia-http-01"}) {
		t.Fatalf("ExpiredLeases = %v, %v; want [ia-http-01]", ids, err)
	}
	c, err := s.GetChallenge(ctx, "ia-http-01")
	must(t, err)
	must(t, s.FinishChallenge(ctx, c, &acme.Problem{Type: acme.Unauthorized, Detail: "no", Status: 403}, now, now))
	must(t, s.SetOrderStatus(ctx, "io", acme.StatusPending, acme.StatusInvalid, nil, now))
	if ids, err := s.ExpiredLeases(ctx, now.Add(2*time.Minute), 10); err != nil || len(ids) != 0 {
		t.Fatalf("ExpiredLeases after the challenge finished = %v, %v; want none", ids, err)
	}
	finish("va-http-01", true)
	finish("dv-http-01", true)
	must(t, s.SetAuthorizationStatus(ctx, "dv", []string{acme.StatusValid}, acme.StatusDeactivated))
	must(t, s.SetAuthorizationStatus(ctx, "da", []string{acme.StatusPending}, acme.StatusDeactivated))
	if n := pending(a.ID); n != 1 {
		t.Fatalf("pending authorizations of acct1 = %d, want 1 (pa)", n)
	}
	if n := pending(b.ID); n != 1 {
		t.Fatalf("pending authorizations of acct2 = %d, want 1 (pb)", n)
	}
	if az, err := s.FindValidAuthorization(ctx, a.ID, "", acme.Identifier{Type: acme.IdentifierDNS, Value: "v.example.test"}, false, now, now.Add(-time.Hour)); err != nil || az.ID != "va" {
		t.Fatalf("FindValidAuthorization = %+v, %v; want va", az, err)
	}
	if _, err := s.FindValidAuthorization(ctx, a.ID, "", acme.Identifier{Type: acme.IdentifierDNS, Value: "d.example.test"}, false, now, now.Add(-time.Hour)); err == nil {
		t.Fatal("FindValidAuthorization found the deactivated authorization")
	}

	// pr stays processing (a crash), vo is issued and then revoked.
	must(t, s.StartIssuance(ctx, "pr", "5a", now))
	must(t, s.SetOrderStatus(ctx, "vo", acme.StatusPending, acme.StatusProcessing, nil, now))
	if ids, err := s.ProcessingOrders(ctx, now.Add(time.Second)); err != nil || !sameIDs(ids, "pr", "vo") {
		t.Fatalf("ProcessingOrders = %v, %v; want pr and vo", ids, err)
	}
	must(t, s.ReserveSerial(ctx, "5b", now))
	vc := newCert("5b", "vo", a.ID)
	vc.DER = certDER(t, testKey(t)) // revoked for keyCompromise below: its key is read from the DER
	must(t, s.FinishOrder(ctx, "vo", vc, now))
	if ids, err := s.ProcessingOrders(ctx, now.Add(time.Second)); err != nil || !sameIDs(ids, "pr") {
		t.Fatalf("ProcessingOrders after vo was issued = %v, %v; want pr", ids, err)
	}
	if rev, err := s.RevokedCertificates(ctx, "local", "", now); err != nil || len(rev) != 0 {
		t.Fatalf("RevokedCertificates before revocation = %v, %v", rev, err)
	}
	must(t, s.RevokeCertificate(ctx, "5b", 1, now))
	if rev, err := s.RevokedCertificates(ctx, "local", "", now); err != nil || len(rev) != 1 || rev[0].Serial != "5b" {
		t.Fatalf("RevokedCertificates = %v, %v; want 5b", rev, err)
	}

	// Everything expires within the hour: the sweep takes po, pob, io and
	// do (pending or invalid orders) and pa, pb, ia and da with their
	// challenges; pr, vo, va and dv stay.
	o, z, err := s.DeleteStale(ctx, now.Add(2*time.Hour))
	must(t, err)
	if o != 4 || z != 4 {
		t.Fatalf("DeleteStale deleted %d orders and %d authorizations, want 4 and 4", o, z)
	}
	for _, id := range []string{"po", "pob", "io", "do"} {
		_, err := s.GetOrder(ctx, id)
		wantErr(t, "stale order "+id, err, store.ErrNotFound)
	}
	for _, id := range []string{"pr", "vo"} {
		if _, err := s.GetOrder(ctx, id); err != nil {
			t.Fatalf("order %s: %v", id, err)
		}
	}
	for _, id := range []string{"pa", "pb", "ia", "da"} {
		_, err := s.GetAuthorization(ctx, id)
		wantErr(t, "stale authorization "+id, err, store.ErrNotFound)
	}
	for _, ch := range []string{"pa-http-01", "pa-dns-01", "pb-http-01", "ia-http-01", "da-http-01"} {
		_, err := s.GetChallenge(ctx, ch)
		wantErr(t, "challenge "+ch+" of a stale authorization", err, store.ErrNotFound)
	}
	for _, id := range []string{"va", "dv"} {
		if az, err := s.GetAuthorization(ctx, id); err != nil || len(az.Challenges) != 1 {
			t.Fatalf("authorization %s = %+v, %v", id, az, err)
		}
	}
	if o, z, err := s.DeleteStale(ctx, now.Add(2*time.Hour)); err != nil || o != 0 || z != 0 {
		t.Fatalf("second DeleteStale = %d, %d, %v; want nothing left", o, z, err)
	}
}

func sameIDs(got []string, want ...string) bool {
	got = append([]string(nil), got...)
	sort.Strings(got)
	sort.Strings(want)
	return reflect.DeepEqual(got, want)
}
