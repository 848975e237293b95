package discovery_test

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/discovery"
)

// TestCheckExpiredOfUnknownCA: an expired leaf whose chain reaches no root
// of the pool even inside its validity has the unknown authority as its
// trust error (discovery.UnknownAuthority), so that CHECKS shows
// "untrusted" beside "expired"; an expired leaf of a trusted CA keeps the
// expiry as its trust error. Before, both read only "certificate has
// expired", and an expired certificate of an unknown CA looked like an
// expired one of a trusted CA.
func TestCheckExpiredOfUnknownCA(t *testing.T) {
	now := time.Now()
	trustedKey, strangerKey := newKey(t), newKey(t)
	// CAs valid all through the leaves' lifetime, as real ones are.
	longCA := func(cn string) *x509.Certificate {
		c := caTemplate(cn, now)
		c.NotBefore = now.Add(-72 * time.Hour)
		return c
	}
	trusted := mint(t, longCA("Trusted CA"), trustedKey, nil, nil)
	stranger := mint(t, longCA("Stranger CA"), strangerKey, nil, nil)
	pool := x509.NewCertPool()
	pool.AddCert(trusted)
	tmpl := func() *x509.Certificate {
		return leafTemplate("old.test", now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	}
	ofTrusted := mint(t, tmpl(), newKey(t), trusted, trustedKey)
	ofStranger := mint(t, tmpl(), newKey(t), stranger, strangerKey)

	c := discovery.Check([]*x509.Certificate{ofStranger, stranger}, "old.test", pool, nil, now)
	if !c.Expired || c.Trusted || c.Incomplete || c.SelfSigned || !discovery.UnknownAuthority(c.TrustError) {
		t.Errorf("expired leaf of an unknown CA: %+v, want expired, untrusted with the unknown authority as its trust error", c)
	}
	c = discovery.Check([]*x509.Certificate{ofTrusted, trusted}, "old.test", pool, nil, now)
	if !c.Expired || c.Trusted || c.Incomplete || discovery.UnknownAuthority(c.TrustError) || !strings.Contains(c.TrustError, "expired") {
		t.Errorf("expired leaf of a trusted CA: %+v, want expired with the expiry as its trust error", c)
	}
}
