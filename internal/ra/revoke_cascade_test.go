package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
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
			st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			now := time.Now().UTC()
			caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			var certs []*store.Certificate
			for i, serial := range []string{"c01", "c02", "c03"} {
				tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(0xc01 + i)), Subject: pkix.Name{CommonName: serial + ".example.test"},
					DNSNames: []string{serial + ".example.test"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}
				der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, certKey.Public(), caKey)
				if err != nil {
					t.Fatal(err)
				}
				certs = append(certs, &store.Certificate{Serial: serial, Issuer: "test", DER: der, ChainPEM: "chain", SANs: tmpl.DNSNames,
					KeyType: "ECDSA P-256", FingerprintSHA256: "fp-" + serial, NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter,
					Status: acme.StatusValid, CreatedAt: now, Source: store.SourceIssued})
			}
			if err := st.InsertCertificates(ctx, certs); err != nil {
				t.Fatal(err)
			}
			var invalidated []string
			cfg := Config{OnRevoke: func(serial string) { invalidated = append(invalidated, serial) }}
			if withAudit {
				cfg.Audit = audit.New(st, nil)
			}
			r := New(cfg, st, nopVA{}, nil, nil, slog.New(slog.DiscardHandler))
			defer r.Shutdown(ctx)
			_, with, err := r.RevokeSerial(ctx, "c02", acme.ReasonKeyCompromise, "cli:test")
			if err != nil {
				t.Fatal(err)
			}
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
