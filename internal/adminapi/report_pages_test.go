package adminapi

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store"
)

// TestReportsPaginated, on both engines: /reports/issued takes limit
// (1..1000) and cursor as the other lists and answers next_cursor; its
// pages, walked by cursor, hold at most limit groups and give every group
// of the unpaged answer once, in key order; a cursor of another grouping,
// a malformed one and a limit out of range are 422 naming the parameter.
// /reports/expiring walked by cursor gives every expiring certificate
// once, soonest first.
func TestReportsPaginated(t *testing.T) {
	eachEngine(t, func(t *testing.T, f *fixture) {
		admin := f.tokens[auth.RoleAdmin]
		var certs []*store.Certificate
		for i := range 9 {
			s := fmt.Sprintf("%04x", 0x7000+i)
			certs = append(certs, &store.Certificate{Serial: s, Issuer: fmt.Sprintf("CN=Issuer %d", i%5), DER: []byte("der-" + s),
				SANs: []string{"p.example.com"}, KeyType: "ECDSA P-256", KeyBits: 256, SignatureAlgorithm: "ECDSA-SHA256", FingerprintSHA256: "fp-" + s,
				NotBefore: f.now.Add(-time.Duration(i*3+1) * 24 * time.Hour), NotAfter: f.now.Add(time.Duration(i+1) * 24 * time.Hour),
				Status: acme.StatusValid, CreatedAt: f.now, Profile: store.DefaultProfile, Source: store.SourceImported, Attributes: map[string]string{}})
		}
		if err := f.st.InsertCertificates(context.Background(), certs); err != nil {
			t.Fatal(err)
		}
		for _, by := range []string{"day", "issuer"} {
			all := decode[inventory.CountPage](t, f.do("GET", "/api/v1/reports/issued?since=60d&by="+by, admin, nil))
			if want := map[string]int{"day": 9, "issuer": 5}[by]; len(all.Items) != want || all.NextCursor != "" {
				t.Fatalf("by %s, unpaged: %+v, want %d groups", by, all, want)
			}
			var got []inventory.Count
			cursor, pages := "", 0
			for {
				r := f.do("GET", "/api/v1/reports/issued?since=60d&limit=2&by="+by+"&cursor="+url.QueryEscape(cursor), admin, nil)
				p := decode[inventory.CountPage](t, r)
				if pages++; r.status != 200 || len(p.Items) == 0 || len(p.Items) > 2 || pages > 20 {
					t.Fatalf("by %s, page %d: %d %s", by, pages, r.status, r.body)
				}
				got = append(got, p.Items...)
				if cursor = p.NextCursor; cursor == "" {
					break
				}
			}
			if !slices.Equal(got, all.Items) || !slices.IsSortedFunc(got, func(a, b inventory.Count) int { return strings.Compare(a.Key, b.Key) }) {
				t.Errorf("by %s, pages of 2: %v, want %v", by, got, all.Items)
			}
		}
		first := decode[inventory.CountPage](t, f.do("GET", "/api/v1/reports/issued?since=60d&limit=1&by=issuer", admin, nil))
		for q, param := range map[string]string{
			"by=profile&cursor=" + first.NextCursor: "query.cursor",
			"by=issuer&cursor=bm9wZQ":               "query.cursor",
			"by=issuer&limit=0":                     "query.limit",
			"by=issuer&limit=1001":                  "query.limit",
		} {
			r := f.do("GET", "/api/v1/reports/issued?"+q, admin, nil)
			if err := isProblem(r, 422); err != nil || !strings.Contains(string(r.body), `"location":"`+param+`"`) {
				t.Errorf("issued?%s: %v %s, want 422 naming %s", q, err, r.body, param)
			}
		}

		var serials []string
		cursor := ""
		for {
			p := decode[inventory.Page](t, f.do("GET", "/api/v1/reports/expiring?within=30d&limit=4&cursor="+url.QueryEscape(cursor), admin, nil))
			if len(p.Items) > 4 {
				t.Fatalf("expiring page of %d, limit 4", len(p.Items))
			}
			for _, c := range p.Items {
				serials = append(serials, c.Serial)
			}
			if cursor = p.NextCursor; cursor == "" {
				break
			}
		}
		var want []string
		for _, c := range certs {
			want = append(want, c.Serial)
		}
		if !slices.Equal(serials, want) {
			t.Errorf("expiring, pages of 4: %v, want %v", serials, want)
		}
	})
}
