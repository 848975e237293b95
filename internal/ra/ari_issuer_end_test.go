package ra

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
)

// TestSuggestedRenewalEndsBeforeIssuer: a certificate that outlives the
// intermediate that signed it (issued before leaves were cut to their
// intermediate's notAfter, or by a retired intermediate) gets its default
// and profile windows over its validity up to the intermediate's notAfter,
// so that ARI clients renew before the chain stops verifying; the window
// lay after it (a 60-day intermediate, a 90-day leaf: [day 60, day 75]
// while the chain ended on day 30). A certificate within its issuer keeps
// its window, as does an administrator's.
func TestSuggestedRenewalEndsBeforeIssuer(t *testing.T) {
	nb := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	now := nb.Add(time.Hour)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mk := func(tmpl, parent *x509.Certificate) []byte {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	inter := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Intermediate"}, NotBefore: nb.Add(-time.Hour),
		NotAfter: nb.Add(30 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	interDER := mk(inter, inter)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), DNSNames: []string{"a.example.test"}, NotBefore: nb, NotAfter: nb.Add(90 * 24 * time.Hour)}
	leafDER := mk(leafTmpl, inter)
	chain := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})) + string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: interDER}))
	c := &store.Certificate{DER: leafDER, ChainPEM: chain, NotBefore: nb, NotAfter: leafTmpl.NotAfter, Status: acme.StatusValid}
	interEnd := inter.NotAfter

	w, src := SuggestedRenewal(c, acme.TimeWindow{}, nil, false, now)
	if src != WindowDefault || !w.End.Before(interEnd) || !w.Start.After(nb) {
		t.Errorf("default window %v–%v (%s), want one within [%v, %v)", w.Start, w.End, src, nb, interEnd)
	}
	if want := SuggestedWindow(&store.Certificate{NotBefore: nb, NotAfter: interEnd, Status: acme.StatusValid}, now); w != want {
		t.Errorf("default window %v, want the one of the validity cut to the intermediate's %v", w, want)
	}
	w, src = SuggestedRenewal(c, acme.TimeWindow{}, &policy.RenewalWindow{Start: 0.5, End: 0.8}, false, now)
	if src != WindowProfile || !w.End.Before(interEnd) {
		t.Errorf("profile window %v–%v (%s), want it before %v", w.Start, w.End, src, interEnd)
	}
	// An administrator's window is kept as set.
	admin := acme.TimeWindow{Start: nb.Add(40 * 24 * time.Hour), End: nb.Add(41 * 24 * time.Hour)}
	if w, src := SuggestedRenewal(c, admin, nil, false, now); src != WindowSet || w != RenewalWindow(c, admin, now) {
		t.Errorf("administrator's window: %v (%s)", w, src)
	}
	// Within its issuer: the window of its own validity.
	inside := *c
	inside.NotAfter = nb.Add(20 * 24 * time.Hour)
	if w, _ := SuggestedRenewal(&inside, acme.TimeWindow{}, nil, false, now); w != SuggestedWindow(&inside, now) {
		t.Errorf("certificate within its issuer: %v, want %v", w, SuggestedWindow(&inside, now))
	}
}
