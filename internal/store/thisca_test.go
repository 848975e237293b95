package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestCertificatesWithSerial: on both engines, CertificatesWithSerial
// returns the records whose serial number is the one asked, keyed by it
// or, imported after another certificate took it, "SERIAL-FINGERPRINT16",
// and no record of another serial that shares its beginning; by one range
// of the primary key, not a scan of the certificates (OCSP asks it for
// every request, random serials included).
func TestCertificatesWithSerial(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		s := e.Open(t)
		var certs []*store.Certificate
		for _, serial := range []string{"a", "ab", "ab-0123456789abcdef", "ab-fedcba9876543210", "ab0", "abc", "abc-0123456789abcdef", "aa-0123456789abcdef"} {
			certs = append(certs, invCert(serial, 30))
		}
		must(t, s.InsertCertificates(ctx, certs))
		for serial, want := range map[string][]string{
			"ab":  {"ab", "ab-0123456789abcdef", "ab-fedcba9876543210"},
			"abc": {"abc", "abc-0123456789abcdef"},
			"aa":  {"aa-0123456789abcdef"}, // the bare serial's record may be gone (another issuer's, never stored)
			"a":   {"a"},
			"zz":  nil,
		} {
			got, err := s.CertificatesWithSerial(ctx, serial)
			must(t, err)
			if !slices.Equal(serials(got), want) {
				t.Errorf("CertificatesWithSerial(%q) = %v, want %v", serial, serials(got), want)
			}
		}
		plan, err := store.CertificatesWithSerialPlan(ctx, s, "ab")
		must(t, err)
		p := strings.Join(plan, "\n")
		if e.Name == store.EngineSQLite {
			if !strings.Contains(p, "SEARCH c USING INDEX sqlite_autoindex_certificates_1 (serial>? AND serial<?)") || strings.Contains(p, "SCAN c") {
				t.Errorf("SQLite plan %q, want a range of the primary key", p)
			}
		} else if !strings.Contains(p, "Index Cond: ((serial >= 'ab'::text) AND (serial < 'ab.'::text))") || strings.Contains(p, "Seq Scan on certificates") ||
			strings.Contains(p, "Filter:") {
			// certificates_pkey or certificates_serial_expiry: both lead with serial
			t.Errorf("PostgreSQL plan %q, want a range of an index on serial", p)
		}
	})
}
