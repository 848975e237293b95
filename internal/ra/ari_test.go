package ra

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
)

func TestParseCertID(t *testing.T) {
	aki := base64.RawURLEncoding.EncodeToString([]byte{1, 2, 3})
	enc := func(b ...byte) string { return aki + "." + base64.RawURLEncoding.EncodeToString(b) }
	for in, want := range map[string]string{
		enc(0x01):             "1",
		enc(0x00, 0x87, 0x65): "8765",
		enc(0x7f, 0x00):       "7f00",
	} {
		id, err := ParseCertID(in)
		if err != nil || id.Serial != want || string(id.AKI) != "\x01\x02\x03" {
			t.Errorf("ParseCertID(%q) = %+v, %v; want serial %s", in, id, err, want)
		}
	}
	// The longest serials: 20 octets, and 21 with the 0x00 a 20-octet
	// serial whose first bit is set needs; 21 octets of value are too
	// long, said so (it was "did not issue" at the lookup).
	long := append([]byte{0x00, 0x80}, make([]byte, 19)...)
	if id, err := ParseCertID(enc(long...)); err != nil || len(id.Serial) != 40 {
		t.Errorf("ParseCertID(21 octets, 0x00 0x80 ...) = %+v, %v; want a 20-octet serial", id, err)
	}
	if _, err := ParseCertID(enc(long[1:]...)); err == nil {
		t.Errorf("ParseCertID(20 octets, 0x80 ...) = nil error, want negative")
	}
	for _, b := range [][]byte{append([]byte{0x01}, make([]byte, 20)...), append([]byte{0x7f}, make([]byte, 20)...)} {
		_, err := ParseCertID(enc(b...))
		if p, ok := acme.AsProblem(err); !ok || p.Type != acme.Malformed || !strings.Contains(p.Detail, "longer than 20 octets") {
			t.Errorf("ParseCertID(21 octets of value %x) = %v, want malformed: longer than 20 octets", b[0], err)
		}
	}
	for _, in := range []string{"", ".", aki, aki + ".", "." + aki, enc(0x80), enc(0x00, 0x01), enc(1) + ".x", "a+b." + aki, aki + "=.AQ", enc(make([]byte, 22)...),
		// Non-canonical base64url (found by FuzzParseCertID): pad bits
		// set ("AR" and "AQ" both decode to 0x01), a line break.
		aki + ".AR", "00.A0", aki + ".A\nQ", aki[:2] + "\r\n" + aki[2:] + ".AQ"} {
		_, err := ParseCertID(in)
		if p, ok := acme.AsProblem(err); !ok || p.Type != acme.Malformed {
			t.Errorf("ParseCertID(%q) = %v, want malformed", in, err)
		}
	}
}

func TestSuggestedWindow(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &store.Certificate{NotBefore: nb, NotAfter: nb.Add(90 * 24 * time.Hour), Status: acme.StatusValid}
	now := nb.Add(time.Hour)
	w := SuggestedWindow(c, now)
	if !w.Start.Equal(nb.Add(60*24*time.Hour)) || !w.End.Equal(nb.Add(75*24*time.Hour)) {
		t.Fatalf("90-day window = %v .. %v, want day 60 .. day 75", w.Start, w.End)
	}
	c.Status = acme.StatusRevoked
	w = SuggestedWindow(c, now)
	if !w.End.Equal(now) || !w.Start.Equal(now.Add(-RevokedWindowLead)) {
		t.Fatalf("revoked window = %v .. %v, want %v .. %v", w.Start, w.End, now.Add(-RevokedWindowLead), now)
	}
}

// TestSuggestedWindowShortLived: the window of a certificate whose
// lifetime is a few seconds (newOrder may ask for notAfter one second after
// notBefore) still ends after it starts (RFC 9773 §4.2: a server MUST NOT
// serve a window whose end does not follow its start) and lies within the
// certificate's validity.
func TestSuggestedWindowShortLived(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, life := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 6 * time.Second} {
		c := &store.Certificate{NotBefore: nb, NotAfter: nb.Add(life), Status: acme.StatusValid}
		w := SuggestedWindow(c, nb)
		if !w.End.After(w.Start) || w.Start.Before(c.NotBefore) || w.End.After(c.NotAfter) {
			t.Errorf("lifetime %v: window %v .. %v, want a non-empty window within %v .. %v", life, w.Start, w.End, c.NotBefore, c.NotAfter)
		}
	}
}
