package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

func testNonces(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	must(t, s.RecordNonce(ctx, "n1", now.Add(time.Hour)))
	wantErr(t, "second redemption", s.RecordNonce(ctx, "n1", now.Add(time.Hour)), store.ErrConflict)
	must(t, s.RecordNonce(ctx, "n2", now.Add(-time.Minute)))
	n, err := s.PruneNonces(ctx, now)
	must(t, err)
	if n != 1 {
		t.Fatalf("pruned %d nonce records, want 1 (only the expired one)", n)
	}
	wantErr(t, "redemption after prune of another nonce", s.RecordNonce(ctx, "n1", now.Add(time.Hour)), store.ErrConflict)
}

func testSettings(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	_, err := s.GetSetting(ctx, "ca_root")
	wantErr(t, "unset setting", err, store.ErrNotFound)
	v, err := s.InitSetting(ctx, "ca_root", "first")
	must(t, err)
	if v != "first" {
		t.Fatalf("InitSetting = %q, want first", v)
	}
	if v, err = s.InitSetting(ctx, "ca_root", "second"); err != nil || v != "first" {
		t.Fatalf("second InitSetting = %q, %v; the first writer must win", v, err)
	}
	// ReplaceSetting is a compare-and-set.
	if ok, err := s.ReplaceSetting(ctx, "ca_root", "stale", "third"); err != nil || ok {
		t.Fatalf("ReplaceSetting from a stale value = %v, %v; want false", ok, err)
	}
	if ok, err := s.ReplaceSetting(ctx, "ca_root", "first", "third"); err != nil || !ok {
		t.Fatalf("ReplaceSetting from the current value = %v, %v; want true", ok, err)
	}
	if v, err := s.GetSetting(ctx, "ca_root"); err != nil || v != "third" {
		t.Fatalf("after ReplaceSetting: %q, %v", v, err)
	}
	if ok, err := s.ReplaceSetting(ctx, "unset", "", "x"); err != nil || ok {
		t.Fatalf("ReplaceSetting of an unset setting = %v, %v; want false", ok, err)
	}
}

func testChallengeLeases(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	seed(t, s)
	const ch = "az1-http-01"
	wantErr(t, "lease on a pending challenge", s.LeaseChallenge(ctx, ch, "node-a", now, now.Add(time.Minute)), store.ErrStale)
	must(t, s.StartChallenge(ctx, ch, now))
	must(t, s.LeaseChallenge(ctx, ch, "node-a", now, now.Add(time.Minute)))
	must(t, s.LeaseChallenge(ctx, ch, "node-a", now, now.Add(2*time.Minute))) // renewal by the holder
	wantErr(t, "lease held by another node", s.LeaseChallenge(ctx, ch, "node-b", now.Add(time.Minute), now.Add(3*time.Minute)), store.ErrStale)
	ids, err := s.ExpiredLeases(ctx, now.Add(time.Minute), 10)
	must(t, err)
	if len(ids) != 0 {
		t.Fatalf("expired leases before expiry: %v", ids)
	}
	later := now.Add(3 * time.Minute)
	ids, err = s.ExpiredLeases(ctx, later, 10)
	must(t, err)
	if len(ids) != 1 || ids[0] != ch {
		t.Fatalf("expired leases = %v, want [%s]", ids, ch)
	}
	must(t, s.LeaseChallenge(ctx, ch, "node-b", later, later.Add(time.Minute))) // taken over after expiry
	c, err := s.GetChallenge(ctx, ch)
	must(t, err)
	must(t, s.FinishChallenge(ctx, c, nil, later, later.Add(time.Hour)))
	wantErr(t, "lease on a finished challenge", s.LeaseChallenge(ctx, ch, "node-b", later, later.Add(time.Minute)), store.ErrStale)
}

func testDeleteStale(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a := createAccount(t, s, "acct1")
	// ord1: pending, expires in an hour. ord2: valid with certificate.
	createOrder(t, s, a.ID, "ord1", newAuthz(a.ID, "az1", "a.example.test", false, acme.ChallengeHTTP01))
	az2 := newAuthz(a.ID, "az2", "b.example.test", false, acme.ChallengeHTTP01)
	createOrder(t, s, a.ID, "ord2", az2)
	must(t, s.StartChallenge(ctx, "az2-http-01", now))
	c, err := s.GetChallenge(ctx, "az2-http-01")
	must(t, err)
	must(t, s.FinishChallenge(ctx, c, nil, now, now.Add(30*time.Minute)))
	issue(t, s, "ord2", a.ID, "2a")
	// A valid authorization later deactivated stays: ord2 needs it.
	must(t, s.SetAuthorizationStatus(ctx, "az2", []string{acme.StatusValid}, acme.StatusDeactivated))

	o, z, err := s.DeleteStale(ctx, now)
	must(t, err)
	if o != 0 || z != 0 {
		t.Fatalf("deleted %d orders, %d authorizations before anything expired", o, z)
	}
	o, z, err = s.DeleteStale(ctx, now.Add(2*time.Hour))
	must(t, err)
	if o != 1 || z != 1 {
		t.Fatalf("deleted %d orders, %d authorizations; want the pending order and its authorization", o, z)
	}
	_, err = s.GetOrder(ctx, "ord1")
	wantErr(t, "deleted order", err, store.ErrNotFound)
	_, err = s.GetChallenge(ctx, "az1-http-01")
	wantErr(t, "deleted challenge", err, store.ErrNotFound)
	if _, err := s.GetOrder(ctx, "ord2"); err != nil {
		t.Fatalf("valid order deleted: %v", err)
	}
	if _, err := s.GetAuthorizations(ctx, []string{"az2"}); err != nil {
		t.Fatalf("authorization of a valid order deleted: %v", err)
	}
	if _, err := s.GetCertificate(ctx, "2a"); err != nil {
		t.Fatalf("certificate deleted: %v", err)
	}
}

func testInsertIssued(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a := createAccount(t, s, "acct1")
	rec := func(n string) store.IssuedRecord {
		az := newAuthz(a.ID, "az"+n, n+".example.test", false, acme.ChallengeHTTP01)
		az.Status = acme.StatusValid
		c := newCert("5"+n, "ord"+n, a.ID)
		o := &store.Order{ID: "ord" + n, AccountID: a.ID, Status: acme.StatusValid, Expires: now.Add(time.Hour),
			Identifiers: []acme.Identifier{az.Identifier}, AuthzIDs: []string{az.ID}, CertSerial: c.Serial, CreatedAt: now, UpdatedAt: now}
		return store.IssuedRecord{Order: o, Authz: az, Cert: c}
	}
	must(t, s.InsertIssued(ctx, []store.IssuedRecord{rec("1"), rec("2")}))
	o, err := s.GetOrder(ctx, "ord2")
	must(t, err)
	if o.Status != acme.StatusValid || o.CertSerial != "52" {
		t.Fatalf("order = %+v", o)
	}
	if _, err := s.GetCertificate(ctx, "51"); err != nil {
		t.Fatal(err)
	}
	dup := rec("3")
	dup.Cert = newCert("51", "ord3", a.ID)
	dup.Order.CertSerial = "51"
	wantErr(t, "duplicate serial", s.InsertIssued(ctx, []store.IssuedRecord{rec("4"), dup}), store.ErrConflict)
	_, err = s.GetOrder(ctx, "ord4")
	wantErr(t, "record of a failed batch", err, store.ErrNotFound)
}

// TestPostgresAsyncSessions: used nonces are recorded on sessions that
// commit asynchronously, while the pool that stores certificates, orders
// and the audit log keeps PostgreSQL's synchronous commit.
func TestPostgresAsyncSessions(t *testing.T) {
	s := storetest.OpenDSN(t, storetest.PostgresDSN(t))
	ctx := context.Background()
	main, async, err := store.SynchronousCommit(ctx, s)
	must(t, err)
	if main != "on" || async != "off" {
		t.Fatalf("synchronous_commit: main pool %q, nonce sessions %q; want on, off", main, async)
	}
}
