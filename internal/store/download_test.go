package store_test

import (
	"context"
	"testing"

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
