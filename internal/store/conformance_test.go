package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// now has a nanosecond part so that round trips prove full precision.
var now = time.Date(2026, 11, 29, 12, 0, 0, 123456789, time.UTC)

// TestConformance runs the storage conformance suite on every engine:
// SQLite always, PostgreSQL on the server named by CERTGATE_TEST_POSTGRES
// (failing, not skipping, when it is unreachable).
func TestConformance(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			if e.Name == store.EnginePostgres {
				storetest.RequirePostgres(t)
			}
			runConformance(t, e)
		})
	}
}

// runConformance checks every Store method against engine e. Each case
// gets a fresh database.
func runConformance(t *testing.T, e storetest.Engine) {
	cases := []struct {
		name string
		fn   func(t *testing.T, e storetest.Engine)
	}{
		{"Accounts", testAccounts},
		{"AccountKeyChange", testAccountKeyChange},
		{"AccountDeactivationCancelsPending", testAccountDeactivationCancelsPending},
		{"OrderRoundTrip", testOrderRoundTrip},
		{"CreateOrderIsAtomic", testCreateOrderAtomic},
		{"OrderStatus", testOrderStatus},
		{"Authorizations", testAuthorizations},
		{"DeactivateAuthorization", testDeactivateAuthorization},
		{"ChallengeAuthorization", testChallengeAuthorization},
		{"PendingAuthorizations", testPendingAuthorizations},
		{"ChallengeLifecycle", testChallengeLifecycle},
		{"ChallengeFailure", testChallengeFailure},
		{"AuthorizationReuseExpiry", testAuthorizationReuseExpiry},
		{"ListACMEOrders", testListACMEOrders},
		{"SerialsAndCertificates", testSerialsAndCertificates},
		{"Revocation", testRevocation},
		{"Reopen", testReopen},
		{"ConcurrentFinalize", testConcurrentFinalize},
		{"ConcurrentFinishOrder", testConcurrentFinishOrder},
		{"ConcurrentCreateOrder", testConcurrentCreateOrder},
		{"ConcurrentUniqueInserts", testConcurrentUniqueInserts},
		{"ConcurrentChallenge", testConcurrentChallenge},
		{"IssuanceFlow", testIssuanceFlow},
		{"Nonces", testNonces},
		{"Settings", testSettings},
		{"CRLNumber", testCRLNumber},
		{"ChallengeLeases", testChallengeLeases},
		{"DeleteStale", testDeleteStale},
		{"StatusIndexRows", testStatusIndexRows},
		{"InsertIssued", testInsertIssued},
		{"Replacement", testReplacement},
		{"RenewalWindow", testRenewalWindow},
		{"IssuerChainNew", testIssuerChainNew},
		{"IssuerChainOldRow", testIssuerChainOldRow},
		{"IssuerChainShared", testIssuerChainShared},
		{"IssuerChainRollback", testIssuerChainRollback},
		{"IssuerChainConcurrent", testIssuerChainConcurrent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, e)
		})
	}
}

// ---- fixtures ----

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

func createAccount(t *testing.T, s *store.Store, id string) *store.Account {
	t.Helper()
	a := &store.Account{ID: id, KeyThumbprint: "tp-" + id, JWK: []byte(`{"kty":"EC","crv":"P-256"}`), Status: acme.StatusValid,
		Contact: []string{"mailto:" + id + "@example.test"}, TOSAgreed: true, CreatedAt: now}
	must(t, s.CreateAccount(context.Background(), a))
	return a
}

// newAuthz builds a pending authorization for value with one challenge of
// each type given (IDs id-TYPE), expiring in an hour.
func newAuthz(accountID, id, value string, wildcard bool, types ...string) *store.Authorization {
	az := &store.Authorization{ID: id, AccountID: accountID, Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: value},
		Wildcard: wildcard, Status: acme.StatusPending, Expires: now.Add(time.Hour), CreatedAt: now}
	for _, typ := range types {
		az.Challenges = append(az.Challenges, store.Challenge{ID: id + "-" + typ, AuthzID: id, Type: typ, Token: "tok-" + id + "-" + typ,
			Status: acme.StatusPending, UpdatedAt: now})
	}
	return az
}

// createOrder stores a pending order over new authorizations azs.
func createOrder(t *testing.T, s *store.Store, accountID, id string, azs ...*store.Authorization) *store.Order {
	t.Helper()
	o := &store.Order{ID: id, AccountID: accountID, Status: acme.StatusPending, Expires: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
	for _, az := range azs {
		ident := az.Identifier
		if az.Wildcard {
			ident.Value = "*." + ident.Value
		}
		o.Identifiers = append(o.Identifiers, ident)
		o.AuthzIDs = append(o.AuthzIDs, az.ID)
	}
	must(t, s.CreateOrder(context.Background(), o, azs))
	return o
}

// seed stores account acct1 with order ord1 over authorization az1
// (a.example.test) with one http-01 challenge az1-http-01.
func seed(t *testing.T, s *store.Store) (*store.Account, *store.Order, *store.Authorization) {
	t.Helper()
	a := createAccount(t, s, "acct1")
	az := newAuthz(a.ID, "az1", "a.example.test", false, acme.ChallengeHTTP01)
	return a, createOrder(t, s, a.ID, "ord1", az), az
}

func newCert(serial, orderID, accountID string) *store.Certificate {
	return &store.Certificate{Serial: serial, Issuer: "local", OrderID: orderID, AccountID: accountID,
		DER: []byte{0x30, 0x00, 0xff, 0x00, 0x7f, byte(len(serial))}, ChainPEM: "-----BEGIN CERTIFICATE-----\n" + serial + "\n",
		SANs: []string{"a.example.test"}, KeyType: "ECDSA P-256", FingerprintSHA256: "fp-" + serial,
		NotBefore: now, NotAfter: now.Add(90 * 24 * time.Hour), Status: acme.StatusValid, CreatedAt: now,
		Profile: store.DefaultProfile, Source: store.SourceIssued, Attributes: map[string]string{}}
}

// issue moves order orderID from pending to processing and finishes it
// with a certificate of serial.
func issue(t *testing.T, s *store.Store, orderID, accountID, serial string) *store.Certificate {
	t.Helper()
	ctx := context.Background()
	must(t, s.SetOrderStatus(ctx, orderID, acme.StatusPending, acme.StatusProcessing, nil, now))
	must(t, s.ReserveSerial(ctx, serial, now))
	c := newCert(serial, orderID, accountID)
	must(t, s.FinishOrder(ctx, orderID, c, now))
	return c
}

// ---- accounts ----

func testAccounts(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	if s.Engine() != e.Name {
		t.Fatalf("Engine() = %q, want %q", s.Engine(), e.Name)
	}
	a := createAccount(t, s, "acct1")
	got, err := s.GetAccount(ctx, "acct1")
	must(t, err)
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("GetAccount = %+v, want %+v", got, a)
	}
	got, err = s.GetAccountByThumbprint(ctx, a.KeyThumbprint)
	must(t, err)
	if got.ID != a.ID {
		t.Fatalf("GetAccountByThumbprint = %+v", got)
	}
	_, err = s.GetAccount(ctx, "nope")
	wantErr(t, "missing account", err, store.ErrNotFound)
	_, err = s.GetAccountByThumbprint(ctx, "nope")
	wantErr(t, "missing thumbprint", err, store.ErrNotFound)

	// No contact and no ToS round-trips as an empty list and false.
	bare := &store.Account{ID: "bare", KeyThumbprint: "tp-bare", JWK: []byte(`{}`), Status: acme.StatusValid, CreatedAt: now}
	must(t, s.CreateAccount(ctx, bare))
	got, err = s.GetAccount(ctx, "bare")
	must(t, err)
	if len(got.Contact) != 0 || got.TOSAgreed {
		t.Fatalf("bare account = %+v", got)
	}

	dup := &store.Account{ID: "acct2", KeyThumbprint: a.KeyThumbprint, JWK: []byte(`{}`), Status: acme.StatusValid, CreatedAt: now}
	wantErr(t, "duplicate thumbprint", s.CreateAccount(ctx, dup), store.ErrConflict)
	dup = &store.Account{ID: "acct1", KeyThumbprint: "tp-other", JWK: []byte(`{}`), Status: acme.StatusValid, CreatedAt: now}
	wantErr(t, "duplicate id", s.CreateAccount(ctx, dup), store.ErrConflict)

	a.Contact = []string{"mailto:new@example.test", "mailto:second@example.test"}
	must(t, s.UpdateAccount(ctx, a))
	got, _ = s.GetAccount(ctx, "acct1")
	if !reflect.DeepEqual(got.Contact, a.Contact) {
		t.Fatalf("contact after update = %v", got.Contact)
	}
	a.Status = acme.StatusDeactivated
	must(t, s.UpdateAccount(ctx, a))
	got, _ = s.GetAccount(ctx, "acct1")
	if got.Status != acme.StatusDeactivated {
		t.Fatalf("status after deactivation = %q", got.Status)
	}
	wantErr(t, "update of a deactivated account", s.UpdateAccount(ctx, a), store.ErrStale)
	wantErr(t, "update of a missing account", s.UpdateAccount(ctx, &store.Account{ID: "nope", Status: acme.StatusValid}), store.ErrStale)
}

// testAccountDeactivationCancelsPending: deactivating an account cancels
// its pending operations in the same transaction (RFC 8555 §7.3.6: the
// server SHOULD cancel pending operations authorized by the account's
// key): its pending authorizations become deactivated and its orders
// stored as pending (pending or ready) invalid, with an unauthorized
// error; its valid authorizations, its valid and processing orders and
// other accounts' rows are left alone.
func testAccountDeactivationCancelsPending(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a, _, pending := seed(t, s)
	done := newAuthz(a.ID, "az-valid", "v.example.test", false, acme.ChallengeHTTP01)
	createOrder(t, s, a.ID, "ord-valid", done) // ready once done is valid
	c := done.Challenges[0]
	must(t, s.StartChallenge(ctx, c.ID, now))
	must(t, s.FinishChallenge(ctx, &c, nil, now, now.Add(time.Hour)))
	// An order reusing done only (no new authorization): ready too.
	reused := &store.Order{ID: "ord-reused", AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour),
		Identifiers: []acme.Identifier{done.Identifier}, AuthzIDs: []string{done.ID}, CreatedAt: now.Add(time.Second), UpdatedAt: now}
	must(t, s.CreateOrder(ctx, reused, nil))
	issued := newAuthz(a.ID, "az-issued", "i.example.test", false, acme.ChallengeHTTP01)
	createOrder(t, s, a.ID, "ord-issued", issued)
	issue(t, s, "ord-issued", a.ID, "0a")
	busy := newAuthz(a.ID, "az-busy", "b.example.test", false, acme.ChallengeHTTP01)
	createOrder(t, s, a.ID, "ord-busy", busy)
	must(t, s.SetOrderStatus(ctx, "ord-busy", acme.StatusPending, acme.StatusProcessing, nil, now))
	other := createAccount(t, s, "acct-other")
	others := newAuthz(other.ID, "az-other", "o.example.test", false, acme.ChallengeHTTP01)
	createOrder(t, s, other.ID, "ord-other", others)

	wantOrder := func(id, status string, cancelled bool) {
		t.Helper()
		o, err := s.GetOrder(ctx, id)
		must(t, err)
		if o.Status != status {
			t.Errorf("order %s: %s, want %s", id, o.Status, status)
		}
		switch {
		case cancelled && (o.Error == nil || o.Error.Type != acme.Unauthorized):
			t.Errorf("order %s: error %+v, want an unauthorized problem", id, o.Error)
		case !cancelled && o.Error != nil:
			t.Errorf("order %s: error %+v, want none", id, o.Error)
		}
	}
	a.Status = acme.StatusDeactivated
	must(t, s.UpdateAccount(ctx, a))
	for _, tc := range []struct{ id, want string }{
		{pending.ID, acme.StatusDeactivated},
		{done.ID, acme.StatusValid},
		{others.ID, acme.StatusPending},
	} {
		got, err := s.GetAuthorization(ctx, tc.id)
		must(t, err)
		if got.Status != tc.want {
			t.Errorf("authorization %s after the account's deactivation: %s, want %s", tc.id, got.Status, tc.want)
		}
	}
	wantOrder("ord1", acme.StatusInvalid, true)
	wantOrder("ord-valid", acme.StatusInvalid, true)
	wantOrder("ord-reused", acme.StatusInvalid, true)
	wantOrder("ord-issued", acme.StatusValid, false)
	wantOrder("ord-busy", acme.StatusProcessing, false)
	wantOrder("ord-other", acme.StatusPending, false)
	// A refused update (the account is no longer valid) changes nothing.
	wantErr(t, "second deactivation", s.UpdateAccount(ctx, a), store.ErrStale)

	// The administrator's deactivation does the same.
	must(t, s.DeactivateAccount(ctx, other.ID, nil))
	got, err := s.GetAuthorization(ctx, others.ID)
	must(t, err)
	if got.Status != acme.StatusDeactivated {
		t.Errorf("authorization of the account an administrator deactivated: %s, want deactivated", got.Status)
	}
	wantOrder("ord-other", acme.StatusInvalid, true)
}

// testDeactivateAuthorization: a client's deactivation (RFC 8555 §7.5.2)
// moves a pending or valid authorization that has not expired to
// deactivated; an expired one (pending or valid past its expiry: a final
// state, RFC 8555 §7.1.6), an invalid one, a deactivated one and a
// missing one are refused (ErrStale) and left as they were.
func testDeactivateAuthorization(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a := createAccount(t, s, "acct1")
	mk := func(id string) *store.Authorization {
		az := newAuthz(a.ID, id, id+".example.test", false, acme.ChallengeHTTP01)
		createOrder(t, s, a.ID, "ord-"+id, az)
		return az
	}
	validate := func(az *store.Authorization, expires time.Time) {
		c := az.Challenges[0]
		must(t, s.StartChallenge(ctx, c.ID, now))
		must(t, s.FinishChallenge(ctx, &c, nil, now, expires))
	}
	pending, valid, stalePending, staleValid, failed := mk("pending"), mk("valid"), mk("stale-pending"), mk("stale-valid"), mk("failed")
	validate(valid, now.Add(time.Hour))
	validate(staleValid, now.Add(time.Minute))
	c := failed.Challenges[0]
	must(t, s.StartChallenge(ctx, c.ID, now))
	must(t, s.FinishChallenge(ctx, &c, acme.NewProblem(acme.IncorrectResponse, "no"), now, now.Add(time.Hour)))
	later := now.Add(30 * time.Minute)   // stale-valid expired at now + 1m
	stalePendingAt := now.Add(time.Hour) // every pending one expires then (newAuthz)

	must(t, s.DeactivateAuthorization(ctx, pending.ID, later))
	must(t, s.DeactivateAuthorization(ctx, valid.ID, later))
	wantErr(t, "deactivation of an expired valid authorization", s.DeactivateAuthorization(ctx, staleValid.ID, later), store.ErrStale)
	wantErr(t, "deactivation of an expired pending authorization", s.DeactivateAuthorization(ctx, stalePending.ID, stalePendingAt), store.ErrStale)
	wantErr(t, "deactivation of an invalid authorization", s.DeactivateAuthorization(ctx, failed.ID, later), store.ErrStale)
	wantErr(t, "second deactivation", s.DeactivateAuthorization(ctx, pending.ID, later), store.ErrStale)
	wantErr(t, "deactivation of a missing authorization", s.DeactivateAuthorization(ctx, "nope", later), store.ErrStale)
	for id, want := range map[string]string{pending.ID: acme.StatusDeactivated, valid.ID: acme.StatusDeactivated,
		staleValid.ID: acme.StatusValid, stalePending.ID: acme.StatusPending, failed.ID: acme.StatusInvalid} {
		got, err := s.GetAuthorization(ctx, id)
		must(t, err)
		if got.Status != want {
			t.Errorf("authorization %s: stored %s, want %s", id, got.Status, want)
		}
	}
}

func testAccountKeyChange(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a1 := createAccount(t, s, "acct1")
	a2 := createAccount(t, s, "acct2")
	wantErr(t, "key change to a used key", s.ChangeAccountKey(ctx, a2.ID, a2.KeyThumbprint, a1.KeyThumbprint, []byte(`{}`)), store.ErrConflict)
	wantErr(t, "key change with a stale old key", s.ChangeAccountKey(ctx, a2.ID, "wrong-old", "tp3", []byte(`{}`)), store.ErrStale)
	must(t, s.ChangeAccountKey(ctx, a2.ID, a2.KeyThumbprint, "tp3", []byte(`{"new":true}`)))
	got, err := s.GetAccountByThumbprint(ctx, "tp3")
	must(t, err)
	if got.ID != a2.ID || string(got.JWK) != `{"new":true}` {
		t.Fatalf("account after key change = %+v", got)
	}
	_, err = s.GetAccountByThumbprint(ctx, a2.KeyThumbprint)
	wantErr(t, "old thumbprint after key change", err, store.ErrNotFound)
	wantErr(t, "second change from the old key", s.ChangeAccountKey(ctx, a2.ID, a2.KeyThumbprint, "tp4", []byte(`{}`)), store.ErrStale)
}

// ---- orders and authorizations ----

func testOrderRoundTrip(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a := createAccount(t, s, "acct1")
	az1 := newAuthz(a.ID, "az1", "a.example.test", false, acme.ChallengeHTTP01)
	az2 := newAuthz(a.ID, "az2", "b.example.test", true, acme.ChallengeDNS01)
	o := &store.Order{ID: "ord1", AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(7 * 24 * time.Hour),
		Identifiers: []acme.Identifier{{Type: "dns", Value: "a.example.test"}, {Type: "dns", Value: "*.b.example.test"}},
		AuthzIDs:    []string{"az1", "az2"}, NotBefore: now.Add(time.Minute), NotAfter: now.Add(48 * time.Hour),
		CreatedAt: now, UpdatedAt: now.Add(time.Nanosecond)}
	must(t, s.CreateOrder(ctx, o, []*store.Authorization{az1, az2}))
	got, err := s.GetOrder(ctx, "ord1")
	must(t, err)
	if !reflect.DeepEqual(got, o) {
		t.Fatalf("GetOrder =\n%+v\nwant\n%+v", got, o)
	}
	_, err = s.GetOrder(ctx, "nope")
	wantErr(t, "missing order", err, store.ErrNotFound)

	// A second order reuses az2 and adds az3.
	az3 := newAuthz(a.ID, "az3", "c.example.test", false, acme.ChallengeHTTP01)
	o2 := &store.Order{ID: "ord2", AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour),
		Identifiers: []acme.Identifier{{Type: "dns", Value: "*.b.example.test"}, {Type: "dns", Value: "c.example.test"}},
		AuthzIDs:    []string{"az2", "az3"}, CreatedAt: now, UpdatedAt: now}
	must(t, s.CreateOrder(ctx, o2, []*store.Authorization{az3}))
	azs, err := s.GetAuthorizations(ctx, []string{"az3", "az2"})
	must(t, err)
	if len(azs) != 2 || azs[0].ID != "az3" || azs[1].ID != "az2" || !azs[1].Wildcard || azs[0].Wildcard {
		t.Fatalf("GetAuthorizations = %+v", azs)
	}
}

// testCreateOrderAtomic: a failing challenge insert leaves neither the
// order nor its authorizations behind.
func testCreateOrderAtomic(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	seed(t, s)
	az := newAuthz("acct1", "az2", "b.example.test", false, acme.ChallengeHTTP01)
	az.Challenges[0].ID = "az1-http-01" // taken by the seed
	o := &store.Order{ID: "ord2", AccountID: "acct1", Status: acme.StatusPending, Expires: now.Add(time.Hour),
		Identifiers: []acme.Identifier{az.Identifier}, AuthzIDs: []string{"az2"}, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateOrder(ctx, o, []*store.Authorization{az}); err == nil {
		t.Fatal("CreateOrder with a duplicate challenge ID succeeded")
	}
	_, err := s.GetOrder(ctx, "ord2")
	wantErr(t, "order of a failed CreateOrder", err, store.ErrNotFound)
	_, err = s.GetAuthorization(ctx, "az2")
	wantErr(t, "authorization of a failed CreateOrder", err, store.ErrNotFound)
	// The store still works after the rolled-back transaction.
	createOrder(t, s, "acct1", "ord3", newAuthz("acct1", "az3", "c.example.test", false, acme.ChallengeHTTP01))
}

func testOrderStatus(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	seed(t, s)
	wantErr(t, "move from a wrong status", s.SetOrderStatus(ctx, "ord1", acme.StatusProcessing, acme.StatusValid, nil, now), store.ErrStale)
	wantErr(t, "move of a missing order", s.SetOrderStatus(ctx, "nope", acme.StatusPending, acme.StatusProcessing, nil, now), store.ErrStale)
	later := now.Add(time.Minute)
	must(t, s.SetOrderStatus(ctx, "ord1", acme.StatusPending, acme.StatusProcessing, nil, later))
	stuck, err := s.ProcessingOrders(ctx, later.Add(time.Nanosecond))
	must(t, err)
	if !reflect.DeepEqual(stuck, []string{"ord1"}) {
		t.Fatalf("ProcessingOrders = %v", stuck)
	}
	stuck, err = s.ProcessingOrders(ctx, later)
	must(t, err)
	if len(stuck) != 0 {
		t.Fatalf("ProcessingOrders before the update = %v, want none", stuck)
	}
	p := &acme.Problem{Type: acme.BadCSR, Detail: "no", Status: 400}
	must(t, s.SetOrderStatus(ctx, "ord1", acme.StatusProcessing, acme.StatusInvalid, p, later))
	o, err := s.GetOrder(ctx, "ord1")
	must(t, err)
	if o.Status != acme.StatusInvalid || o.Error == nil || o.Error.Type != p.Type || o.Error.Detail != "no" || !o.UpdatedAt.Equal(later) {
		t.Fatalf("order after invalidation = %+v (error %+v)", o, o.Error)
	}
}

func testAuthorizations(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a := createAccount(t, s, "acct1")
	az := newAuthz(a.ID, "az1", "a.example.test", false, acme.ChallengeTLSALPN01, acme.ChallengeHTTP01, acme.ChallengeDNS01)
	createOrder(t, s, a.ID, "ord1", az)
	got, err := s.GetAuthorization(ctx, "az1")
	must(t, err)
	var types []string
	for _, c := range got.Challenges {
		types = append(types, c.Type)
		if c.AuthzID != "az1" || c.Token != "tok-az1-"+c.Type || c.Status != acme.StatusPending || !c.UpdatedAt.Equal(now) {
			t.Fatalf("challenge = %+v", c)
		}
	}
	if want := []string{acme.ChallengeDNS01, acme.ChallengeHTTP01, acme.ChallengeTLSALPN01}; !reflect.DeepEqual(types, want) {
		t.Fatalf("challenge order = %v, want %v", types, want)
	}
	got.Challenges = nil
	want := *az
	want.Challenges = nil
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("GetAuthorization = %+v, want %+v", got, &want)
	}
	_, err = s.GetAuthorization(ctx, "nope")
	wantErr(t, "missing authorization", err, store.ErrNotFound)
	_, err = s.GetAuthorizations(ctx, []string{"az1", "nope"})
	wantErr(t, "GetAuthorizations with a missing one", err, store.ErrNotFound)
	if azs, err := s.GetAuthorizations(ctx, nil); err != nil || len(azs) != 0 {
		t.Fatalf("GetAuthorizations(nil) = %v, %v", azs, err)
	}
	_, err = s.GetChallenge(ctx, "nope")
	wantErr(t, "missing challenge", err, store.ErrNotFound)

	wantErr(t, "status move from wrong statuses", s.SetAuthorizationStatus(ctx, "az1", []string{acme.StatusValid}, acme.StatusDeactivated), store.ErrStale)
	wantErr(t, "status move from no status", s.SetAuthorizationStatus(ctx, "az1", nil, acme.StatusDeactivated), store.ErrStale)
	must(t, s.SetAuthorizationStatus(ctx, "az1", []string{acme.StatusValid, acme.StatusPending}, acme.StatusDeactivated))
	got, _ = s.GetAuthorization(ctx, "az1")
	if got.Status != acme.StatusDeactivated {
		t.Fatalf("status = %q, want deactivated", got.Status)
	}
	wantErr(t, "start a challenge of a deactivated authorization", s.StartChallenge(ctx, "az1-http-01", now), store.ErrStale)
}

// testChallengeAuthorization: GetChallengeAuthorization returns what
// GetChallenge and GetAuthorization return, in one read.
func testChallengeAuthorization(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a := createAccount(t, s, "acct1")
	createOrder(t, s, a.ID, "ord1", newAuthz(a.ID, "az1", "a.example.test", false, acme.ChallengeTLSALPN01, acme.ChallengeHTTP01, acme.ChallengeDNS01),
		newAuthz(a.ID, "az2", "b.example.test", false, acme.ChallengeHTTP01))
	must(t, s.StartChallenge(ctx, "az1-dns-01", now))
	for _, id := range []string{"az1-http-01", "az1-dns-01", "az1-tls-alpn-01", "az2-http-01"} {
		c, az, err := s.GetChallengeAuthorization(ctx, id)
		must(t, err)
		wantC, err := s.GetChallenge(ctx, id)
		must(t, err)
		wantAz, err := s.GetAuthorization(ctx, wantC.AuthzID)
		must(t, err)
		if !reflect.DeepEqual(c, wantC) || !reflect.DeepEqual(az, wantAz) {
			t.Fatalf("GetChallengeAuthorization(%s) = %+v, %+v; want %+v, %+v", id, c, az, wantC, wantAz)
		}
	}
	_, _, err := s.GetChallengeAuthorization(ctx, "nope")
	wantErr(t, "missing challenge", err, store.ErrNotFound)
}

// testPendingAuthorizations: the count of an account's pending, unexpired
// authorizations and their earliest expiry, below and above the number
// counted by the hot read.
func testPendingAuthorizations(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a := createAccount(t, s, "acct1")
	other := createAccount(t, s, "acct2")
	check := func(what string, wantN int, wantEarliest time.Time) {
		t.Helper()
		n, earliest, err := s.PendingAuthorizations(ctx, a.ID, now)
		must(t, err)
		if n != wantN || !earliest.Equal(wantEarliest) {
			t.Fatalf("%s: PendingAuthorizations = %d, %v; want %d, %v", what, n, earliest, wantN, wantEarliest)
		}
	}
	check("none", 0, time.Time{})
	createOrder(t, s, other.ID, "other", newAuthz(other.ID, "other-az", "o.example.test", false, acme.ChallengeHTTP01))
	expired := newAuthz(a.ID, "expired", "x.example.test", false, acme.ChallengeHTTP01)
	expired.Expires = now
	valid := newAuthz(a.ID, "valid", "v.example.test", false)
	valid.Status, valid.ValidatedAt = acme.StatusValid, now
	createOrder(t, s, a.ID, "ord0", expired, valid)
	check("only expired and valid ones", 0, time.Time{})
	// 150 pending ones, more than the hot read counts, expiring one
	// second apart from the latest down (the earliest is created last).
	for i := range 150 {
		az := newAuthz(a.ID, fmt.Sprintf("az%03d", i), fmt.Sprintf("h%d.example.test", i), false, acme.ChallengeHTTP01)
		az.Expires = now.Add(time.Hour - time.Duration(i)*time.Second)
		createOrder(t, s, a.ID, fmt.Sprintf("ord%03d", i), az)
		switch i {
		case 0, 1, 62, 63, 64, 65, 149:
			check(fmt.Sprintf("%d pending", i+1), i+1, az.Expires)
		}
	}
	must(t, s.SetAuthorizationStatus(ctx, "az149", []string{acme.StatusPending}, acme.StatusDeactivated))
	check("one deactivated", 149, now.Add(time.Hour-148*time.Second))
	// PendingAuthorizationExpiry: the k-th earliest expiry among the 149
	// (az148 first, az000 last), zero past them; the other account's,
	// the expired and the deactivated one are not among them.
	for k, want := range map[int]time.Time{1: now.Add(time.Hour - 148*time.Second), 2: now.Add(time.Hour - 147*time.Second),
		100: now.Add(time.Hour - 49*time.Second), 149: now.Add(time.Hour), 150: {}} {
		got, err := s.PendingAuthorizationExpiry(ctx, a.ID, now, k)
		must(t, err)
		if !got.Equal(want) {
			t.Fatalf("PendingAuthorizationExpiry(k=%d) = %v; want %v", k, got, want)
		}
	}
	if _, err := s.PendingAuthorizationExpiry(ctx, a.ID, now, 0); err == nil {
		t.Fatal("PendingAuthorizationExpiry(k=0) accepted")
	}
}

func testChallengeLifecycle(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	seed(t, s)
	wantErr(t, "attempt on a pending challenge", s.RecordAttempt(ctx, "az1-http-01", nil, now), store.ErrStale)
	must(t, s.StartChallenge(ctx, "az1-http-01", now))
	wantErr(t, "second start", s.StartChallenge(ctx, "az1-http-01", now), store.ErrStale)
	ids, err := s.ExpiredLeases(ctx, now, 10)
	must(t, err)
	if !reflect.DeepEqual(ids, []string{"az1-http-01"}) {
		t.Fatalf("a started, unleased challenge must be up for validation: ExpiredLeases = %v", ids)
	}
	p := &acme.Problem{Type: acme.Connection, Detail: "refused", Status: 400}
	must(t, s.RecordAttempt(ctx, "az1-http-01", p, now.Add(time.Second)))
	must(t, s.RecordAttempt(ctx, "az1-http-01", p, now.Add(2*time.Second)))
	c, err := s.GetChallenge(ctx, "az1-http-01")
	must(t, err)
	if c.Attempts != 2 || c.Status != acme.StatusProcessing || c.Error == nil || c.Error.Detail != "refused" || !c.UpdatedAt.Equal(now.Add(2*time.Second)) {
		t.Fatalf("challenge after two attempts = %+v", c)
	}
	done := now.Add(3 * time.Second)
	must(t, s.FinishChallenge(ctx, c, nil, done, now.Add(24*time.Hour)))
	wantErr(t, "second finish", s.FinishChallenge(ctx, c, nil, done, now.Add(24*time.Hour)), store.ErrStale)
	az, err := s.GetAuthorization(ctx, "az1")
	must(t, err)
	if az.Status != acme.StatusValid || !az.Expires.Equal(now.Add(24*time.Hour)) || !az.ValidatedAt.Equal(done) ||
		az.Challenges[0].Status != acme.StatusValid || !az.Challenges[0].ValidatedAt.Equal(done) || az.Challenges[0].Error != nil {
		t.Fatalf("authorization after success = %+v", az)
	}
	if ids, _ := s.ExpiredLeases(ctx, now.Add(time.Hour), 10); len(ids) != 0 {
		t.Fatalf("ExpiredLeases after finish = %v", ids)
	}
}

// testChallengeFailure: an invalid result invalidates the authorization,
// and a finish whose authorization moved on is rolled back entirely.
func testChallengeFailure(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a := createAccount(t, s, "acct1")
	createOrder(t, s, a.ID, "ord1", newAuthz(a.ID, "az1", "a.example.test", false, acme.ChallengeHTTP01),
		newAuthz(a.ID, "az2", "b.example.test", false, acme.ChallengeHTTP01))
	must(t, s.StartChallenge(ctx, "az1-http-01", now))
	c, _ := s.GetChallenge(ctx, "az1-http-01")
	p := &acme.Problem{Type: acme.Unauthorized, Detail: "wrong token", Status: 403}
	must(t, s.FinishChallenge(ctx, c, p, now, now.Add(time.Hour)))
	az, _ := s.GetAuthorization(ctx, "az1")
	if az.Status != acme.StatusInvalid || az.Challenges[0].Status != acme.StatusInvalid || az.Challenges[0].Error == nil ||
		az.Challenges[0].Error.Detail != "wrong token" {
		t.Fatalf("authorization after failure = %+v", az)
	}

	must(t, s.StartChallenge(ctx, "az2-http-01", now))
	must(t, s.SetAuthorizationStatus(ctx, "az2", []string{acme.StatusPending}, acme.StatusDeactivated))
	c, _ = s.GetChallenge(ctx, "az2-http-01")
	wantErr(t, "finish under a deactivated authorization", s.FinishChallenge(ctx, c, nil, now, now.Add(time.Hour)), store.ErrStale)
	c, _ = s.GetChallenge(ctx, "az2-http-01")
	if c.Status != acme.StatusProcessing {
		t.Fatalf("challenge after a rolled-back finish = %q, want processing", c.Status)
	}
	// EndChallenge ends it with its own result, the authorization untouched.
	must(t, s.EndChallenge(ctx, c, nil, now))
	wantErr(t, "second end", s.EndChallenge(ctx, c, nil, now), store.ErrStale)
	if c, _ = s.GetChallenge(ctx, "az2-http-01"); c.Status != acme.StatusValid {
		t.Fatalf("challenge after EndChallenge = %q, want valid", c.Status)
	}
	if az, _ := s.GetAuthorization(ctx, "az2"); az.Status != acme.StatusDeactivated {
		t.Fatalf("authorization after EndChallenge = %q, want deactivated", az.Status)
	}

	// An expired pending authorization's challenge cannot start.
	createOrder(t, s, a.ID, "ord3", newAuthz(a.ID, "az3", "c.example.test", false, acme.ChallengeHTTP01))
	wantErr(t, "start after expiry", s.StartChallenge(ctx, "az3-http-01", now.Add(time.Hour)), store.ErrStale)
	must(t, s.StartChallenge(ctx, "az3-http-01", now.Add(time.Hour-time.Nanosecond)))
}

// ---- expiry queries ----

func testAuthorizationReuseExpiry(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a := createAccount(t, s, "acct1")
	b := createAccount(t, s, "acct2")
	ident := acme.Identifier{Type: acme.IdentifierDNS, Value: "a.example.test"}
	validate := func(acct, id string, wildcard bool, validated, expires time.Time) {
		t.Helper()
		createOrder(t, s, acct, "ord-"+id, newAuthz(acct, id, ident.Value, wildcard, acme.ChallengeHTTP01))
		must(t, s.StartChallenge(ctx, id+"-http-01", now))
		c, _ := s.GetChallenge(ctx, id+"-http-01")
		must(t, s.FinishChallenge(ctx, c, nil, validated, expires))
	}
	validate(a.ID, "old", false, now.Add(-2*time.Hour), now.Add(10*time.Hour))
	validate(a.ID, "new", false, now, now.Add(20*time.Hour))
	validate(a.ID, "wild", true, now, now.Add(30*time.Hour))
	validate(b.ID, "other", false, now, now.Add(40*time.Hour))

	find := func(wildcard bool, minExpires, validatedAfter time.Time) string {
		t.Helper()
		az, err := s.FindValidAuthorization(ctx, a.ID, "", ident, wildcard, minExpires, validatedAfter)
		if errors.Is(err, store.ErrNotFound) {
			return ""
		}
		must(t, err)
		return az.ID
	}
	for _, c := range []struct {
		name                      string
		wildcard                  bool
		minExpires, validatedAfer time.Time
		want                      string
	}{
		{"newest expiry wins", false, now, now.Add(-3 * time.Hour), "new"},
		{"validatedAfter excludes the newer", false, now, now, ""},
		{"validatedAfter is strict", false, now, now.Add(-time.Nanosecond), "new"},
		{"minExpires excludes the older", false, now.Add(15 * time.Hour), now.Add(-3 * time.Hour), "new"},
		{"minExpires is strict", false, now.Add(20 * time.Hour), now.Add(-3 * time.Hour), ""},
		{"wildcard only matches wildcard", true, now, now.Add(-time.Hour), "wild"},
		{"expired wildcard", true, now.Add(30 * time.Hour), now.Add(-time.Hour), ""},
	} {
		if got := find(c.wildcard, c.minExpires, c.validatedAfer); got != c.want {
			t.Errorf("%s: FindValidAuthorization = %q, want %q", c.name, got, c.want)
		}
	}
	// Reuse matches the profile the authorization was created for, which
	// is stored and read back.
	paz := newAuthz(a.ID, "prof", ident.Value, false, acme.ChallengeHTTP01)
	paz.Profile = "web"
	createOrder(t, s, a.ID, "ord-prof", paz)
	must(t, s.StartChallenge(ctx, "prof-http-01", now))
	pc, _ := s.GetChallenge(ctx, "prof-http-01")
	must(t, s.FinishChallenge(ctx, pc, nil, now, now.Add(25*time.Hour)))
	if az, err := s.GetAuthorization(ctx, "prof"); err != nil || az.Profile != "web" {
		t.Errorf("GetAuthorization(prof) = %+v, %v; want profile web", az, err)
	}
	if az, err := s.FindValidAuthorization(ctx, a.ID, "web", ident, false, now, now.Add(-time.Hour)); err != nil || az.ID != "prof" || az.Profile != "web" {
		t.Errorf("FindValidAuthorization(profile web) = %+v, %v; want prof", az, err)
	} else if full, err := s.GetAuthorization(ctx, "prof"); err != nil || !reflect.DeepEqual(az, full) || len(az.Challenges) != 1 {
		t.Errorf("FindValidAuthorization(profile web) = %+v; want it with its challenges, as GetAuthorization reads it: %+v, %v", az, full, err)
	}
	if got := find(false, now.Add(22*time.Hour), now.Add(-time.Hour)); got != "" {
		t.Errorf("FindValidAuthorization(profile \"\") reused %q of profile web", got)
	}
	if _, err := s.FindValidAuthorization(ctx, a.ID, "mtls", ident, false, now, now.Add(-time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FindValidAuthorization(profile mtls) = %v, want ErrNotFound", err)
	}

	other := acme.Identifier{Type: acme.IdentifierDNS, Value: "b.example.test"}
	for _, c := range []struct {
		name  string
		ids   []acme.Identifier
		at    time.Time
		valid bool
	}{
		{"held", []acme.Identifier{ident}, now, true},
		{"one missing", []acme.Identifier{ident, other}, now, false},
		{"all expired", []acme.Identifier{ident}, now.Add(30 * time.Hour), false},
		{"none asked", nil, now, true},
	} {
		ok, err := s.ValidAuthorizationsFor(ctx, a.ID, c.ids, c.at)
		must(t, err)
		if ok != c.valid {
			t.Errorf("%s: ValidAuthorizationsFor = %v, want %v", c.name, ok, c.valid)
		}
	}
	// Another account's authorization does not count.
	if ok, _ := s.ValidAuthorizationsFor(ctx, b.ID, []acme.Identifier{ident}, now.Add(35*time.Hour)); !ok {
		t.Error("acct2's own authorization not found")
	}
	if ok, _ := s.ValidAuthorizationsFor(ctx, a.ID, []acme.Identifier{ident}, now.Add(35*time.Hour)); ok {
		t.Error("acct1 borrowed acct2's authorization")
	}
}

// orderIDs returns the IDs of orders.
func orderIDs(orders []*store.Order) []string {
	ids := make([]string, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	return ids
}

// testListACMEOrders: the ACME orders list pages an account's orders by
// (created, id), leaves out orders expired before the given time and
// orders stored as invalid (RFC 8555 §7.1.2.1), and returns whole orders
// (a pending one with its authorization IDs, for the caller to judge).
func testListACMEOrders(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a := createAccount(t, s, "acct1")
	createAccount(t, s, "acct2")
	mk := func(acct, id string, created time.Time, expires time.Time) {
		t.Helper()
		o := &store.Order{ID: id, AccountID: acct, Status: acme.StatusPending, Expires: expires,
			Identifiers: []acme.Identifier{{Type: "dns", Value: id + ".example.test"}}, AuthzIDs: []string{"az-" + id}, CreatedAt: created, UpdatedAt: created}
		must(t, s.CreateOrder(ctx, o, nil))
	}
	mk(a.ID, "o3", now.Add(2*time.Second), now.Add(time.Hour))
	mk(a.ID, "o1", now, now.Add(time.Hour))
	mk(a.ID, "o2b", now.Add(time.Second), now.Add(time.Hour))
	mk(a.ID, "o2a", now.Add(time.Second), now.Add(time.Hour))
	mk(a.ID, "expired", now.Add(time.Second), now.Add(time.Minute))
	mk(a.ID, "failed", now.Add(time.Second), now.Add(time.Hour))
	must(t, s.SetOrderStatus(ctx, "failed", acme.StatusPending, acme.StatusInvalid, acme.NewProblem(acme.BadCSR, "x"), now))
	mk(a.ID, "o4", now.Add(3*time.Second), now.Add(time.Hour))
	must(t, s.SetOrderStatus(ctx, "o4", acme.StatusPending, acme.StatusProcessing, nil, now))
	mk("acct2", "foreign", now.Add(time.Second), now.Add(time.Hour))

	var all []string
	var cur time.Time
	curID := ""
	for page := 0; page < 10; page++ {
		orders, err := s.ListACMEOrders(ctx, a.ID, cur, curID, now.Add(time.Minute), 2)
		must(t, err)
		if len(orders) == 0 {
			break
		}
		all = append(all, orderIDs(orders)...)
		last := orders[len(orders)-1]
		cur, curID = last.CreatedAt, last.ID
	}
	if want := []string{"o1", "o2a", "o2b", "o3", "o4"}; !reflect.DeepEqual(all, want) {
		t.Fatalf("paged orders = %v, want %v (not the expired one nor the invalid one)", all, want)
	}
	orders, err := s.ListACMEOrders(ctx, a.ID, time.Time{}, "", now, 10)
	must(t, err)
	if ids := orderIDs(orders); len(ids) != 6 || !orders[0].CreatedAt.Equal(now) {
		t.Fatalf("orders unexpired at now = %v, want 6 (the expired one included, not the invalid one)", ids)
	}
	if o := orders[0]; o.ID != "o1" || o.Status != acme.StatusPending || !reflect.DeepEqual(o.AuthzIDs, []string{"az-o1"}) {
		t.Errorf("first order = %+v; want o1, pending, with its authorization IDs", o)
	}
}

// ---- serials and certificates ----

func testSerialsAndCertificates(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a, o, _ := seed(t, s)
	must(t, s.ReserveSerial(ctx, "abc", now))
	wantErr(t, "second reservation", s.ReserveSerial(ctx, "abc", now), store.ErrConflict)

	c := newCert("abc", o.ID, a.ID)
	wantErr(t, "finish of a pending order", s.FinishOrder(ctx, o.ID, c, now), store.ErrStale)
	if n, err := s.CountCertificates(ctx); err != nil || n != 0 {
		t.Fatalf("certificates after a refused finish = %d, %v; want 0 (rolled back)", n, err)
	}
	must(t, s.SetOrderStatus(ctx, o.ID, acme.StatusPending, acme.StatusProcessing, nil, now))
	if err := s.FinishOrder(ctx, o.ID, newCert("unreserved", o.ID, a.ID), now); err == nil {
		t.Fatal("FinishOrder with an unreserved serial succeeded")
	}
	done := now.Add(time.Second)
	must(t, s.FinishOrder(ctx, o.ID, c, done))
	if err := s.FinishOrder(ctx, o.ID, c, done); err == nil {
		t.Fatal("finishing an order twice must fail")
	}
	got, err := s.GetOrder(ctx, o.ID)
	must(t, err)
	if got.Status != acme.StatusValid || got.CertSerial != "abc" || !got.UpdatedAt.Equal(done) {
		t.Fatalf("order after finish = %+v", got)
	}
	cert, err := s.GetCertificate(ctx, "abc")
	must(t, err)
	if !bytes.Equal(cert.DER, c.DER) || !reflect.DeepEqual(cert, c) {
		t.Fatalf("GetCertificate =\n%+v\nwant\n%+v", cert, c)
	}
	_, err = s.GetCertificate(ctx, "nope")
	wantErr(t, "missing certificate", err, store.ErrNotFound)
	if n, err := s.CountCertificates(ctx); err != nil || n != 1 {
		t.Fatalf("CountCertificates = %d, %v", n, err)
	}
}

func testRevocation(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a := createAccount(t, s, "acct1")
	for i, na := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour} {
		id := fmt.Sprintf("ord%d", i)
		createOrder(t, s, a.ID, id)
		must(t, s.SetOrderStatus(ctx, id, acme.StatusPending, acme.StatusProcessing, nil, now))
		serial := fmt.Sprintf("%x", 16+i)
		must(t, s.ReserveSerial(ctx, serial, now))
		c := newCert(serial, id, a.ID)
		c.DER = certDER(t, testKey(t)) // "10" is revoked for keyCompromise: its key is read from the DER
		c.NotAfter = now.Add(na)
		if i == 2 {
			c.Issuer = "other"
		}
		must(t, s.FinishOrder(ctx, id, c, now))
	}
	must(t, s.RevokeCertificate(ctx, "10", 1, now.Add(time.Minute)))
	must(t, s.RevokeCertificate(ctx, "11", 4, now.Add(2*time.Minute)))
	must(t, s.RevokeCertificate(ctx, "12", 0, now))
	wantErr(t, "second revocation", s.RevokeCertificate(ctx, "10", 1, now), store.ErrStale)
	wantErr(t, "revocation of a missing certificate", s.RevokeCertificate(ctx, "nope", 1, now), store.ErrStale)
	c, _ := s.GetCertificate(ctx, "11")
	if c.Status != "revoked" || c.RevocationReason != 4 || !c.RevokedAt.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("revoked certificate = %+v", c)
	}
	rev, err := s.RevokedCertificates(ctx, "local", "", now)
	must(t, err)
	if len(rev) != 2 {
		t.Fatalf("RevokedCertificates(local, now) = %+v, want 2", rev)
	}
	rev, err = s.RevokedCertificates(ctx, "local", "", now.Add(90*time.Minute))
	must(t, err)
	if len(rev) != 1 || rev[0].Serial != "11" || rev[0].Reason != 4 || !rev[0].RevokedAt.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("RevokedCertificates after the first expired = %+v", rev)
	}
	rev, err = s.RevokedCertificates(ctx, "nobody", "", now)
	must(t, err)
	if len(rev) != 0 {
		t.Fatalf("RevokedCertificates of an unknown issuer = %+v", rev)
	}
	// With an issuer DN, its records come too, with their DER for the
	// caller's signature check (imported certificates of this CA); those
	// of the issuer name without.
	other, err := s.GetCertificate(ctx, "12")
	must(t, err)
	rev, err = s.RevokedCertificates(ctx, "local", "other", now)
	must(t, err)
	slices.SortFunc(rev, func(a, b store.RevokedEntry) int { return strings.Compare(a.Serial, b.Serial) })
	if len(rev) != 3 || rev[0].DER != nil || rev[1].DER != nil || rev[2].Serial != "12" || !bytes.Equal(rev[2].DER, other.DER) {
		t.Fatalf("RevokedCertificates(local, other) = %+v, want 10 and 11 without DER, 12 with its DER", rev)
	}
	_, rev, err = s.CRLContents(ctx, "local", "other", now, 0)
	must(t, err)
	if len(rev) != 3 {
		t.Fatalf("CRLContents(local, other) = %+v, want 3 entries", rev)
	}
	// CRLContentsDER (a rotated CA): the records of the issuer name with
	// their DER too, told apart by OfIssuerName.
	_, rev, err = s.CRLContentsDER(ctx, "local", "other", now, 0)
	must(t, err)
	slices.SortFunc(rev, func(a, b store.RevokedEntry) int { return strings.Compare(a.Serial, b.Serial) })
	if len(rev) != 3 || !rev[0].OfIssuerName || rev[0].DER == nil || !rev[1].OfIssuerName || rev[1].DER == nil ||
		rev[2].OfIssuerName || !bytes.Equal(rev[2].DER, other.DER) {
		t.Fatalf("CRLContentsDER(local, other) = %+v, want 10 and 11 of the issuer name with their DER, 12 of the DN", rev)
	}
}

// testReopen: what was committed survives closing and reopening through
// store.Open (migrations already applied), and an order left processing
// is found for recovery.
func testReopen(t *testing.T, e storetest.Engine) {
	dsn := e.NewDSN(t)
	ctx := context.Background()
	s, err := store.Open(ctx, dsn)
	must(t, err)
	_, o, _ := seed(t, s)
	c := issue(t, s, o.ID, "acct1", "1f")
	createOrder(t, s, "acct1", "ord2", newAuthz("acct1", "az2", "b.example.test", false, acme.ChallengeHTTP01))
	must(t, s.SetOrderStatus(ctx, "ord2", acme.StatusPending, acme.StatusProcessing, nil, now))
	must(t, s.ReserveSerial(ctx, "20", now))
	must(t, s.Close())

	s2 := storetest.OpenDSN(t, dsn)
	got, err := s2.GetOrder(ctx, o.ID)
	if err != nil || got.Status != acme.StatusValid || got.CertSerial != "1f" {
		t.Fatalf("order after reopen = %+v, %v", got, err)
	}
	cert, err := s2.GetCertificate(ctx, "1f")
	if err != nil || !reflect.DeepEqual(cert, c) {
		t.Fatalf("certificate after reopen = %+v, %v", cert, err)
	}
	stuck, err := s2.ProcessingOrders(ctx, now.Add(time.Second))
	if err != nil || !reflect.DeepEqual(stuck, []string{"ord2"}) {
		t.Fatalf("stuck orders after reopen = %v, %v", stuck, err)
	}
	wantErr(t, "reserved serial after reopen", s2.ReserveSerial(ctx, "20", now), store.ErrConflict)
}

// testCRLNumber: NextCRLNumber hands out atLeast or one more than the
// issuer's last number, whichever is greater; issuers count apart; and
// concurrent callers never get the same number.
func testCRLNumber(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	for i, tc := range []struct {
		issuer  string
		atLeast int64
		want    int64
	}{
		{"local", 1_000, 1_000},
		{"local", 500, 1_001}, // a clock behind the last number
		{"local", 1_001, 1_002},
		{"local", 5_000, 5_000},
		{"other", 7, 7},
		{"local", 0, 5_001},
	} {
		got, err := s.NextCRLNumber(ctx, tc.issuer, tc.atLeast)
		must(t, err)
		if got != tc.want {
			t.Errorf("step %d: NextCRLNumber(%s, %d) = %d, want %d", i, tc.issuer, tc.atLeast, got, tc.want)
		}
	}
	const n = 8
	got := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := s.NextCRLNumber(ctx, "local", 0)
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		}()
	}
	wg.Wait()
	seen := map[int64]bool{}
	for _, v := range got {
		if seen[v] || v <= 5_001 {
			t.Errorf("concurrent NextCRLNumber handed out %v: want distinct numbers above 5001", got)
			break
		}
		seen[v] = true
	}
}
