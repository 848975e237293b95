package store_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// issuedCert is a certificate the built-in CA issued (source issued under
// issuer.LocalName, no order) for key k, valid for days from now.
func issuedCert(t *testing.T, serial string, k *ecdsa.PrivateKey, days int) *store.Certificate {
	t.Helper()
	c := invCert(serial, days, serial+".example")
	c.Source, c.DER, c.Issuer = store.SourceIssued, certDER(t, k), issuer.LocalName
	return c
}

// revokeEvent is the audit event of the keyCompromise revocation of serial
// by the test, whose Cascade gives each further certificate's event.
func revokeEvent(t *testing.T, s *store.Store, serial string) *store.AuditAppend {
	t.Helper()
	ev, err := audit.New(s, nil).Prepare(context.Background(), audit.Event{Actor: "cli:test", Action: audit.ActionCertificateRevoke,
		ObjectType: audit.ObjectCertificate, ObjectID: serial,
		Cascade: func(old any) (*audit.Event, error) {
			c, ok := old.(*store.Certificate)
			if !ok {
				return nil, fmt.Errorf("cascaded row %T", old)
			}
			return &audit.Event{Actor: "cli:test", Action: audit.ActionCertificateRevoke, ObjectType: audit.ObjectCertificate,
				ObjectID: c.Serial, Before: fmt.Sprintf("%s %d", c.Status, c.RevocationReason), After: store.StatusRevoked}, nil
		}})
	must(t, err)
	return ev
}

// TestKeyCompromiseRevokesKeyCertificates: on both engines, revoking one
// certificate for keyCompromise revokes, in the same transaction and at
// the same time, every other valid, unexpired certificate issued here with
// the same key (BR §4.9.1.1), and changes the reason of those revoked
// before for another reason (superseded, cessationOfOperation) to
// keyCompromise, keeping their revocation time (BR §7.2.2); each change
// has an audit event (with the row as it was) and its CRL entry says
// keyCompromise. It leaves alone the certificates of other keys, imported
// ones with the key, expired ones (valid or revoked), and ones revoked for
// keyCompromise already. The former code left the superseded and
// cessationOfOperation ones with their old reason.
func TestKeyCompromiseRevokesKeyCertificates(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := e.Open(t)
		ctx := context.Background()
		k, other := testKey(t), testKey(t)
		named, same1, same2 := issuedCert(t, "a1", k, 30), issuedCert(t, "a2", k, 60), issuedCert(t, "a3", k, 90)
		expired := issuedCert(t, "a4", k, 30)
		expired.NotBefore, expired.NotAfter = now.Add(-90*24*time.Hour), now.Add(-time.Hour)
		superseded, ceased := issuedCert(t, "a5", k, 30), issuedCert(t, "a6", k, 30)
		expiredSuperseded := issuedCert(t, "a7", k, 30)
		expiredSuperseded.NotBefore, expiredSuperseded.NotAfter = now.Add(-90*24*time.Hour), now.Add(-time.Hour)
		compromised := issuedCert(t, "a8", k, 30) // revoked for keyCompromise before (another CA's record of it, say)
		compromised.Status, compromised.RevokedAt, compromised.RevocationReason = store.StatusRevoked, now.Add(-3*time.Minute), acme.ReasonKeyCompromise
		imported := invCert("b1", 30, "b1.example") // source imported
		imported.DER = certDER(t, k)
		otherKey := issuedCert(t, "c1", other, 30)
		must(t, s.InsertCertificates(ctx, []*store.Certificate{named, same1, same2, expired, superseded, ceased, expiredSuperseded,
			compromised, imported, otherKey}))
		must(t, s.RevokeCertificate(ctx, "a5", 4, now.Add(-time.Minute)))   // superseded
		must(t, s.RevokeCertificate(ctx, "a6", 5, now.Add(-2*time.Minute))) // cessationOfOperation
		must(t, s.RevokeCertificate(ctx, "a7", 4, now.Add(-2*time.Hour)))   // superseded, expired since

		at := now.Add(time.Minute)
		must(t, s.RevokeCertificate(ctx, "a1", acme.ReasonKeyCompromise, at, revokeEvent(t, s, "a1")))

		for _, want := range []struct {
			serial, status string
			reason         int
			at             time.Time
		}{
			{"a1", store.StatusRevoked, acme.ReasonKeyCompromise, at},
			{"a2", store.StatusRevoked, acme.ReasonKeyCompromise, at},
			{"a3", store.StatusRevoked, acme.ReasonKeyCompromise, at},
			{"a4", store.StatusValid, 0, time.Time{}},                                        // expired
			{"a5", store.StatusRevoked, acme.ReasonKeyCompromise, now.Add(-time.Minute)},     // superseded before: the time stays
			{"a6", store.StatusRevoked, acme.ReasonKeyCompromise, now.Add(-2 * time.Minute)}, // cessationOfOperation before
			{"a7", store.StatusRevoked, 4, now.Add(-2 * time.Hour)},                          // expired: off the CRL
			{"a8", store.StatusRevoked, acme.ReasonKeyCompromise, now.Add(-3 * time.Minute)}, // keyCompromise already
			{"b1", store.StatusValid, 0, time.Time{}},                                        // imported: another CA's
			{"c1", store.StatusValid, 0, time.Time{}},                                        // another key
		} {
			c, err := s.GetCertificate(ctx, want.serial)
			must(t, err)
			if c.Status != want.status || c.RevocationReason != want.reason || !c.RevokedAt.Equal(want.at) {
				t.Errorf("%s = %s reason %d at %v; want %s reason %d at %v", want.serial, c.Status, c.RevocationReason, c.RevokedAt,
					want.status, want.reason, want.at)
			}
		}
		crl, err := s.RevokedCertificates(ctx, issuer.LocalName, "", now)
		must(t, err)
		onCRL := map[string]store.RevokedEntry{}
		for _, r := range crl {
			onCRL[r.Serial] = r
		}
		for _, serial := range []string{"a1", "a2", "a3", "a5", "a6", "a8"} {
			if r, ok := onCRL[serial]; !ok || r.Reason != acme.ReasonKeyCompromise {
				t.Errorf("CRL entry of %s = %+v, %v; want keyCompromise", serial, r, ok)
			}
		}
		if r := onCRL["a5"]; !r.RevokedAt.Equal(now.Add(-time.Minute)) {
			t.Errorf("CRL entry of a5 revoked at %v; want its first revocation's time %v", r.RevokedAt, now.Add(-time.Minute))
		}
		evs, err := s.ListAudit(ctx, store.AuditFilter{Action: audit.ActionCertificateRevoke, Limit: 100})
		must(t, err)
		var audited []string
		for _, ev := range evs {
			audited = append(audited, ev.ObjectID+":"+ev.Before)
		}
		// a1's own event has no Before here; each cascaded one the row as it was.
		if got, want := fmt.Sprint(audited), `[a1: a2:"valid 0" a3:"valid 0" a5:"revoked 4" a6:"revoked 5"]`; got != want {
			t.Errorf("revocation events %v; want %v", got, want)
		}
		// A further keyCompromise revocation of the key (the imported
		// certificate) finds nothing more of this CA's to revoke.
		must(t, s.RevokeCertificate(ctx, "b1", acme.ReasonKeyCompromise, at.Add(time.Minute)))
		if c, err := s.GetCertificate(ctx, "c1"); err != nil || c.Status != store.StatusValid {
			t.Errorf("c1 (another key) = %+v, %v; want valid", c, err)
		}
	})
}

// TestKeyCompromiseReRevocationAgrees: on both engines, a certificate
// revoked before for another reason gets the same result whether it is
// itself re-revoked for keyCompromise or reached through another
// certificate of its key: reason keyCompromise, its first revocation time,
// its key blocked; and a direct re-revocation also reaches the key's other
// certificates revoked for another reason.
func TestKeyCompromiseReRevocationAgrees(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := e.Open(t)
		ctx := context.Background()
		k := testKey(t)
		must(t, s.InsertCertificates(ctx, []*store.Certificate{issuedCert(t, "d1", k, 30), issuedCert(t, "d2", k, 30), issuedCert(t, "d3", k, 30)}))
		t1, t2 := now.Add(-2*time.Minute), now.Add(-time.Minute)
		must(t, s.RevokeCertificate(ctx, "d1", 4, t1)) // superseded
		must(t, s.RevokeCertificate(ctx, "d2", 5, t2)) // cessationOfOperation
		must(t, s.RevokeCertificate(ctx, "d1", acme.ReasonKeyCompromise, now, revokeEvent(t, s, "d1")))
		for serial, at := range map[string]time.Time{"d1": t1, "d2": t2, "d3": now} {
			c, err := s.GetCertificate(ctx, serial)
			must(t, err)
			if c.Status != store.StatusRevoked || c.RevocationReason != acme.ReasonKeyCompromise || !c.RevokedAt.Equal(at) {
				t.Errorf("%s = %s reason %d at %v; want keyCompromise at %v", serial, c.Status, c.RevocationReason, c.RevokedAt, at)
			}
		}
		if b, err := s.GetBlockedKey(ctx, keyHash(t, k.Public())); err != nil || b.Serial != "d1" {
			t.Errorf("blocked key = %+v, %v; want blocked by d1", b, err)
		}
		// Everything of the key is keyCompromise now: again is stale.
		if err := s.RevokeCertificate(ctx, "d2", acme.ReasonKeyCompromise, now); !errors.Is(err, store.ErrStale) {
			t.Errorf("keyCompromise revocation of d2 again = %v; want ErrStale", err)
		}
	})
}

// TestKeyCompromiseLeavesUpstreamCertificates: on both engines, a
// keyCompromise revocation of a certificate of the built-in CA leaves the
// key's certificates issued through an upstream CA (source issued, stored
// under the upstream's name, e.g. upstream-pebble) as they are, valid or
// revoked for another reason, and names the valid ones to scope.Others
// like another CA's: only their upstream can revoke them, and certgate
// sends a revocation there first (docs/issuers.md), which a cascade does
// not. Those of the built-in CA (issuer.LocalName, or the name
// CAScope.Issuer gives) are revoked. The former code revoked every row of
// source issued, so the upstream certificates were recorded revoked (and
// further revocations refused) while the upstream never heard of it.
func TestKeyCompromiseLeavesUpstreamCertificates(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := e.Open(t)
		ctx := context.Background()
		k := testKey(t)
		ours, named := issuedCert(t, "e1", k, 30), issuedCert(t, "e2", k, 30)
		standIn := issuedCert(t, "e3", k, 30)
		standIn.Issuer = "test" // the RA's built-in issuer's name (CAScope.Issuer)
		up, upSuperseded := issuedCert(t, "e4", k, 30), issuedCert(t, "e5", k, 30)
		up.Issuer, upSuperseded.Issuer = "upstream-pebble", "upstream-pebble"
		must(t, s.InsertCertificates(ctx, []*store.Certificate{ours, named, standIn, up, upSuperseded}))
		t1 := now.Add(-time.Minute)
		must(t, s.RevokeCertificate(ctx, "e5", 4, t1)) // superseded (sent upstream by the RA)
		var others []string
		at := now.Add(time.Minute)
		must(t, s.RevokeCertificateOf(ctx, "e1", acme.ReasonKeyCompromise, at,
			store.CAScope{Issuer: "test", Others: func(serial string) { others = append(others, serial) }}, revokeEvent(t, s, "e1")))
		for _, want := range []struct {
			serial, status string
			reason         int
			at             time.Time
		}{
			{"e1", store.StatusRevoked, acme.ReasonKeyCompromise, at},
			{"e2", store.StatusRevoked, acme.ReasonKeyCompromise, at},
			{"e3", store.StatusRevoked, acme.ReasonKeyCompromise, at},
			{"e4", store.StatusValid, 0, time.Time{}},
			{"e5", store.StatusRevoked, 4, t1},
		} {
			c, err := s.GetCertificate(ctx, want.serial)
			must(t, err)
			if c.Status != want.status || c.RevocationReason != want.reason || !c.RevokedAt.Equal(want.at) {
				t.Errorf("%s (issuer %s) = %s reason %d at %v; want %s reason %d at %v", want.serial, c.Issuer, c.Status, c.RevocationReason,
					c.RevokedAt, want.status, want.reason, want.at)
			}
		}
		if !slices.Equal(slices.Compact(slices.Sorted(slices.Values(others))), []string{"e4"}) {
			t.Errorf("other CAs' certificates named: %v; want [e4], the valid upstream one", others)
		}
		// Without a scope (RevokeCertificate) the built-in CA is
		// issuer.LocalName alone: the upstream's certificates stay too.
		k2 := testKey(t)
		f1, f2 := issuedCert(t, "f1", k2, 30), issuedCert(t, "f2", k2, 30)
		f2.Issuer = "upstream-pebble"
		must(t, s.InsertCertificates(ctx, []*store.Certificate{f1, f2}))
		must(t, s.RevokeCertificate(ctx, "f1", acme.ReasonKeyCompromise, at))
		c, err := s.GetCertificate(ctx, "f2")
		must(t, err)
		if c.Status != store.StatusValid {
			t.Errorf("f2 (upstream-pebble) after the keyCompromise revocation of f1: %s reason %d; want valid", c.Status, c.RevocationReason)
		}
	})
}

// TestFinishOrderKeyBlockedMeanwhile: on both engines, when the key of a
// certificate is blocked (a keyCompromise revocation of another
// certificate with it) after StartIssuanceKey checked it and before
// FinishOrder stores the certificate, FinishOrder still stores the
// certificate, revoked for keyCompromise at its time, makes the order
// invalid with a badPublicKey problem (no certificate), appends the
// issuance event and the revocation's (Cascade), and returns a
// *KeyBlockedError with that problem.
func TestFinishOrderKeyBlockedMeanwhile(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := e.Open(t)
		ctx := context.Background()
		a, o, _ := seed(t, s)
		k := testKey(t)
		must(t, s.InsertCertificates(ctx, []*store.Certificate{issuedCert(t, "old", k, 30)}))
		must(t, s.StartIssuanceKey(ctx, o.ID, "new", keyHash(t, k.Public()), now))
		must(t, s.RevokeCertificate(ctx, "old", acme.ReasonKeyCompromise, now))

		c := newCert("new", o.ID, a.ID)
		c.DER = certDER(t, k)
		done := now.Add(time.Second)
		issueEv, err := audit.New(s, nil).Prepare(ctx, audit.Event{Actor: "acme-account:" + a.ID, Action: audit.ActionCertificateIssue,
			ObjectType: audit.ObjectCertificate, ObjectID: "new",
			Cascade: func(old any) (*audit.Event, error) {
				return &audit.Event{Actor: audit.ActorSystem, Action: audit.ActionCertificateRevoke, ObjectType: audit.ObjectCertificate,
					ObjectID: old.(*store.Certificate).Serial}, nil
			}})
		must(t, err)
		err = s.FinishOrder(ctx, o.ID, c, done, issueEv)
		var kb *store.KeyBlockedError
		if !errors.As(err, &kb) || kb.Serial != "new" || kb.Key.Serial != "old" || kb.Problem == nil || kb.Problem.Type != acme.BadPublicKey {
			t.Fatalf("FinishOrder = %v; want a *KeyBlockedError for new, blocked by old, with a badPublicKey problem", err)
		}
		got, err := s.GetCertificate(ctx, "new")
		must(t, err)
		if got.Status != store.StatusRevoked || got.RevocationReason != acme.ReasonKeyCompromise || !got.RevokedAt.Equal(done) {
			t.Errorf("stored certificate = %s reason %d at %v; want revoked for keyCompromise at %v", got.Status, got.RevocationReason, got.RevokedAt, done)
		}
		ord, err := s.GetOrder(ctx, o.ID)
		must(t, err)
		if ord.Status != acme.StatusInvalid || ord.Error == nil || ord.Error.Type != acme.BadPublicKey || ord.CertSerial != "" {
			t.Errorf("order = %s, error %+v, certificate %q; want invalid with badPublicKey and no certificate", ord.Status, ord.Error, ord.CertSerial)
		}
		evs, err := s.ListAudit(ctx, store.AuditFilter{ObjectID: "new", Limit: 10})
		must(t, err)
		if len(evs) != 2 || evs[0].Action != audit.ActionCertificateIssue || evs[1].Action != audit.ActionCertificateRevoke {
			t.Errorf("audit events of new = %d; want its issuance, then its revocation", len(evs))
		}
		// A certificate of a key nobody blocked is stored valid.
		o2 := createOrder(t, s, a.ID, "ord2", newAuthz(a.ID, "az2", "b.example.test", false, acme.ChallengeHTTP01))
		k2 := testKey(t)
		must(t, s.StartIssuanceKey(ctx, o2.ID, "fresh", keyHash(t, k2.Public()), now))
		c2 := newCert("fresh", o2.ID, a.ID)
		c2.DER = certDER(t, k2)
		must(t, s.FinishOrder(ctx, o2.ID, c2, done))
		if got, err := s.GetCertificate(ctx, "fresh"); err != nil || got.Status != store.StatusValid || string(got.KeyHash) != string(keyHash(t, k2.Public())) {
			t.Errorf("certificate of an unblocked key = %+v, %v; want valid with its key hash", got, err)
		}
	})
}

// TestKeyCompromiseRaceFinishOrder: on PostgreSQL, two nodes (two stores,
// two connection pools) race a keyCompromise revocation of one certificate
// against FinishOrder of a new certificate with the same key, whose
// StartIssuanceKey passed before, many rounds. Whoever commits first, no
// round may end with the new certificate valid: either the revocation
// revoked it, or FinishOrder saw the block and stored it revoked.
func TestKeyCompromiseRaceFinishOrder(t *testing.T) {
	storetest.RequirePostgres(t)
	dsn := storetest.PostgresDSN(t)
	revoker, finisher := storetest.OpenDSN(t, dsn), storetest.OpenDSN(t, dsn)
	ctx := context.Background()
	a := createAccount(t, revoker, "acct1")
	const rounds = 60
	var blockedAtFinish, revokedByCascade int
	for i := range rounds {
		k := testKey(t)
		old, serial := fmt.Sprintf("old%d", i), fmt.Sprintf("new%d", i)
		must(t, revoker.InsertCertificates(ctx, []*store.Certificate{issuedCert(t, old, k, 30)}))
		o := createOrder(t, revoker, a.ID, fmt.Sprintf("ord%d", i), newAuthz(a.ID, fmt.Sprintf("az%d", i), "a.example.test", false, acme.ChallengeHTTP01))
		must(t, finisher.StartIssuanceKey(ctx, o.ID, serial, keyHash(t, k.Public()), now))
		c := newCert(serial, o.ID, a.ID)
		c.DER = certDER(t, k)

		var wg sync.WaitGroup
		var revokeErr, finishErr error
		start := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			revokeErr = revoker.RevokeCertificate(ctx, old, acme.ReasonKeyCompromise, now)
		}()
		go func() {
			defer wg.Done()
			<-start
			finishErr = finisher.FinishOrder(ctx, o.ID, c, now)
		}()
		close(start)
		wg.Wait()
		must(t, revokeErr)
		var kb *store.KeyBlockedError
		switch {
		case finishErr == nil:
			revokedByCascade++
		case errors.As(finishErr, &kb):
			blockedAtFinish++
		default:
			t.Fatalf("round %d: FinishOrder: %v", i, finishErr)
		}
		got, err := revoker.GetCertificate(ctx, serial)
		must(t, err)
		if got.Status != store.StatusRevoked || got.RevocationReason != acme.ReasonKeyCompromise {
			t.Fatalf("round %d: certificate %s with the blocked key is %s (FinishOrder: %v); want revoked for keyCompromise", i, serial, got.Status, finishErr)
		}
	}
	t.Logf("%d rounds: %d blocked at FinishOrder, %d revoked by the revocation", rounds, blockedAtFinish, revokedByCascade)
}

// TestKeyHashBackfill: on both engines, the Go migration 18 gives the
// certificates stored before it (key_hash NULL, as migration 00017 leaves
// them) the hash of their key: more rows than one batch, issued and
// imported ones alike; a row whose DER does not parse keeps none. The
// keyCompromise revocation then finds the key's other certificates.
func TestKeyHashBackfill(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		dsn := e.NewDSN(t)
		s, err := store.Open(ctx, dsn)
		must(t, err)
		keys := []*ecdsa.PrivateKey{testKey(t), testKey(t), testKey(t)}
		n := store.KeyHashBatch + 3
		certs := make([]*store.Certificate, 0, n+1)
		for i := range n {
			c := issuedCert(t, fmt.Sprintf("s%05d", i), keys[i%len(keys)], 30)
			if i%5 == 0 {
				c.Source = store.SourceImported
			}
			certs = append(certs, c)
		}
		certs = append(certs, invCert("garbage", 30, "g.example")) // DER "der-garbage"
		must(t, s.InsertCertificates(ctx, certs))
		must(t, store.ForgetKeyHashes(ctx, s))
		if c, err := s.GetCertificate(ctx, "s00001"); err != nil || c.KeyHash != nil {
			t.Fatalf("certificate after ForgetKeyHashes = %x, %v; want no key hash", c.KeyHash, err)
		}
		must(t, s.Close())

		s = storetest.OpenDSN(t, dsn) // applies migration 18
		for i := range n {
			serial := fmt.Sprintf("s%05d", i)
			c, err := s.GetCertificate(ctx, serial)
			must(t, err)
			if want := keyHash(t, keys[i%len(keys)].Public()); string(c.KeyHash) != string(want) {
				t.Fatalf("key hash of %s after the migration = %x, want %x", serial, c.KeyHash, want)
			}
		}
		if c, err := s.GetCertificate(ctx, "garbage"); err != nil || c.KeyHash != nil {
			t.Errorf("key hash of a record whose DER does not parse = %x, %v; want none", c.KeyHash, err)
		}
		must(t, s.RevokeCertificate(ctx, "s00001", acme.ReasonKeyCompromise, now))
		for _, serial := range []string{"s00004", "s00007"} { // same key, issued here
			if c, err := s.GetCertificate(ctx, serial); err != nil || c.Status != store.StatusRevoked {
				t.Errorf("%s after the keyCompromise revocation of s00001 = %+v, %v; want revoked", serial, c, err)
			}
		}
		if c, err := s.GetCertificate(ctx, "s00010"); err != nil || c.Status != store.StatusValid { // same key, imported
			t.Errorf("imported s00010 = %+v, %v; want valid", c, err)
		}
	})
}

// TestKeyCompromiseFindsCertificatesWithoutKeyHash: on both engines, a
// certificate stored without a key hash after migration 18 (by a node of
// an older certgate during a rolling upgrade) is still revoked with the
// other certificates of its key: the revocation fills in its hash first.
func TestKeyCompromiseFindsCertificatesWithoutKeyHash(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := e.Open(t)
		ctx := context.Background()
		k := testKey(t)
		must(t, s.InsertCertificates(ctx, []*store.Certificate{issuedCert(t, "a1", k, 30), issuedCert(t, "a2", k, 30),
			invCert("garbage", 30, "g.example")})) // a DER that does not parse: no hash, ever
		must(t, store.ClearKeyHash(ctx, s, "a2"))
		must(t, s.RevokeCertificate(ctx, "a1", acme.ReasonKeyCompromise, now))
		c, err := s.GetCertificate(ctx, "a2")
		must(t, err)
		if c.Status != store.StatusRevoked || c.RevocationReason != acme.ReasonKeyCompromise || string(c.KeyHash) != string(keyHash(t, k.Public())) {
			t.Errorf("a2 (stored without a key hash) = %s reason %d hash %x; want revoked for keyCompromise, with its hash", c.Status, c.RevocationReason, c.KeyHash)
		}
		if c, err := s.GetCertificate(ctx, "garbage"); err != nil || c.Status != store.StatusValid {
			t.Errorf("garbage = %+v, %v; want valid", c, err)
		}
	})
}
