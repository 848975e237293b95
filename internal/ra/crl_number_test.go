package ra_test

import (
	"context"
	"crypto/x509"
	"log/slog"
	"math/big"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// crlIssuer is a built-in CA in dir/ca (CRL URL http://ca.example.test/pki/crl)
// as an issuer, and the profile registry of st with the default profile,
// for the CRL tests.
func crlIssuer(t *testing.T, st *store.Store, dir string) (*local.Issuer, *policy.Registry) {
	t.Helper()
	ca, err := local.LoadOrCreate(filepath.Join(dir, "ca"), local.Options{CRLURL: "http://ca.example.test/pki/crl"})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := policy.NewRegistry(st, ra.DefaultProfile(90*24*time.Hour, 0, false, false), time.Nanosecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &local.Issuer{CA: ca, CRLURL: "http://ca.example.test/pki/crl"}, reg
}

// insertIssuedRecord stores a valid certificate record of iss with serial
// (lower-case hex) for name, valid from an hour before now for 30 days;
// its DER is a placeholder (the CRL lists serials only).
func insertIssuedRecord(t *testing.T, st *store.Store, iss *local.Issuer, serial, name string, now time.Time) {
	t.Helper()
	if err := st.InsertCertificates(context.Background(), []*store.Certificate{{Serial: serial, Issuer: iss.Name(), DER: []byte("der-" + serial), SANs: []string{name},
		KeyType: "ECDSA P-256", FingerprintSHA256: "fp-" + serial, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		Status: acme.StatusValid, CreatedAt: now, Source: store.SourceIssued}}); err != nil {
		t.Fatal(err)
	}
}

// TestCRLNumberIncreasesWhenClockStepsBack: every CRL signed for an issuer
// has a greater cRLNumber than the one before (RFC 5280 §5.2.3: a
// monotonically increasing sequence number), also after a restart whose
// clock is behind the previous run's, and between nodes of one database
// whose clocks differ. Each RA here is such a restart (or node), with its
// own cache, over the same database and CA.
func TestCRLNumberIncreasesWhenClockStepsBack(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := storetest.OpenSQLite(t)
	iss, reg := crlIssuer(t, st, dir)
	number := func(at time.Time) *big.Int {
		t.Helper()
		r := ra.New(ra.Config{Profiles: reg}, st, nil, iss, func() time.Time { return at }, slog.New(slog.DiscardHandler))
		defer r.Shutdown(ctx)
		der, err := r.CRL(ctx)
		if err != nil {
			t.Fatal(err)
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		return crl.Number
	}
	now := time.Now()
	prev := number(now)
	for _, at := range []time.Time{now.Add(-time.Hour), now.Add(-time.Hour), now, now.Add(time.Hour)} {
		n := number(at)
		if n.Cmp(prev) <= 0 {
			t.Errorf("CRL signed at %s has number %s, not above the previous CRL's %s", at.Format(time.RFC3339), n, prev)
		}
		prev = n
	}
}

// crlRaceStore is a store through which, right after an RA's first read
// for a CRL, between (the former code) reading the revoked certificates
// and taking the CRL's number, another node revokes a certificate and
// signs its CRL (between, once).
type crlRaceStore struct {
	*store.Store
	between func()
	once    sync.Once
}

func (s *crlRaceStore) RevokedCertificates(ctx context.Context, issuer, issuerDN string, notAfter time.Time) ([]store.RevokedEntry, error) {
	r, err := s.Store.RevokedCertificates(ctx, issuer, issuerDN, notAfter)
	s.once.Do(s.between)
	return r, err
}

func (s *crlRaceStore) CRLContents(ctx context.Context, issuer, issuerDN string, notAfter time.Time, atLeast int64) (int64, []store.RevokedEntry, error) {
	n, r, err := s.Store.CRLContents(ctx, issuer, issuerDN, notAfter, atLeast)
	s.once.Do(s.between)
	return n, r, err
}

// TestCRLGreaterNumberListsNoLess: on both engines, when node B revokes a
// certificate and signs a CRL while node A is signing one, the CRL with
// the greater number lists every certificate the other lists (RFC 5280
// §5.2.3: a relying party takes the greater number for the newer CRL).
// The former code read the revoked certificates before taking the number,
// so A's CRL got the greater number without B's revocation.
func TestCRLGreaterNumberListsNoLess(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		iss, reg := crlIssuer(t, st, t.TempDir())
		now := time.Now()
		insertIssuedRecord(t, st, iss, "0b1d", "b.example.test", now)
		newRA := func(s ra.Store) *ra.RA {
			r := ra.New(ra.Config{Profiles: reg}, s, nil, iss, func() time.Time { return now }, slog.New(slog.DiscardHandler))
			t.Cleanup(func() { r.Shutdown(ctx) })
			return r
		}
		parse := func(der []byte, err error) *x509.RevocationList {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			crl, err := x509.ParseRevocationList(der)
			if err != nil {
				t.Fatal(err)
			}
			return crl
		}
		const superseded = 4 // RFC 5280 §5.3.1
		nodeB := newRA(st)
		var crlB *x509.RevocationList
		race := &crlRaceStore{Store: st, between: func() {
			if err := st.RevokeCertificate(ctx, "0b1d", superseded, now); err != nil {
				t.Fatal(err)
			}
			crlB = parse(nodeB.CRL(ctx))
		}}
		crlA := parse(newRA(race).CRL(ctx))
		newer, older, name := crlA, crlB, "A's"
		if crlB.Number.Cmp(crlA.Number) > 0 {
			newer, older, name = crlB, crlA, "B's"
		}
		listed := map[string]bool{}
		for _, e := range newer.RevokedCertificateEntries {
			listed[e.SerialNumber.Text(16)] = true
		}
		for _, e := range older.RevokedCertificateEntries {
			if !listed[e.SerialNumber.Text(16)] {
				t.Errorf("%s CRL, number %s, does not list %x, which the CRL numbered %s lists", name, newer.Number, e.SerialNumber, older.Number)
			}
		}
	})
}
