package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/pem"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// Issuer chains (chains.go): a certificate whose chain is its leaf's PEM
// block followed by intermediates is stored with its intermediates once per
// distinct chain, and read back byte for byte.

// pemBlock returns a CERTIFICATE PEM block of n random bytes (the store
// does not parse certificates).
func pemBlock(t *testing.T, n int) (der []byte, block string) {
	t.Helper()
	der = make([]byte, n)
	if _, err := rand.Read(der); err != nil {
		t.Fatal(err)
	}
	return der, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// chainCert is newCert with a random leaf DER and the chain an issuer
// returns: the leaf's PEM block, then intermediates.
func chainCert(t *testing.T, serial, orderID, accountID, intermediates string) *store.Certificate {
	t.Helper()
	c := newCert(serial, orderID, accountID)
	der, leaf := pemBlock(t, 620)
	c.DER, c.ChainPEM = der, leaf+intermediates
	return c
}

// issueChain stores a new pending order of account a and issues c for it
// (c.OrderID is set to the order).
func issueChain(t *testing.T, s *store.Store, a *store.Account, c *store.Certificate) error {
	t.Helper()
	ctx := context.Background()
	o := createOrder(t, s, a.ID, "ord-"+c.Serial, newAuthz(a.ID, "az-"+c.Serial, c.Serial+".example.test", false, acme.ChallengeHTTP01))
	c.OrderID = o.ID
	must(t, s.SetOrderStatus(ctx, o.ID, acme.StatusPending, acme.StatusProcessing, nil, now))
	must(t, s.ReserveSerial(ctx, c.Serial, now))
	return s.FinishOrder(ctx, o.ID, c, now)
}

// rawDB opens the database at dsn of engine e directly (database/sql), for
// checks of what the store wrote; queries use "?" placeholders (rebound for
// PostgreSQL by rawExec and rawRow).
type rawDB struct {
	db       *sql.DB
	postgres bool
}

func openRaw(t *testing.T, e storetest.Engine, dsn string) rawDB {
	t.Helper()
	driver, name := "sqlite", "file:"+dsn
	if e.Name == store.EnginePostgres {
		driver, name = "pgx", dsn
	}
	db, err := sql.Open(driver, name)
	must(t, err)
	t.Cleanup(func() { db.Close() })
	return rawDB{db: db, postgres: e.Name == store.EnginePostgres}
}

func (r rawDB) bind(q string) string {
	for i := 1; r.postgres && strings.Contains(q, "?"); i++ {
		q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
	}
	return q
}

func (r rawDB) row(t *testing.T, q string, args []any, dest ...any) {
	t.Helper()
	must(t, r.db.QueryRow(r.bind(q), args...).Scan(dest...))
}

func (r rawDB) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	_, err := r.db.Exec(r.bind(q), args...)
	must(t, err)
}

// storedChain returns the chain_pem and chain_id columns of certificate serial.
func (r rawDB) storedChain(t *testing.T, serial string) (string, sql.NullInt64) {
	t.Helper()
	var chainPEM string
	var id sql.NullInt64
	r.row(t, `SELECT chain_pem, chain_id FROM certificates WHERE serial = ?`, []any{serial}, &chainPEM, &id)
	return chainPEM, id
}

func (r rawDB) chainRows(t *testing.T) int {
	t.Helper()
	var n int
	r.row(t, `SELECT COUNT(*) FROM issuer_chains`, nil, &n)
	return n
}

// wantChain checks that every read of certificate serial returns chain.
func wantChain(t *testing.T, s *store.Store, serial, chain string) {
	t.Helper()
	ctx := context.Background()
	_, got, err := s.CertificateChain(ctx, serial)
	must(t, err)
	if got != chain {
		t.Fatalf("CertificateChain(%s) =\n%q\nwant\n%q", serial, got, chain)
	}
	c, err := s.GetCertificate(ctx, serial)
	must(t, err)
	if c.ChainPEM != chain {
		t.Fatalf("GetCertificate(%s).ChainPEM =\n%q\nwant\n%q", serial, c.ChainPEM, chain)
	}
	c, err = s.GetCertificateByFingerprint(ctx, c.FingerprintSHA256)
	must(t, err)
	if c.ChainPEM != chain {
		t.Fatalf("GetCertificateByFingerprint(%s).ChainPEM =\n%q\nwant\n%q", serial, c.ChainPEM, chain)
	}
}

// testIssuerChainNew: a new certificate is stored without chain_pem and
// with a reference to its intermediates; every read returns exactly the
// chain given (leaf PEM block, then the intermediates), also through a
// second store whose cache is empty.
func testIssuerChainNew(t *testing.T, e storetest.Engine) {
	dsn := e.NewDSN(t)
	s := storetest.OpenDSN(t, dsn)
	ctx := context.Background()
	a := createAccount(t, s, "acct1")
	_, inter1 := pemBlock(t, 580)
	_, inter2 := pemBlock(t, 900)
	c := chainCert(t, "c1", "", a.ID, inter1+inter2)
	must(t, issueChain(t, s, a, c))

	raw := openRaw(t, e, dsn)
	if chainPEM, id := raw.storedChain(t, "c1"); chainPEM != "" || !id.Valid {
		t.Fatalf("stored chain_pem %q, chain_id %v; want '' and a reference", chainPEM, id)
	}
	var stored string
	raw.row(t, `SELECT pem FROM issuer_chains`, nil, &stored)
	if stored != inter1+inter2 {
		t.Fatalf("issuer_chains.pem = %q, want the intermediates %q", stored, inter1+inter2)
	}
	wantChain(t, s, "c1", c.ChainPEM)
	got, err := s.GetCertificate(ctx, "c1")
	must(t, err)
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("GetCertificate =\n%+v\nwant\n%+v", got, c)
	}
	found, err := s.SearchCertificates(ctx, store.CertQuery{Suffix: ".example.test", Limit: 10})
	must(t, err)
	if len(found) != 1 || found[0].ChainPEM != c.ChainPEM {
		t.Fatalf("SearchCertificates returned %d certificates, chain of the first %q", len(found), found[0].ChainPEM)
	}
	// Another node (or a restart): nothing cached yet.
	wantChain(t, storetest.OpenDSN(t, dsn), "c1", c.ChainPEM)
}

// testIssuerChainOldRow: a certificate stored before migration 00013 (its
// whole chain in chain_pem, chain_id NULL) reads as before, as do chains
// that are not the leaf's PEM block followed by more (stored as given).
func testIssuerChainOldRow(t *testing.T, e storetest.Engine) {
	dsn := e.NewDSN(t)
	s := storetest.OpenDSN(t, dsn)
	ctx := context.Background()
	a := createAccount(t, s, "acct1")
	_, inter := pemBlock(t, 580)
	c := chainCert(t, "01d", "", a.ID, inter)
	must(t, issueChain(t, s, a, c))
	raw := openRaw(t, e, dsn)
	raw.exec(t, `UPDATE certificates SET chain_pem = ?, chain_id = NULL WHERE serial = '01d'`, c.ChainPEM)
	raw.exec(t, `DELETE FROM issuer_chains`)
	wantChain(t, storetest.OpenDSN(t, dsn), "01d", c.ChainPEM)

	// A leaf alone (an imported certificate without its issuer), a chain
	// whose first block is not the DER's, no chain at all.
	leafOnly := chainCert(t, "1eaf", "", "", "")
	other := chainCert(t, "0the4", "", "", inter)
	other.ChainPEM = strings.Replace(other.ChainPEM, "\n", "\r\n", 1)
	none := chainCert(t, "0", "", "", "")
	none.ChainPEM = ""
	must(t, s.InsertCertificates(ctx, []*store.Certificate{leafOnly, other, none}))
	for _, c := range []*store.Certificate{leafOnly, other, none} {
		if chainPEM, id := raw.storedChain(t, c.Serial); chainPEM != c.ChainPEM || id.Valid {
			t.Fatalf("%s: stored chain_pem %q, chain_id %v; want the chain as given, no reference", c.Serial, chainPEM, id)
		}
		wantChain(t, s, c.Serial, c.ChainPEM)
	}
	if n := raw.chainRows(t); n != 0 {
		t.Fatalf("%d issuer chains stored for certificates without one", n)
	}
}

// testIssuerChainShared: certificates with the same intermediates share
// one issuer_chains row, whether issued (FinishOrder), imported
// (InsertCertificates) or bulk-loaded (InsertIssued); other intermediates
// get a row of their own.
func testIssuerChainShared(t *testing.T, e storetest.Engine) {
	dsn := e.NewDSN(t)
	s := storetest.OpenDSN(t, dsn)
	ctx := context.Background()
	a := createAccount(t, s, "acct1")
	_, inter := pemBlock(t, 580)
	_, other := pemBlock(t, 580)
	c1, c2 := chainCert(t, "5a1", "", a.ID, inter), chainCert(t, "5a2", "", a.ID, inter)
	must(t, issueChain(t, s, a, c1))
	must(t, issueChain(t, s, a, c2))
	imp1, imp2 := chainCert(t, "1a1", "", "", inter), chainCert(t, "1a2", "", "", other)
	must(t, s.InsertCertificates(ctx, []*store.Certificate{imp1, imp2}))
	az := newAuthz(a.ID, "az-b1", "b1.example.test", false, acme.ChallengeHTTP01)
	az.Status = acme.StatusValid
	bulk := chainCert(t, "b1", "ord-b1", a.ID, other)
	must(t, s.InsertIssued(ctx, []store.IssuedRecord{{Authz: az, Cert: bulk, Order: &store.Order{ID: "ord-b1", AccountID: a.ID,
		Status: acme.StatusValid, Expires: now, Identifiers: []acme.Identifier{az.Identifier}, AuthzIDs: []string{az.ID},
		CertSerial: "b1", CreatedAt: now, UpdatedAt: now}}}))

	raw := openRaw(t, e, dsn)
	if n := raw.chainRows(t); n != 2 {
		t.Fatalf("%d issuer_chains rows for two distinct chains, want 2", n)
	}
	ids := map[string]int64{}
	for _, c := range []*store.Certificate{c1, c2, imp1, imp2, bulk} {
		_, id := raw.storedChain(t, c.Serial)
		if !id.Valid {
			t.Fatalf("%s: no chain reference", c.Serial)
		}
		ids[c.Serial] = id.Int64
		wantChain(t, s, c.Serial, c.ChainPEM)
	}
	if ids["5a1"] != ids["5a2"] || ids["5a1"] != ids["1a1"] || ids["1a2"] != ids["b1"] || ids["5a1"] == ids["b1"] {
		t.Fatalf("chain references %v: want 5a1 = 5a2 = 1a1 and 1a2 = b1, two distinct", ids)
	}
}

// testIssuerChainRollback: a chain inserted by a transaction that rolls
// back is neither kept nor remembered; the id it had may go to another
// chain, and a later certificate with the first chain still reads its own.
func testIssuerChainRollback(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	a := createAccount(t, s, "acct1")
	ctx := context.Background()
	_, interA := pemBlock(t, 580)
	_, interB := pemBlock(t, 580)
	o := createOrder(t, s, a.ID, "ord-pending", newAuthz(a.ID, "az-p", "p.example.test", false, acme.ChallengeHTTP01))
	must(t, s.ReserveSerial(ctx, "a0", now))
	// The order is pending, not processing: the certificate (and its new
	// chain, inserted first) roll back.
	wantErr(t, "finish of a pending order", s.FinishOrder(ctx, o.ID, chainCert(t, "a0", o.ID, a.ID, interA), now), store.ErrStale)
	b := chainCert(t, "b0", "", a.ID, interB)
	must(t, issueChain(t, s, a, b))
	c := chainCert(t, "a1", "", a.ID, interA)
	must(t, issueChain(t, s, a, c))
	wantChain(t, s, "b0", b.ChainPEM)
	wantChain(t, s, "a1", c.ChainPEM)
}

// testIssuerChainConcurrent: certificates with the same new chain, issued
// at once by several stores on one database (nodes), all succeed and share
// one row (on PostgreSQL the inserts race on the unique SHA-256).
func testIssuerChainConcurrent(t *testing.T, e storetest.Engine) {
	dsn := e.NewDSN(t)
	nodes := []*store.Store{storetest.OpenDSN(t, dsn)}
	if e.Name == store.EnginePostgres {
		nodes = append(nodes, storetest.OpenDSN(t, dsn), storetest.OpenDSN(t, dsn))
	}
	ctx := context.Background()
	a := createAccount(t, nodes[0], "acct1")
	const n = 12
	for round := range 3 {
		_, inter := pemBlock(t, 580)
		certs := make([]*store.Certificate, n)
		for i := range certs {
			serial := fmt.Sprintf("%x%02x", round+10, i)
			o := createOrder(t, nodes[0], a.ID, "ord-"+serial, newAuthz(a.ID, "az-"+serial, serial+".example.test", false, acme.ChallengeHTTP01))
			must(t, nodes[0].SetOrderStatus(ctx, o.ID, acme.StatusPending, acme.StatusProcessing, nil, now))
			must(t, nodes[0].ReserveSerial(ctx, serial, now))
			certs[i] = chainCert(t, serial, o.ID, a.ID, inter)
		}
		errs := race(n, func(i int) error {
			return nodes[i%len(nodes)].FinishOrder(ctx, certs[i].OrderID, certs[i], now)
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: FinishOrder %d: %v", round, i, err)
			}
		}
		for i, c := range certs {
			wantChain(t, nodes[i%len(nodes)], c.Serial, c.ChainPEM)
		}
	}
	if n := openRaw(t, e, dsn).chainRows(t); n != 3 {
		t.Fatalf("%d issuer_chains rows after three rounds of one chain each, want 3", n)
	}
}
