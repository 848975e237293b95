package store_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// testKey returns a new P-256 key.
func testKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// certDER returns a self-signed certificate for key: the DER a
// certificate record must carry for a keyCompromise revocation to find
// its key.
func certDER(t testing.TB, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "blocked.example.test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), DNSNames: []string{"blocked.example.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// keyHash is store.KeyHash of pub, failing the test on error.
func keyHash(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	h, err := store.KeyHash(pub)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestBlockedKeys: on both engines, a revocation for keyCompromise blocks
// the certificate's public key in the revocation's transaction, whatever
// else happens:
//   - GetBlockedKey finds the key by its KeyHash with the revocation's
//     time, serial and reason; any other reason blocks nothing;
//   - a second keyCompromise revocation of another certificate with the
//     key keeps the first row;
//   - a keyCompromise revocation whose key cannot be read (a record with
//     a DER that is no certificate) fails as a whole: the certificate
//     stays valid, nothing is blocked;
//   - a certificate revoked for another reason can be revoked again for
//     keyCompromise: its reason changes, its revocation time stays, its
//     key is blocked; once revoked for keyCompromise, any further
//     revocation is stale;
//   - with an audit event (the path of ACME, the admin API and the CLI)
//     the key is blocked as well.
func TestBlockedKeys(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			if e.Name == store.EnginePostgres {
				storetest.RequirePostgres(t)
			}
			s := e.Open(t)
			ctx := context.Background()
			k1, k2, k3 := testKey(t), testKey(t), testKey(t)
			c1, c2, c3, c4 := invCert("c1", 30, "a.example"), invCert("c2", 30, "a.example"), invCert("c3", 30, "b.example"), invCert("c4", 30, "c.example")
			c1.DER, c2.DER, c3.DER, c4.DER = certDER(t, k1), certDER(t, k1), certDER(t, k2), certDER(t, k3)
			bad := invCert("bad", 30, "d.example") // DER "der-bad"
			must(t, s.InsertCertificates(ctx, []*store.Certificate{c1, c2, c3, c4, bad}))

			for _, k := range []*ecdsa.PrivateKey{k1, k2, k3} {
				_, err := s.GetBlockedKey(ctx, keyHash(t, k.Public()))
				wantErr(t, "key not revoked yet", err, store.ErrNotFound)
			}

			must(t, s.RevokeCertificate(ctx, "c3", 4, now)) // superseded
			_, err := s.GetBlockedKey(ctx, keyHash(t, k2.Public()))
			wantErr(t, "key of a certificate revoked as superseded", err, store.ErrNotFound)
			wantErr(t, "second revocation as superseded", s.RevokeCertificate(ctx, "c3", 4, now.Add(time.Hour)), store.ErrStale)
			// keyCompromise after superseded: the reason changes, the time stays, the key is blocked.
			must(t, s.RevokeCertificate(ctx, "c3", acme.ReasonKeyCompromise, now.Add(time.Hour)))
			if c, err := s.GetCertificate(ctx, "c3"); err != nil || c.Status != store.StatusRevoked || c.RevocationReason != acme.ReasonKeyCompromise || !c.RevokedAt.Equal(now) {
				t.Errorf("c3 after keyCompromise = %+v, %v; want revoked at %v for keyCompromise", c, err, now)
			}
			if b, err := s.GetBlockedKey(ctx, keyHash(t, k2.Public())); err != nil || b.Serial != "c3" || !b.BlockedAt.Equal(now.Add(time.Hour)) {
				t.Errorf("key of c3 after keyCompromise = %+v, %v; want blocked by c3 at the second revocation", b, err)
			} else if d := store.BlockedKeyProblem(b, "the key").Detail; !strings.Contains(d, "is blocked since "+now.Add(time.Hour).UTC().Format(time.RFC3339)+": certificate c3 with this key is revoked for keyCompromise") {
				// It said "was revoked for keyCompromise on" the block's
				// time, which is not c3's revocation time.
				t.Errorf("blocked key problem %q: want the block's time named as such", d)
			}
			wantErr(t, "keyCompromise revocation of a certificate revoked for keyCompromise", s.RevokeCertificate(ctx, "c3", acme.ReasonKeyCompromise, now), store.ErrStale)
			wantErr(t, "superseded after keyCompromise", s.RevokeCertificate(ctx, "c3", 4, now), store.ErrStale)

			at := now.Add(time.Minute)
			must(t, s.RevokeCertificate(ctx, "c1", acme.ReasonKeyCompromise, at))
			b, err := s.GetBlockedKey(ctx, keyHash(t, k1.Public()))
			must(t, err)
			if !bytes.Equal(b.SPKISHA256, keyHash(t, k1.Public())) || !b.BlockedAt.Equal(at) || b.Serial != "c1" || b.Reason != acme.ReasonKeyCompromise {
				t.Errorf("blocked key = %+v; want c1's key at %v, reason 1", b, at)
			}
			must(t, s.RevokeCertificate(ctx, "c2", acme.ReasonKeyCompromise, at.Add(time.Minute)))
			if b, err := s.GetBlockedKey(ctx, keyHash(t, k1.Public())); err != nil || b.Serial != "c1" || !b.BlockedAt.Equal(at) {
				t.Errorf("blocked key after a second revocation = %+v, %v; want the first (c1)", b, err)
			}

			if err := s.RevokeCertificate(ctx, "bad", acme.ReasonKeyCompromise, at); err == nil {
				t.Error("keyCompromise revocation of a certificate whose key cannot be read succeeded")
			}
			if c, err := s.GetCertificate(ctx, "bad"); err != nil || c.Status != store.StatusValid {
				t.Errorf("certificate after the failed revocation = %+v, %v; want valid (rolled back)", c, err)
			}

			var before *store.Certificate
			must(t, s.RevokeCertificate(ctx, "c4", acme.ReasonKeyCompromise, at, replacedEvent(t, s, &before)))
			if before == nil || before.Status != store.StatusValid {
				t.Errorf("audit hook got %+v, want valid c4", before)
			}
			if b, err := s.GetBlockedKey(ctx, keyHash(t, k3.Public())); err != nil || b.Serial != "c4" {
				t.Errorf("key of c4, revoked with an audit event = %+v, %v; want blocked by c4", b, err)
			}
			if c, err := s.GetCertificate(ctx, "c4"); err != nil || c.Status != store.StatusRevoked || c.RevocationReason != acme.ReasonKeyCompromise {
				t.Errorf("c4 = %+v, %v; want revoked for keyCompromise", c, err)
			}
		})
	}
}

// TestStartIssuanceKeyBlocked: on both engines StartIssuanceKey refuses a
// blocked key with a *KeyBlockedError naming the revocation and changes
// nothing (the order stays pending, the serial is not reserved); with a
// key that is not blocked, or no key, it starts the issuance.
func TestStartIssuanceKeyBlocked(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := e.Open(t)
		ctx := context.Background()
		a, o, _ := seed(t, s)
		k := testKey(t)
		c := invCert("kc", 30, "a.example")
		c.DER = certDER(t, k)
		must(t, s.InsertCertificates(ctx, []*store.Certificate{c}))
		must(t, s.RevokeCertificate(ctx, "kc", acme.ReasonKeyCompromise, now))

		err := s.StartIssuanceKey(ctx, o.ID, "s1", keyHash(t, k.Public()), now)
		var kb *store.KeyBlockedError
		if !errors.As(err, &kb) || kb.Key.Serial != "kc" || kb.Key.Reason != acme.ReasonKeyCompromise {
			t.Fatalf("StartIssuanceKey(blocked key) = %v, want a *KeyBlockedError by kc", err)
		}
		if got, err := s.GetOrder(ctx, o.ID); err != nil || got.Status != acme.StatusPending {
			t.Fatalf("order after the refusal = %+v, %v; want pending", got, err)
		}
		must(t, s.ReserveSerial(ctx, "s1", now)) // not reserved by the refused call

		must(t, s.StartIssuanceKey(ctx, o.ID, "s2", keyHash(t, testKey(t).Public()), now))
		o2 := createOrder(t, s, a.ID, "ord2", newAuthz(a.ID, "az2", "b.example.test", false, acme.ChallengeHTTP01))
		must(t, s.StartIssuanceKey(ctx, o2.ID, "s3", nil, now))
	})
}
