package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/jackc/pgx/v5"
)

// race runs fn(i) for i in [0,n) on n goroutines released together and
// returns their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one of errs is nil and every other one is
// loser (errors.Is).
func oneWinner(t *testing.T, what string, errs []error, loser error) {
	t.Helper()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, loser):
			t.Errorf("%s: unexpected error %v (want nil or %v)", what, err, loser)
		}
	}
	if wins != 1 {
		t.Fatalf("%s: %d of %d callers won, want exactly 1", what, wins, len(errs))
	}
}

// testConcurrentFinalize races the pending→processing move that guards
// finalize: exactly one caller may win.
func testConcurrentFinalize(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	seed(t, s)
	errs := race(8, func(int) error {
		return s.SetOrderStatus(context.Background(), "ord1", acme.StatusPending, acme.StatusProcessing, nil, now)
	})
	oneWinner(t, "SetOrderStatus pending→processing", errs, store.ErrStale)
}

// testConcurrentFinishOrder races finishers of one processing order, each
// with its own reserved serial: one certificate is stored, the others roll
// back.
func testConcurrentFinishOrder(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a, o, _ := seed(t, s)
	must(t, s.SetOrderStatus(ctx, o.ID, acme.StatusPending, acme.StatusProcessing, nil, now))
	const n = 8
	for i := range n {
		must(t, s.ReserveSerial(ctx, fmt.Sprintf("a%d", i), now))
	}
	errs := race(n, func(i int) error {
		return s.FinishOrder(ctx, o.ID, newCert(fmt.Sprintf("a%d", i), o.ID, a.ID), now)
	})
	oneWinner(t, "FinishOrder", errs, store.ErrStale)
	if c, err := s.CountCertificates(ctx); err != nil || c != 1 {
		t.Fatalf("%d certificates stored (%v), want 1", c, err)
	}
	got, _ := s.GetOrder(ctx, o.ID)
	for i, err := range errs {
		if err == nil && got.CertSerial != fmt.Sprintf("a%d", i) {
			t.Fatalf("order names serial %s, the winner stored a%d", got.CertSerial, i)
		}
	}
}

// testConcurrentCreateOrder creates many orders on one account at once
// (the case that corrupts a per-account index kept as a list): all succeed,
// and paging through the account's orders returns each exactly once.
func testConcurrentCreateOrder(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a := createAccount(t, s, "acct1")
	const n = 48
	errs := race(n, func(i int) error {
		id := fmt.Sprintf("o%02d", i)
		az := newAuthz(a.ID, "az-"+id, id+".example.test", false, acme.ChallengeHTTP01, acme.ChallengeDNS01)
		created := now.Add(time.Duration(i%4) * time.Second) // ties, so pages split inside equal timestamps
		o := &store.Order{ID: id, AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour),
			Identifiers: []acme.Identifier{az.Identifier}, AuthzIDs: []string{az.ID}, CreatedAt: created, UpdatedAt: created}
		return s.CreateOrder(ctx, o, []*store.Authorization{az})
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("CreateOrder %d: %v", i, err)
		}
	}
	seen := map[string]int{}
	var cur time.Time
	curID := ""
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("paging does not end")
		}
		page, err := s.ListACMEOrders(ctx, a.ID, cur, curID, now, 5)
		must(t, err)
		if len(page) == 0 {
			break
		}
		for _, o := range page {
			seen[o.ID]++
		}
		cur, curID = page[len(page)-1].CreatedAt, page[len(page)-1].ID
	}
	if len(seen) != n {
		t.Fatalf("paging returned %d distinct orders, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("order %s listed %d times", id, c)
		}
	}
}

// testConcurrentUniqueInserts races inserts on unique keys: a serial and
// an account key thumbprint are taken once.
func testConcurrentUniqueInserts(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	errs := race(8, func(int) error { return s.ReserveSerial(ctx, "5e71a1", now) })
	oneWinner(t, "ReserveSerial", errs, store.ErrConflict)
	errs = race(8, func(i int) error {
		return s.CreateAccount(ctx, &store.Account{ID: fmt.Sprintf("acct%d", i), KeyThumbprint: "same-key", JWK: []byte(`{}`),
			Status: acme.StatusValid, CreatedAt: now})
	})
	oneWinner(t, "CreateAccount with one key", errs, store.ErrConflict)
}

// testConcurrentChallenge races challenge starts, then a successful and a
// failed validation result: one of each step wins.
func testConcurrentChallenge(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	seed(t, s)
	errs := race(8, func(int) error { return s.StartChallenge(ctx, "az1-http-01", now) })
	oneWinner(t, "StartChallenge", errs, store.ErrStale)
	c, err := s.GetChallenge(ctx, "az1-http-01")
	must(t, err)
	p := &acme.Problem{Type: acme.Unauthorized, Detail: "no"}
	errs = race(8, func(i int) error {
		if i%2 == 0 {
			return s.FinishChallenge(ctx, c, nil, now, now.Add(time.Hour))
		}
		return s.FinishChallenge(ctx, c, p, now, now.Add(time.Hour))
	})
	oneWinner(t, "FinishChallenge", errs, store.ErrStale)
	az, err := s.GetAuthorization(ctx, "az1")
	must(t, err)
	if az.Status != az.Challenges[0].Status {
		t.Fatalf("authorization %s but its challenge %s: a finish was applied halfway", az.Status, az.Challenges[0].Status)
	}
}

// testIssuanceFlow runs the storage side of a whole ACME flow as the RA
// drives it: account, order, authorization, challenge, finalize, serial,
// certificate, revocation, CRL listing, then a second order that reuses
// the authorization.
func testIssuanceFlow(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	clock := now

	// newAccount: looked up by key first, then created.
	acct := &store.Account{ID: "acct-flow", KeyThumbprint: "tp-flow", JWK: []byte(`{"kty":"OKP"}`), Status: acme.StatusValid,
		Contact: []string{"mailto:ops@example.test"}, TOSAgreed: true, CreatedAt: clock}
	_, err := s.GetAccountByThumbprint(ctx, acct.KeyThumbprint)
	wantErr(t, "new key lookup", err, store.ErrNotFound)
	must(t, s.CreateAccount(ctx, acct))

	// newOrder: nothing to reuse yet, so one new authorization per name.
	names := []string{"www.example.test", "example.test"}
	var azs []*store.Authorization
	for i, name := range names {
		ident := acme.Identifier{Type: acme.IdentifierDNS, Value: name}
		_, err := s.FindValidAuthorization(ctx, acct.ID, "", ident, false, clock, clock.Add(-30*24*time.Hour))
		wantErr(t, "reuse lookup", err, store.ErrNotFound)
		azs = append(azs, newAuthz(acct.ID, fmt.Sprintf("az-flow-%d", i), name, false,
			acme.ChallengeHTTP01, acme.ChallengeDNS01, acme.ChallengeTLSALPN01))
	}
	o := createOrder(t, s, acct.ID, "ord-flow", azs...)

	// Each authorization: the client picks http-01, validation fails once,
	// then succeeds.
	for _, az := range azs {
		got, err := s.GetAuthorization(ctx, az.ID)
		must(t, err)
		var ch store.Challenge
		for _, c := range got.Challenges {
			if c.Type == acme.ChallengeHTTP01 {
				ch = c
			}
		}
		clock = clock.Add(time.Second)
		must(t, s.StartChallenge(ctx, ch.ID, clock))
		must(t, s.RecordAttempt(ctx, ch.ID, &acme.Problem{Type: acme.Connection, Detail: "timeout"}, clock))
		c, err := s.GetChallenge(ctx, ch.ID)
		must(t, err)
		clock = clock.Add(time.Second)
		must(t, s.FinishChallenge(ctx, c, nil, clock, clock.Add(30*24*time.Hour)))
	}
	got, err := s.GetAuthorizations(ctx, o.AuthzIDs)
	must(t, err)
	for _, az := range got {
		if az.Status != acme.StatusValid {
			t.Fatalf("authorization %s is %s after validation", az.ID, az.Status)
		}
	}

	// finalize: claim the order, reserve a serial, sign (not here), store.
	must(t, s.SetOrderStatus(ctx, o.ID, acme.StatusPending, acme.StatusProcessing, nil, clock))
	wantErr(t, "second finalize", s.SetOrderStatus(ctx, o.ID, acme.StatusPending, acme.StatusProcessing, nil, clock), store.ErrStale)
	must(t, s.ReserveSerial(ctx, "7e57", clock))
	cert := newCert("7e57", o.ID, acct.ID)
	cert.DER = certDER(t, testKey(t)) // revoked for keyCompromise below: its key is read from the DER
	cert.SANs = names
	must(t, s.FinishOrder(ctx, o.ID, cert, clock))
	ord, err := s.GetOrder(ctx, o.ID)
	must(t, err)
	if ord.Status != acme.StatusValid || ord.CertSerial != "7e57" {
		t.Fatalf("order after finalize = %+v", ord)
	}
	if stuck, _ := s.ProcessingOrders(ctx, clock.Add(time.Hour)); len(stuck) != 0 {
		t.Fatalf("orders left processing: %v", stuck)
	}

	// download, then revoke as the holder of authorizations for all names.
	dl, err := s.GetCertificate(ctx, ord.CertSerial)
	must(t, err)
	if strings.Join(dl.SANs, ",") != strings.Join(names, ",") {
		t.Fatalf("certificate SANs = %v", dl.SANs)
	}
	var idents []acme.Identifier
	for _, n := range names {
		idents = append(idents, acme.Identifier{Type: acme.IdentifierDNS, Value: n})
	}
	ok, err := s.ValidAuthorizationsFor(ctx, acct.ID, idents, clock)
	if err != nil || !ok {
		t.Fatalf("ValidAuthorizationsFor = %v, %v", ok, err)
	}
	must(t, s.RevokeCertificate(ctx, dl.Serial, 1, clock))
	crl, err := s.RevokedCertificates(ctx, dl.Issuer, "", clock)
	must(t, err)
	if len(crl) != 1 || crl[0].Serial != "7e57" || crl[0].Reason != 1 {
		t.Fatalf("CRL entries = %+v", crl)
	}

	// A second order for one name reuses its valid authorization.
	reuse, err := s.FindValidAuthorization(ctx, acct.ID, "", idents[0], false, clock, clock.Add(-30*24*time.Hour))
	must(t, err)
	o2 := &store.Order{ID: "ord-flow-2", AccountID: acct.ID, Status: acme.StatusPending, Expires: clock.Add(time.Hour),
		Identifiers: idents[:1], AuthzIDs: []string{reuse.ID}, CreatedAt: clock, UpdatedAt: clock}
	must(t, s.CreateOrder(ctx, o2, nil))
	listed, err := s.ListACMEOrders(ctx, acct.ID, time.Time{}, "", clock, 10)
	must(t, err)
	if ids := orderIDs(listed); strings.Join(ids, ",") != "ord-flow,ord-flow-2" {
		t.Fatalf("account orders = %v", ids)
	}
	if n, _ := s.CountCertificates(ctx); n != 1 {
		t.Fatalf("%d certificates, want 1", n)
	}
}

// TestPostgresConcurrentMigrations starts several stores on one empty
// PostgreSQL database at once, as nodes starting together do: all open,
// and every migration is recorded once.
func TestPostgresConcurrentMigrations(t *testing.T) {
	t.Parallel()
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	stores := make([]*store.Store, 4)
	errs := race(len(stores), func(i int) error {
		var err error
		stores[i], err = store.Open(ctx, dsn)
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	conn, err := pgx.Connect(ctx, dsn)
	must(t, err)
	defer conn.Close(ctx)
	var rows, versions int
	must(t, conn.QueryRow(ctx, `SELECT COUNT(*), COUNT(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&rows, &versions))
	if rows != versions || rows == 0 {
		t.Fatalf("goose_db_version holds %d rows for %d versions: a migration ran twice", rows, versions)
	}
	// The nodes share one database: what one writes, another reads.
	createAccount(t, stores[0], "shared")
	if _, err := stores[3].GetAccount(ctx, "shared"); err != nil {
		t.Fatalf("account written by node 0, read by node 3: %v", err)
	}
}

// TestOpen checks how Open chooses the engine and that connection errors
// never show the password.
func TestOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := storetest.OpenDSN(t, storetest.SQLiteDSN(t))
	if s.Engine() != store.EngineSQLite {
		t.Fatalf("path opened as %q", s.Engine())
	}
	if _, err := store.Open(ctx, ""); err == nil {
		t.Fatal("Open(\"\") succeeded")
	}
	for _, dsn := range []string{
		"postgres://certgate:s3cret-pw@127.0.0.1:1/certgate?sslmode=disable&connect_timeout=2",
		"postgresql://certgate:s3cret-pw@127.0.0.1:1/certgate?sslmode=disable&connect_timeout=2",
		"POSTGRES://certgate@127.0.0.1:1/certgate?password=s3cret-pw&sslmode=disable&connect_timeout=2",
	} {
		_, err := store.Open(ctx, dsn)
		if err == nil {
			t.Fatalf("Open(%s) on a closed port succeeded", dsn)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("error shows the password: %v", err)
		}
		if !strings.Contains(err.Error(), "127.0.0.1") {
			t.Fatalf("error does not name the server: %v", err)
		}
	}
	// A failed connection is one line: the database, then the cause
	// without pgx's restatement of user, database and address.
	_, err := store.Open(ctx, "postgres://certgate:s3cret-pw@127.0.0.1:1/certgate?sslmode=disable&connect_timeout=2")
	if want := "connect to PostgreSQL postgres://certgate@127.0.0.1:1/certgate: 127.0.0.1:1: connection refused"; err == nil || err.Error() != want {
		t.Errorf("closed port: %v\nwant: %s", err, want)
	}
	u, err := url.Parse(storetest.PostgresServer())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/certgate_no_such_database"
	_, err = store.Open(ctx, u.String())
	if err == nil || !strings.HasPrefix(err.Error(), "connect to PostgreSQL ") ||
		!strings.HasSuffix(err.Error(), `/certgate_no_such_database: database "certgate_no_such_database" does not exist (SQLSTATE 3D000)`) {
		t.Errorf("unknown database: %v", err)
	}
	if _, err := store.Open(ctx, "postgres://u@127.0.0.1:1/x?pool_max_conns=zero"); err == nil || !strings.Contains(err.Error(), "pool_max_conns") {
		t.Fatalf("bad pool_max_conns: %v", err)
	}
	pg := storetest.OpenDSN(t, storetest.PostgresDSN(t)+"&pool_max_conns=2")
	if pg.Engine() != store.EnginePostgres {
		t.Fatalf("postgres URL opened as %q", pg.Engine())
	}
	// Two connections are enough for concurrent transactions and reads.
	seed(t, pg)
	errs := race(8, func(i int) error {
		if _, err := pg.GetOrder(ctx, "ord1"); err != nil {
			return err
		}
		return pg.ReserveSerial(ctx, fmt.Sprintf("b%d", i), now)
	})
	for _, err := range errs {
		must(t, err)
	}
}
