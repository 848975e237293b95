package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestCountByExpiryLeavesOutRenewed: on both engines,
// CountCertificatesByExpiry (the metric certgate_certificates_by_expiry)
// leaves out, in every window, the certificates whose ARI replacement
// (RFC 9773) has been issued and is valid, as the expiring report does
// (CertQuery.NotReplaced), and still counts one whose replacement was
// revoked since and one whose replacement order is still pending; its
// count of the next 7 days equals the report's. The former code counted
// the renewed ones too.
func TestCountByExpiryLeavesOutRenewed(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := e.Open(t)
		ctx := context.Background()
		a := createAccount(t, s, "acct1")
		day := 24 * time.Hour
		var certs []*store.Certificate
		for serial, at := range map[string]time.Duration{"x1": 3 * day, "x2": 3 * day, "x3": 10 * day, "x4": 10 * day, "x5": -day} {
			c := invCert(serial, 0)
			c.NotAfter = now.Add(at)
			certs = append(certs, c)
		}
		must(t, s.InsertCertificates(ctx, certs))
		// replace claims serial by a replacement order; issued, its
		// certificate n+serial is stored (valid, notAfter in 90 days).
		replace := func(serial string, issued bool) {
			az := newAuthz(a.ID, "az-"+serial, "a.example.test", false, acme.ChallengeHTTP01)
			o := &store.Order{ID: "r-" + serial, AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour), CreatedAt: now,
				UpdatedAt: now, Identifiers: []acme.Identifier{az.Identifier}, AuthzIDs: []string{az.ID}, Replaces: "AKI." + serial}
			must(t, s.CreateReplacementOrder(ctx, o, []*store.Authorization{az}, serial, ""))
			if issued {
				issue(t, s, o.ID, a.ID, "n"+serial)
			}
		}
		replace("x1", true)  // renewed: left out
		replace("x2", true)  // renewed, but the replacement is revoked below: counted
		replace("x3", false) // replacement pending: counted
		replace("x5", true)  // expired, renewed: left out
		must(t, s.RevokeCertificate(ctx, "nx2", 4, now))

		bounds := []time.Time{now.Add(-30 * day), now, now.Add(7 * day), now.Add(30 * day)}
		counts, err := s.CountCertificatesByExpiry(ctx, bounds)
		must(t, err)
		if want := []int64{0, 1, 2}; !reflect.DeepEqual(counts, want) {
			t.Errorf("CountCertificatesByExpiry = %v, want %v (x1 and x5 were renewed)", counts, want)
		}
		report, err := s.SearchCertificates(ctx, store.CertQuery{Status: store.StatusValid, NotAfterFrom: now.Add(-time.Nanosecond),
			NotAfterTo: now.Add(7*day - time.Nanosecond), NotReplaced: true, Now: now, Limit: 100})
		must(t, err)
		if fmt.Sprint(serials(report)) != "[x2]" || counts[1] != int64(len(report)) {
			t.Errorf("expiring report within 7 days = %v; metric's next_7d = %d; want [x2] and 1", serials(report), counts[1])
		}
	})
}
