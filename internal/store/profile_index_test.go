package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestProfileLookupsUseIndex: the profile filter of the inventory search,
// the check that a filter names a known profile and the use count of a
// profile to be deleted find a profile's certificates through
// certificates_profile (migration 00022) instead of reading the
// certificates table (SQLite's plans; PostgreSQL has the index), while a
// search in serial order or with a status keeps the index that serves it
// (no sort of the profile's every entry, no stepping over the profile's
// certificates of another status). The searches return the same
// certificates on both engines.
func TestProfileLookupsUseIndex(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		s := e.Open(t)
		var certs []*store.Certificate
		for i, sp := range []struct{ serial, profile string }{{"0a", "web"}, {"0b", "web"}, {"0c", store.DefaultProfile}, {"0d", "web"}} {
			c := invCert(sp.serial, 10+i)
			c.Profile = sp.profile
			certs = append(certs, c)
		}
		must(t, s.InsertCertificates(ctx, certs))
		must(t, s.RevokeCertificate(ctx, "0b", 4 /* superseded */, now))
		wantSerials(t, "profile web by notAfter", search(t, s, store.CertQuery{Profile: "web"}), "0a", "0b", "0d")
		wantSerials(t, "profile web by serial", search(t, s, store.CertQuery{Profile: "web", Sort: store.SortSerial}), "0a", "0b", "0d")
		wantSerials(t, "profile web revoked", search(t, s, store.CertQuery{Profile: "web", Status: store.StatusRevoked}), "0b")
		for name, want := range map[string]bool{"web": true, store.DefaultProfile: true, "nosuch": false} {
			known, err := s.ProfileKnown(ctx, name)
			must(t, err)
			if known != want {
				t.Errorf("ProfileKnown(%q) = %v, want %v", name, known, want)
			}
		}

		if e.Name != store.EngineSQLite {
			plan, err := store.SearchPlan(ctx, s, store.CertQuery{Profile: "web", Limit: 100, Now: now})
			must(t, err)
			if p := strings.Join(plan, "\n"); !strings.Contains(p, "certificates_profile") {
				t.Errorf("PostgreSQL has no certificates_profile, or does not consider it:\n%s", p)
			}
			return
		}
		plan := func(q store.CertQuery) string {
			t.Helper()
			q.Limit, q.Now = 100, now
			p, err := store.SearchPlan(ctx, s, q)
			must(t, err)
			return strings.Join(p, "\n")
		}
		// The outer statement sorts the page it reads (Limit rows) in
		// every plan; only the inner one, which finds the page, must not
		// sort: as many sorts as without the filter.
		sorts := func(p string) int { return strings.Count(p, "TEMP B-TREE") }
		if p := plan(store.CertQuery{Profile: "web"}); !strings.Contains(p, "INDEX certificates_profile (profile=?)") || sorts(p) != sorts(plan(store.CertQuery{})) {
			t.Errorf("a profile's certificates by notAfter: plan %q, want a seek of certificates_profile without a sort", p)
		}
		if p := plan(store.CertQuery{Profile: "web", Sort: store.SortSerial}); strings.Contains(p, "certificates_profile") || sorts(p) != sorts(plan(store.CertQuery{Sort: store.SortSerial})) {
			t.Errorf("a profile's certificates by serial: plan %q, want an index in serial order, no sort", p)
		}
		if p := plan(store.CertQuery{Profile: "web", Status: store.StatusRevoked}); !strings.Contains(p, "certificates_status_not_after (status=?)") {
			t.Errorf("a profile's revoked certificates: plan %q, want certificates_status_not_after", p)
		}
		known, use, err := store.ProfileLookupPlans(ctx, s, "nosuch")
		must(t, err)
		for what, p := range map[string][]string{"ProfileKnown": known, "the use count": use} {
			joined := strings.Join(p, "\n")
			if !strings.Contains(joined, "INDEX certificates_profile (profile=?)") || strings.Contains(joined, "SCAN certificates") {
				t.Errorf("%s: plan %q, want a seek of certificates_profile", what, joined)
			}
		}
	})
}
