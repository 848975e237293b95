package adminapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store"
)

// upstreamCertificate stores a certificate issued through the upstream CA
// upstream-pebble (source issued under its name, as the RA stores one) for
// the public key of key, and returns its record.
func (f *fixture) upstreamCertificate(key *ecdsa.PrivateKey) *store.Certificate {
	f.t.Helper()
	c := f.selfSigned(key, "up.example.com", store.SourceIssued)
	c.Issuer, c.CreatedAt = "upstream-pebble", f.now
	if err := f.st.InsertCertificates(context.Background(), []*store.Certificate{c}); err != nil {
		f.t.Fatal(err)
	}
	return c
}

// TestRevokeKeyCompromiseLeavesUpstreamCertificates: on both engines, an
// administrator's keyCompromise revocation of a certificate of the
// built-in CA leaves the key's certificate issued through an upstream CA
// valid and lists it in other_cas, not in revoked_with: certgate may not
// record it revoked without the upstream (docs/issuers.md, docs/pki.md).
// The former code recorded it revoked, the upstream never told.
func TestRevokeKeyCompromiseLeavesUpstreamCertificates(t *testing.T) {
	eachEngine(t, func(t *testing.T, f *fixture) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		ours, up := f.certificateWithKey(key), f.upstreamCertificate(key)
		r := f.do("POST", Prefix+"/certificates/"+ours.Serial+"/revoke", f.tokens[auth.RoleAdmin], map[string]string{"reason": "keyCompromise"})
		var got struct {
			RevokedWith []string `json:"revoked_with"`
			OtherCAs    []string `json:"other_cas"`
		}
		if err := json.Unmarshal(r.body, &got); r.status != http.StatusOK || err != nil {
			t.Fatalf("keyCompromise revocation: %d %s", r.status, r.body)
		}
		if len(got.RevokedWith) != 0 || len(got.OtherCAs) != 1 || got.OtherCAs[0] != up.Serial {
			t.Errorf("revoked_with %v, other_cas %v; want none, and [%s] (the upstream's)", got.RevokedWith, got.OtherCAs, up.Serial)
		}
		if c, err := f.st.GetCertificate(context.Background(), up.Serial); err != nil || c.Status != acme.StatusValid {
			t.Errorf("upstream certificate after the keyCompromise revocation: %v, %v; want valid", c.Status, err)
		}
	})
}
