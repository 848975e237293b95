package store_test

import (
	"context"
	"encoding/pem"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestCertificateChain: the download read returns the account and chain of
// an issued certificate, "" as the account of an imported one, and
// ErrNotFound for an unknown serial, on both engines.
func TestCertificateChain(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, o, _ := seed(t, s)
		issued := issue(t, s, o.ID, a.ID, "ab01")
		acct, chain, err := s.CertificateChain(ctx, "ab01")
		must(t, err)
		if acct != a.ID || chain != issued.ChainPEM {
			t.Fatalf("issued: account %q, chain %q; want %q, %q", acct, chain, a.ID, issued.ChainPEM)
		}
		c := invCert("c1", 30, "chain.example")
		must(t, s.InsertCertificates(ctx, []*store.Certificate{c}))
		acct, chain, err = s.CertificateChain(ctx, "c1")
		must(t, err)
		if acct != "" || chain != "pem-c1" {
			t.Fatalf("imported: account %q, chain %q; want \"\", %q", acct, chain, "pem-c1")
		}
		_, _, err = s.CertificateChain(ctx, "none")
		wantErr(t, "unknown serial", err, store.ErrNotFound)
	})
}

// TestCertificateChainRecent: a certificate this Store just issued is
// downloaded from memory (recentcerts.go) with exactly what a store
// without that memory reads from the database, for a chain stored whole
// and for one stored as a reference to its issuer chain; a FinishOrder
// that fails leaves nothing to download. Both engines.
func TestCertificateChainRecent(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			if e.Name == store.EnginePostgres {
				storetest.RequirePostgres(t)
			}
			ctx := context.Background()
			dsn := e.NewDSN(t)
			s := storetest.OpenDSN(t, dsn)
			a, o, _ := seed(t, s)
			whole := issue(t, s, o.ID, a.ID, "ab01")
			o2 := createOrder(t, s, a.ID, "ord2", newAuthz(a.ID, "az2", "b.example.test", false, acme.ChallengeHTTP01))
			must(t, s.SetOrderStatus(ctx, o2.ID, acme.StatusPending, acme.StatusProcessing, nil, now))
			must(t, s.ReserveSerial(ctx, "ab02", now))
			ref := newCert("ab02", o2.ID, a.ID)
			ref.FingerprintSHA256 = "fp-ab02"
			ref.ChainPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ref.DER})) +
				string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x01, 0x02}}))
			must(t, s.FinishOrder(ctx, o2.ID, ref, now))
			// The order is no longer processing: this FinishOrder fails.
			failed := newCert("ab03", o2.ID, a.ID)
			failed.FingerprintSHA256 = "fp-ab03"
			must(t, s.ReserveSerial(ctx, "ab03", now))
			wantErr(t, "FinishOrder of a finished order", s.FinishOrder(ctx, o2.ID, failed, now), store.ErrStale)

			fresh := storetest.OpenDSN(t, dsn) // reads the database
			for _, c := range []*store.Certificate{whole, ref} {
				acct, chain, err := s.CertificateChain(ctx, c.Serial)
				must(t, err)
				dbAcct, dbChain, err := fresh.CertificateChain(ctx, c.Serial)
				must(t, err)
				if acct != dbAcct || chain != dbChain || acct != a.ID || chain != c.ChainPEM {
					t.Fatalf("%s: from memory %q, %q; from the database %q, %q; issued %q, %q", c.Serial, acct, chain, dbAcct, dbChain, a.ID, c.ChainPEM)
				}
			}
			_, _, err := s.CertificateChain(ctx, "ab03")
			wantErr(t, "certificate of a failed FinishOrder", err, store.ErrNotFound)
		})
	}
}
