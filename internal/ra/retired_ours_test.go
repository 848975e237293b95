package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestImportedCertificateOfRetiredIntermediateIsThisCAs: after a rotation
// (local.Rotate), a certificate that the retired intermediate signed and
// that entered the inventory by import is still this CA's, on both
// engines: ACME revokeCert signed with its key revokes it (the former code
// answered 404, "this server's CA did not issue that certificate"); a
// keyCompromise revocation of a certificate of the current intermediate
// revokes it with the key's (the former code left it valid and named it
// among other CAs' certificates); an administrator's revocation of one is
// not "inventory only" (the former code said it was); and the retired
// intermediate's CRL lists them.
func TestImportedCertificateOfRetiredIntermediateIsThisCAs(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		dir := t.TempDir()
		iss, reg := crlIssuer(t, st, dir)
		now := time.Now().UTC().Truncate(time.Second)
		clock := func() time.Time { return now }
		key := func() *ecdsa.PrivateKey {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		shared, own := key(), key()
		// Signed by the intermediate that is retired below.
		oldShared := signedLeafKey(t, iss.CA, "old-shared.example.test", now, shared.Public())
		oldOwn := signedLeafKey(t, iss.CA, "old-own.example.test", now, own.Public())
		oldOther := signedLeaf(t, iss.CA, "old-other.example.test", now)
		if _, _, err := local.Rotate(filepath.Join(dir, "ca"), local.RotateOptions{}); err != nil {
			t.Fatal(err)
		}
		ca, err := local.LoadOrCreate(filepath.Join(dir, "ca"), local.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ca.Retired()) != 1 {
			t.Fatalf("%d retired intermediates, want 1", len(ca.Retired()))
		}
		retired := &local.Issuer{CA: ca.Retired()[0]}
		cur := &local.Issuer{CA: ca, CRLURL: iss.CRLURL}
		newShared := signedLeafKey(t, ca, "new-shared.example.test", now, shared.Public())
		inv := inventory.New(st, clock)
		for _, c := range []*x509.Certificate{oldShared, oldOwn, oldOther, newShared} {
			if res, err := inv.ImportCertificates(ctx, []*x509.Certificate{c}); err != nil || len(res.Imported) != 1 {
				t.Fatalf("import %s: %+v, %v", c.Subject.CommonName, res, err)
			}
		}
		r := ra.New(ra.Config{Profiles: reg, CRLRefresh: time.Minute, RetiredCRLSigners: []issuer.CRLSigner{retired}}, st, nil, cur, clock, slog.New(slog.DiscardHandler))
		t.Cleanup(func() { r.Shutdown(ctx) })

		if err := r.Revoke(ctx, ra.RevokeRequest{CertDER: oldOwn.Raw, CertKey: own.Public()}); err != nil {
			t.Errorf("ACME revocation of an imported certificate of the retired intermediate, signed with its key: %v", err)
		}
		rev, err := r.RevokeSerial(ctx, newShared.SerialNumber.Text(16), acme.ReasonKeyCompromise, "test")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rev.RevokedWith, []string{oldShared.SerialNumber.Text(16)}) || len(rev.OtherCAs) != 0 {
			t.Errorf("keyCompromise: revoked with it %v, other CAs' %v; want the retired intermediate's certificate of the key revoked with it, none of other CAs",
				rev.RevokedWith, rev.OtherCAs)
		}
		if rev.InventoryOnly {
			t.Error("revocation of an imported certificate of the current intermediate: inventory_only")
		}
		rev, err = r.RevokeSerial(ctx, oldOther.SerialNumber.Text(16), ocsp.Superseded, "test")
		if err != nil {
			t.Fatal(err)
		}
		if rev.InventoryOnly {
			t.Error("revocation of an imported certificate of the retired intermediate: inventory_only, want false (it is this CA's, on its CRL)")
		}
		crl, err := r.CRLOf(ctx, retired)
		if err != nil {
			t.Fatal(err)
		}
		list, err := x509.ParseRevocationList(crl.DER)
		if err != nil {
			t.Fatal(err)
		}
		listed := map[string]int{}
		for _, e := range list.RevokedCertificateEntries {
			listed[e.SerialNumber.Text(16)] = e.ReasonCode
		}
		for _, c := range []*x509.Certificate{oldShared, oldOwn, oldOther} {
			if _, ok := listed[c.SerialNumber.Text(16)]; !ok {
				t.Errorf("the retired intermediate's CRL does not list %s: %v", c.Subject.CommonName, listed)
			}
		}
		if reason := listed[oldShared.SerialNumber.Text(16)]; reason != acme.ReasonKeyCompromise {
			t.Errorf("retired intermediate's certificate of the compromised key: CRL reason %d, want keyCompromise", reason)
		}
	})
}

// TestInventoryWithCAKeepsRetiredIntermediates: inventory.Service.WithCA
// with the CA's intermediates (what `certgate cert revoke --reason
// keyCompromise` passes, local.ReadIntermediates) revokes an imported
// certificate of the key that a retired intermediate signed; the former
// code took the current intermediate alone and left it valid.
func TestInventoryWithCAKeepsRetiredIntermediates(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		dir := t.TempDir()
		iss, _ := crlIssuer(t, st, dir)
		now := time.Now().UTC().Truncate(time.Second)
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		old := signedLeafKey(t, iss.CA, "old.example.test", now, k.Public())
		if _, _, err := local.Rotate(filepath.Join(dir, "ca"), local.RotateOptions{}); err != nil {
			t.Fatal(err)
		}
		ca, err := local.LoadOrCreate(filepath.Join(dir, "ca"), local.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cur := signedLeafKey(t, ca, "new.example.test", now, k.Public())
		inv := inventory.New(st, func() time.Time { return now })
		if _, err := inv.ImportCertificates(ctx, []*x509.Certificate{old, cur}); err != nil {
			t.Fatal(err)
		}
		inters, err := local.ReadIntermediates(filepath.Join(dir, "ca"))
		if err != nil {
			t.Fatal(err)
		}
		if len(inters) != 2 || !inters[0].Equal(ca.Intermediate()) {
			t.Fatalf("ReadIntermediates: %d certificates, want the current one first and the retired one", len(inters))
		}
		res, err := inv.WithCA(inters...).Revoke(ctx, cur.SerialNumber.Text(16), acme.ReasonKeyCompromise)
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.GetCertificate(ctx, old.SerialNumber.Text(16))
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != store.StatusRevoked || got.RevocationReason != acme.ReasonKeyCompromise || len(res.OtherCAs) != 0 {
			t.Errorf("the retired intermediate's certificate of the key: %s (reason %d), other CAs' %v; want it revoked for keyCompromise, none of other CAs",
				got.Status, got.RevocationReason, res.OtherCAs)
		}
	})
}
