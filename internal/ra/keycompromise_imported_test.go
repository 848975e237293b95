package ra_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/ocspresponder"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestKeyCompromiseRevokesImportedOfThisCA: on both engines, a
// keyCompromise revocation of a certificate issued here also revokes, for
// keyCompromise, the certificates with the same key that this CA's
// intermediate signed and that entered the inventory by import (CA/B Forum
// BR §4.9.1.1: every certificate of the CA with the key), so that the CRL
// and OCSP say keyCompromise for them; RevokedWith names them. A
// certificate with the key that another key signed under this CA's name,
// and one of another CA, stay valid in the inventory (only their CA can
// revoke them) and off the CRL; OtherCAs names them (the admin API's
// other_cas; before, only the server log did). The former code revoked
// only certificates of source "issued": the imported one of this CA
// stayed good.
func TestKeyCompromiseRevokesImportedOfThisCA(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		iss, reg := crlIssuer(t, st, t.TempDir())
		now := time.Now().UTC().Truncate(time.Second)
		clock := func() time.Time { return now }
		inter := iss.CA.Intermediate()
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}

		issued := signedLeafKey(t, iss.CA, "kc-issued.example.test", now, key.Public())
		rec := inventory.Record(issued, "", store.SourceIssued)
		rec.Issuer = iss.Name()
		if err := st.InsertCertificates(ctx, []*store.Certificate{rec}); err != nil {
			t.Fatal(err)
		}
		ours := signedLeafKey(t, iss.CA, "kc-restored.example.test", now, key.Public())
		impostor := impostorLeafKey(t, inter, "kc-impostor.example.test", now, key)
		inv := inventory.New(st, clock)
		for _, c := range []*x509.Certificate{ours, impostor} {
			res, err := inv.ImportCertificates(ctx, []*x509.Certificate{c})
			if err != nil || len(res.Imported) != 1 {
				t.Fatalf("import %s: %+v, %v", c.Subject.CommonName, res, err)
			}
		}

		r := ra.New(ra.Config{Profiles: reg, CRLRefresh: time.Minute}, st, nil, iss, clock, slog.New(slog.DiscardHandler))
		t.Cleanup(func() { r.Shutdown(ctx) })
		rev, err := r.RevokeSerial(ctx, issued.SerialNumber.Text(16), acme.ReasonKeyCompromise, "test")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{ours.SerialNumber.Text(16)}; !slices.Equal(rev.RevokedWith, want) {
			t.Errorf("revoked with %v, want %v (the imported certificate of this CA)", rev.RevokedWith, want)
		}
		other, err := inv.Get(ctx, impostor.SerialNumber.Text(16))
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{other.Serial}; !slices.Equal(rev.OtherCAs, want) {
			t.Errorf("other CAs' certificates %v, want %v (the one another key signed)", rev.OtherCAs, want)
		}
		if rev.Certificate == nil || rev.Certificate.Status != store.StatusRevoked || rev.Certificate.RevocationReason != acme.ReasonKeyCompromise {
			t.Errorf("revoked certificate %+v, want revoked for keyCompromise", rev.Certificate)
		}
		for c, want := range map[*x509.Certificate]string{ours: store.StatusRevoked, impostor: store.StatusValid} {
			got, err := inv.Get(ctx, c.SerialNumber.Text(16))
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != want || (want == store.StatusRevoked && got.RevocationReason != "keyCompromise") {
				t.Errorf("%s after the keyCompromise revocation: %s (%s), want %s", c.Subject.CommonName, got.Status, got.RevocationReason, want)
			}
		}

		listed := crlReasons(t, r)
		want := map[string]int{issued.SerialNumber.Text(16): acme.ReasonKeyCompromise, ours.SerialNumber.Text(16): acme.ReasonKeyCompromise}
		if !mapsEqual(listed, want) {
			t.Errorf("CRL entries %v, want %v", listed, want)
		}
		resp, err := ocspresponder.New(ocspresponder.Config{Path: "/ocsp", IssuerName: iss.Name(), Now: clock}, iss, st, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := askOCSP(t, resp, ours, inter); err != nil || got.Status != ocsp.Revoked || got.RevocationReason != ocsp.KeyCompromise {
			t.Errorf("imported certificate of this CA: OCSP %v, %v; want revoked for keyCompromise", ocspStatus(got), err)
		}
		var re ocsp.ResponseError
		if got, err := askOCSP(t, resp, impostor, inter); !errors.As(err, &re) || re.Status != ocsp.Unauthorized {
			t.Errorf("certificate of another key with this CA's name: OCSP %v, %v; want unauthorized", ocspStatus(got), err)
		}
	})
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// impostorLeafKey is impostorLeaf for the public key of key.
func impostorLeafKey(t *testing.T, inter *x509.Certificate, name string, now time.Time, key crypto.Signer) *x509.Certificate {
	t.Helper()
	return impostorLeafWith(t, inter, name, now, key.Public())
}

// ocspStatus is the status and reason of resp for a test's message.
func ocspStatus(resp *ocsp.Response) string {
	if resp == nil {
		return "none"
	}
	return fmt.Sprintf("status %d reason %d", resp.Status, resp.RevocationReason)
}
