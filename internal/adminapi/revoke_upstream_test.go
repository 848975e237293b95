package adminapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
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

// TestRevokeWithoutUpstreamIs503: on both engines, the revocation of a
// certificate issued through an upstream CA that this server does not have
// configured (started without the issuers file, as here, or a node missing
// it) is a 503 problem (RFC 9457) whose detail names the upstream, and
// records nothing, for any reason: the revocation cannot reach the
// upstream. The former code answered 200 and recorded it in the inventory
// only.
func TestRevokeWithoutUpstreamIs503(t *testing.T) {
	eachEngine(t, func(t *testing.T, f *fixture) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		up := f.upstreamCertificate(key)
		for _, reason := range []string{"superseded", "keyCompromise"} {
			r := f.do("POST", Prefix+"/certificates/"+up.Serial+"/revoke", f.tokens[auth.RoleAdmin], map[string]string{"reason": reason})
			var p struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal(r.body, &p); err != nil || r.status != http.StatusServiceUnavailable || p.Status != http.StatusServiceUnavailable ||
				!strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") ||
				!strings.Contains(p.Detail, "upstream CA upstream-pebble, which this server does not have configured") {
				t.Errorf("%s revocation without the upstream: %d %s %s; want a 503 problem naming upstream-pebble", reason, r.status, r.header.Get("Content-Type"), r.body)
			}
		}
		c, err := f.st.GetCertificate(context.Background(), up.Serial)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != acme.StatusValid {
			t.Errorf("certificate after refused revocations: %s; want valid", c.Status)
		}
		if _, err := f.st.GetBlockedKey(context.Background(), c.KeyHash); c.KeyHash == nil || !errors.Is(err, store.ErrNotFound) {
			t.Errorf("key hash %x: blocked key %v; want none (a refused keyCompromise revocation)", c.KeyHash, err)
		}
	})
}
