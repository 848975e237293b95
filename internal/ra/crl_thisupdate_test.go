package ra_test

import (
	"context"
	"crypto/x509"
	"log/slog"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestCRLThisUpdateNotBeforeRevocation: a node whose clock runs behind
// another's (one PostgreSQL database, two nodes) signs a CRL listing a
// revocation the other node recorded at its own, later, time. The CRL's
// thisUpdate must not precede any revocation time it lists (a CRL cannot
// be issued before the revocation it reports), and nextUpdate is one CRL
// validity after that thisUpdate.
func TestCRLThisUpdateNotBeforeRevocation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := storetest.OpenSQLite(t)
	iss, reg := crlIssuer(t, st, dir)
	slow := time.Now().UTC().Truncate(time.Second)
	ahead := slow.Add(7 * time.Minute) // the other node's clock
	insertIssuedRecord(t, st, iss, "0c1a", "clock.example.test", slow)
	if err := st.RevokeCertificate(ctx, "0c1a", 4, ahead); err != nil {
		t.Fatal(err)
	}
	const validity = 24 * time.Hour
	r := ra.New(ra.Config{Profiles: reg, CRLValidity: validity}, st, nil, iss, func() time.Time { return slow }, slog.New(slog.DiscardHandler))
	defer r.Shutdown(ctx)
	c, err := r.CurrentCRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(c.DER)
	if err != nil {
		t.Fatal(err)
	}
	if len(crl.RevokedCertificateEntries) != 1 {
		t.Fatalf("CRL lists %d entries, want 1", len(crl.RevokedCertificateEntries))
	}
	revokedAt := crl.RevokedCertificateEntries[0].RevocationTime
	if !revokedAt.Equal(ahead) {
		t.Fatalf("revocationTime %v, want %v", revokedAt, ahead)
	}
	if crl.ThisUpdate.Before(revokedAt) {
		t.Errorf("thisUpdate %v precedes the revocation it lists (%v)", crl.ThisUpdate, revokedAt)
	}
	if !crl.NextUpdate.After(revokedAt) || !crl.NextUpdate.Equal(crl.ThisUpdate.Add(validity)) {
		t.Errorf("nextUpdate %v, want thisUpdate (%v) + %v", crl.NextUpdate, crl.ThisUpdate, validity)
	}
	if !c.ThisUpdate.Equal(crl.ThisUpdate) {
		t.Errorf("SignedCRL.ThisUpdate %v, the CRL's thisUpdate %v", c.ThisUpdate, crl.ThisUpdate)
	}
}
