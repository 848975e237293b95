package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestIssuedReportPlansUseIndex: on each engine, with a year of
// certificates (20 a day), a page of the issued report over 30 days reads
// the index certificates_not_before and no whole table: SQLite searches
// it, PostgreSQL's EXPLAIN ANALYZE (after ANALYZE) shows no sequential
// scan of certificates, by day, profile and issuer.
func TestIssuedReportPlansUseIndex(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		s := e.Open(t)
		var certs []*store.Certificate
		for d := range 365 {
			for j := range 20 {
				c := invCert(fmt.Sprintf("%03x%02x", d, j), 90, "plan.test")
				c.NotBefore = now.Add(-time.Duration(d)*24*time.Hour - time.Duration(j)*time.Minute)
				c.Profile = fmt.Sprintf("p%d", j%4)
				certs = append(certs, c)
			}
		}
		must(t, s.InsertCertificates(ctx, certs))
		for _, by := range []string{store.ByDay, store.ByProfile, store.ByIssuer} {
			plan, err := store.IssuedReportPlans(ctx, s, by, now.Add(-30*24*time.Hour), now, 10)
			must(t, err)
			p := strings.Join(plan, "\n")
			if !strings.Contains(p, "certificates_not_before") || strings.Contains(p, "Seq Scan on certificates") ||
				(e.Name == store.EngineSQLite && strings.Contains(p, "SCAN certificates")) {
				t.Errorf("%s, by %s: plan does not read certificates_not_before only:\n%s", e.Name, by, p)
			}
			t.Logf("%s, by %s:\n%s", e.Name, by, p)
		}
		// The expiring report's page after a cursor (Service.Expiring):
		// a range of certificates_status_not_after.
		plan, err := store.SearchPlan(ctx, s, store.CertQuery{Status: store.StatusValid, NotAfterFrom: now, NotAfterTo: now.Add(30 * 24 * time.Hour),
			NotReplaced: true, Sort: store.SortNotAfter, Limit: 101, Now: now, After: &store.CertKey{NotAfter: now.Add(24 * time.Hour), Serial: "10000"}})
		must(t, err)
		p := strings.Join(plan, "\n")
		if !strings.Contains(p, "certificates_status_not_after") || strings.Contains(p, "Seq Scan on certificates") ||
			(e.Name == store.EngineSQLite && strings.Contains(p, "SCAN certificates")) {
			t.Errorf("%s, expiring: plan does not read certificates_status_not_after:\n%s", e.Name, p)
		}
		t.Logf("%s, expiring:\n%s", e.Name, p)
	})
}
