package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestKeyCompromiseCascadeReachesOCSP: a keyCompromise revocation through
// the RA calls OnRevoke (the OCSP responder's Invalidate) with the serial
// of every other certificate of the key that the store revoked with it,
// with an audit log and without one (Config.Audit nil "records nothing");
// the former code learned those serials only from the audit events, so
// without an audit log OCSP kept answering "good" for them until
// revocation-refresh.
func TestKeyCompromiseCascadeReachesOCSP(t *testing.T) {
	for _, withAudit := range []bool{true, false} {
		t.Run(fmt.Sprintf("audit=%v", withAudit), func(t *testing.T) {
			ctx := context.Background()
			st := storetest.OpenSQLite(t)
			now := time.Now().UTC()
			insertKeyCerts(t, st, now, "c01", "c02", "c03")
			var invalidated []string
			cfg := Config{OnRevoke: func(serial string) { invalidated = append(invalidated, serial) }}
			if withAudit {
				cfg.Audit = audit.New(st, nil)
			}
			r := New(cfg, st, nopVA{}, nil, nil, slog.New(slog.DiscardHandler))
			defer r.Shutdown(ctx)
			rev, err := r.RevokeSerial(ctx, "c02", acme.ReasonKeyCompromise, "cli:test")
			if err != nil {
				t.Fatal(err)
			}
			with := rev.RevokedWith
			if !slices.Equal(with, []string{"c01", "c03"}) {
				t.Errorf("RevokeSerial names %v as revoked with c02, want [c01 c03]", with)
			}
			for _, serial := range []string{"c01", "c02", "c03"} {
				c, err := st.GetCertificate(ctx, serial)
				if err != nil {
					t.Fatal(err)
				}
				if c.Status != store.StatusRevoked || c.RevocationReason != acme.ReasonKeyCompromise {
					t.Fatalf("%s after the keyCompromise revocation of c02: %s, reason %d; want revoked for keyCompromise", serial, c.Status, c.RevocationReason)
				}
				if !slices.Contains(invalidated, serial) {
					t.Errorf("OnRevoke got %v: not %s, revoked for keyCompromise", invalidated, serial)
				}
			}
		})
	}
}

// insertKeyCerts stores certificates the built-in CA issued (issuer local)
// with serials, all with one new key, valid from an hour before now for a
// day.
func insertKeyCerts(t *testing.T, st *store.Store, now time.Time, serials ...string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var certs []*store.Certificate
	for i, serial := range serials {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(0xc01 + i)), Subject: pkix.Name{CommonName: serial + ".example.test"},
			DNSNames: []string{serial + ".example.test"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, certKey.Public(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, &store.Certificate{Serial: serial, Issuer: "local", DER: der, ChainPEM: "chain", SANs: tmpl.DNSNames,
			KeyType: "ECDSA P-256", FingerprintSHA256: "fp-" + serial, NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter,
			Status: acme.StatusValid, CreatedAt: now, Source: store.SourceIssued})
	}
	if err := st.InsertCertificates(context.Background(), certs); err != nil {
		t.Fatal(err)
	}
}

// TestKeyCompromiseCascadeUpdatesReason: a keyCompromise revocation through
// the RA of one certificate of a key changes the reason of the key's
// certificate revoked before as superseded to keyCompromise (CA/B Forum
// BR §7.2.2), keeping its revocation time: RevokeSerial names it with the
// others, OnRevoke (OCSP) drops its cached answer, the RA's CRL lists it
// as keyCompromise, and its audit event (in the revocation's transaction)
// shows the reason changed and the time kept. The former code left it
// superseded.
func TestKeyCompromiseCascadeUpdatesReason(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	now := time.Now().UTC().Truncate(time.Second)
	insertKeyCerts(t, st, now, "c01", "c02", "c03")
	var invalidated []string
	clock := now.Add(-time.Minute)
	r := New(Config{Audit: audit.New(st, nil), OnRevoke: func(serial string) { invalidated = append(invalidated, serial) }},
		st, nopVA{}, nil, func() time.Time { return clock }, slog.New(slog.DiscardHandler))
	defer r.Shutdown(ctx)
	if _, err := r.RevokeSerial(ctx, "c03", 4, "cli:test"); err != nil { // superseded
		t.Fatal(err)
	}
	clock = now
	invalidated = nil
	rev, err := r.RevokeSerial(ctx, "c02", acme.ReasonKeyCompromise, "cli:test")
	if err != nil {
		t.Fatal(err)
	}
	with := rev.RevokedWith
	if !slices.Equal(with, []string{"c01", "c03"}) {
		t.Errorf("RevokeSerial names %v as revoked with c02, want [c01 c03]", with)
	}
	if !slices.Contains(invalidated, "c03") {
		t.Errorf("OnRevoke got %v: not c03, whose reason became keyCompromise", invalidated)
	}
	c, err := st.GetCertificate(ctx, "c03")
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != store.StatusRevoked || c.RevocationReason != acme.ReasonKeyCompromise || !c.RevokedAt.Equal(now.Add(-time.Minute)) {
		t.Errorf("c03 = %s reason %d at %v; want keyCompromise at its first revocation's time %v", c.Status, c.RevocationReason, c.RevokedAt, now.Add(-time.Minute))
	}
	entries, err := st.RevokedCertificates(ctx, "local", "", now)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Reason != acme.ReasonKeyCompromise {
			t.Errorf("CRL entry %s has reason %d; want keyCompromise", e.Serial, e.Reason)
		}
	}
	evs, err := st.ListAudit(ctx, store.AuditFilter{ObjectID: "c03", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("%d audit events of c03; want its revocation as superseded and the change to keyCompromise", len(evs))
	}
	var before, after audit.Certificate
	if err := errors.Join(json.Unmarshal([]byte(evs[1].Before), &before), json.Unmarshal([]byte(evs[1].After), &after)); err != nil {
		t.Fatal(err)
	}
	if before.RevocationReason != 4 || after.RevocationReason != acme.ReasonKeyCompromise || !after.RevokedAt.Equal(before.RevokedAt) ||
		!after.RevokedAt.Equal(now.Add(-time.Minute)) {
		t.Errorf("audit event of c03's change: before %+v, after %+v; want reason 4 → 1, revocation time kept", before, after)
	}
}
