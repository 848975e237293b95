package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestInventoryConformance runs the inventory cases (names, attributes,
// keyset pagination, reports) on both engines.
func TestInventoryConformance(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			if e.Name == store.EnginePostgres {
				storetest.RequirePostgres(t)
			}
			cases := []struct {
				name string
				fn   func(t *testing.T, e storetest.Engine)
			}{
				{"RoundTrip", testInventoryRoundTrip},
				{"ManyNamesAndAttributes", testManyNamesAndAttributes},
				{"InsertIsAtomic", testInventoryInsertAtomic},
				{"KeysetPagination", testKeysetPagination},
				{"SuffixSearch", testSuffixSearch},
				{"SuffixSearchLarge", testSuffixSearchLarge},
				{"AttributeSearch", testAttributeSearch},
				{"StatusAndExpiry", testStatusAndExpiry},
				{"WeakAndReports", testWeakAndReports},
				{"ReplacesRecorded", testReplacesRecorded},
				{"CountPages", testCountPages},
				{"CountDaysBefore1970", testCountDaysBefore1970},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.fn(t, e)
				})
			}
		})
	}
}

// invCert is an imported certificate record with serial s, names and a
// NotAfter of now+days.
func invCert(s string, days int, names ...string) *store.Certificate {
	return &store.Certificate{Serial: s, Issuer: "CN=Test CA", DER: []byte("der-" + s), ChainPEM: "pem-" + s, SANs: names,
		KeyType: "ECDSA P-256", KeyBits: 256, SignatureAlgorithm: "ECDSA-SHA256", FingerprintSHA256: "fp-" + s,
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(time.Duration(days) * 24 * time.Hour), Status: acme.StatusValid,
		CreatedAt: now, Profile: store.DefaultProfile, Source: store.SourceImported, Attributes: map[string]string{}}
}

func serials(cs []*store.Certificate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Serial
	}
	return out
}

// search runs q and returns the serials found.
func search(t *testing.T, s *store.Store, q store.CertQuery) []string {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 1000
	}
	if q.Now.IsZero() {
		q.Now = now
	}
	cs, err := s.SearchCertificates(context.Background(), q)
	must(t, err)
	return serials(cs)
}

func wantSerials(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func testInventoryRoundTrip(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	c := invCert("a1", 30, "WWW.Example.COM", "10.0.0.1")
	c.Profile, c.Attributes = "web", map[string]string{"env": "prod", "team": "payments"}
	c.KeyType, c.KeyBits, c.SignatureAlgorithm = "RSA 3072", 3072, "SHA256-RSA"
	must(t, s.InsertCertificates(ctx, []*store.Certificate{c}))
	got, err := s.GetCertificate(ctx, "a1")
	must(t, err)
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("GetCertificate =\n%+v\nwant\n%+v", got, c)
	}
	got, err = s.GetCertificateByFingerprint(ctx, "fp-a1")
	must(t, err)
	if got.Serial != "a1" {
		t.Fatalf("by fingerprint: %s", got.Serial)
	}
	_, err = s.GetCertificateByFingerprint(ctx, "fp-none")
	wantErr(t, "missing fingerprint", err, store.ErrNotFound)
	// Names are searchable lower-cased; the IP address too.
	wantSerials(t, "name www.example.com", search(t, s, store.CertQuery{Name: "www.example.com"}), "a1")
	wantSerials(t, "name 10.0.0.1", search(t, s, store.CertQuery{Name: "10.0.0.1"}), "a1")
	wantSerials(t, "serial", search(t, s, store.CertQuery{Serial: "a1"}), "a1")
	wantSerials(t, "fingerprint", search(t, s, store.CertQuery{Fingerprint: "fp-a1"}), "a1")
	wantSerials(t, "issuer", search(t, s, store.CertQuery{Issuer: "CN=Test CA"}), "a1")
	wantSerials(t, "other issuer", search(t, s, store.CertQuery{Issuer: "local"}))
	wantSerials(t, "profile", search(t, s, store.CertQuery{Profile: "web"}), "a1")
	wantSerials(t, "source", search(t, s, store.CertQuery{Source: store.SourceImported}), "a1")
	wantSerials(t, "other profile", search(t, s, store.CertQuery{Profile: "default"}))
	if _, err := s.SearchCertificates(ctx, store.CertQuery{Limit: 10, Status: "bogus"}); err == nil {
		t.Fatal("unknown status accepted")
	}
	if _, err := s.SearchCertificates(ctx, store.CertQuery{Limit: 0}); err == nil {
		t.Fatal("limit 0 accepted")
	}
}

// testManyNamesAndAttributes: name and attribute rows are inserted in
// multi-row statements of at most 32 rows; 70 names (one duplicate in
// another case) and 33 attributes cross that boundary, and every one of
// them is searchable.
func testManyNamesAndAttributes(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	var names []string
	for i := range 70 {
		names = append(names, fmt.Sprintf("h%02d.many.example", i))
	}
	names = append(names, "H07.MANY.example")
	c := invCert("m1", 30, names...)
	for i := range 33 {
		c.Attributes[fmt.Sprintf("k%02d", i)] = fmt.Sprintf("v%02d", i)
	}
	must(t, s.InsertCertificates(ctx, []*store.Certificate{c}))
	for _, i := range []int{0, 31, 32, 63, 64, 69} {
		wantSerials(t, names[i], search(t, s, store.CertQuery{Name: names[i]}), "m1")
	}
	for _, i := range []int{0, 31, 32} {
		k, v := fmt.Sprintf("k%02d", i), fmt.Sprintf("v%02d", i)
		wantSerials(t, k, search(t, s, store.CertQuery{Attributes: map[string]string{k: v}}), "m1")
	}
	got, err := s.GetCertificate(ctx, "m1")
	must(t, err)
	if !reflect.DeepEqual(got.Attributes, c.Attributes) {
		t.Fatalf("attributes = %v, want %v", got.Attributes, c.Attributes)
	}
}

// testInventoryInsertAtomic: a batch with one duplicate stores nothing,
// not even the name or attribute rows of the others.
func testInventoryInsertAtomic(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	must(t, s.InsertCertificates(ctx, []*store.Certificate{invCert("a1", 30, "a.example.com")}))
	b := invCert("b1", 30, "b.example.com")
	b.Attributes = map[string]string{"env": "prod"}
	dup := invCert("c1", 30, "c.example.com")
	dup.FingerprintSHA256 = "fp-a1"
	wantErr(t, "batch with a duplicate fingerprint", s.InsertCertificates(ctx, []*store.Certificate{b, dup}), store.ErrConflict)
	if n, _ := s.CountCertificates(ctx); n != 1 {
		t.Fatalf("certificates after a refused batch = %d, want 1", n)
	}
	wantSerials(t, "names of the refused batch", search(t, s, store.CertQuery{Name: "b.example.com"}))
	wantSerials(t, "attributes of the refused batch", search(t, s, store.CertQuery{Attributes: map[string]string{"env": "prod"}}))
	// The serial of the refused batch was not reserved either: it stores now.
	must(t, s.InsertCertificates(ctx, []*store.Certificate{b}))
}

// testKeysetPagination pages through 23 certificates whose NotAfter values
// tie in groups of five, in every sort order, 4 at a time: every row comes
// exactly once, in order.
func testKeysetPagination(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	var all []*store.Certificate
	for i := range 23 {
		all = append(all, invCert(fmt.Sprintf("%02x", (i*7)%23+0x10), i/5+1, fmt.Sprintf("h%d.example.com", i)))
	}
	must(t, s.InsertCertificates(ctx, all))
	for _, sortBy := range []string{store.SortNotAfter, store.SortNotAfterDesc, store.SortSerial} {
		want := append([]*store.Certificate(nil), all...)
		sort.Slice(want, func(i, j int) bool {
			a, b := want[i], want[j]
			switch sortBy {
			case store.SortSerial:
				return a.Serial < b.Serial
			case store.SortNotAfterDesc:
				a, b = b, a
			}
			if !a.NotAfter.Equal(b.NotAfter) {
				return a.NotAfter.Before(b.NotAfter)
			}
			return a.Serial < b.Serial
		})
		var got []string
		var after *store.CertKey
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatalf("%s: pagination does not end", sortBy)
			}
			page, err := s.SearchCertificates(ctx, store.CertQuery{Sort: sortBy, After: after, Limit: 4, Now: now})
			must(t, err)
			if len(page) == 0 {
				break
			}
			got = append(got, serials(page)...)
			last := page[len(page)-1]
			after = &store.CertKey{NotAfter: last.NotAfter, Serial: last.Serial}
		}
		wantSerials(t, "pages sorted by "+sortBy, got, serials(want)...)
	}
}

func testSuffixSearch(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	must(t, s.InsertCertificates(ctx, []*store.Certificate{
		invCert("01", 10, "a.example.com"),
		invCert("02", 20, "b.x.EXAMPLE.com"),
		invCert("03", 30, "example.com"),
		invCert("04", 40, "notexample.com"),
		invCert("05", 50, "*.example.com"),
		invCert("06", 60, "a.example.org", "c.example.com"),
		invCert("07", 70, "example.comm"),
		invCert("08", 80, "my-example.com"),
		invCert("09", 90, "example.com-x.com"),
	}))
	wantSerials(t, "suffix .example.com", search(t, s, store.CertQuery{Suffix: ".example.com"}), "01", "02", "05", "06")
	// The domain itself too: the range then starts at "moc.elpmaxe", and
	// "moc.elpmaxe-ym" (my-example.com) lies inside it but is not selected.
	wantSerials(t, "domain example.com", search(t, s, store.CertQuery{Suffix: ".example.com", SuffixApex: true}), "01", "02", "03", "05", "06")
	wantSerials(t, "domain x.example.com", search(t, s, store.CertQuery{Suffix: ".x.example.com", SuffixApex: true}), "02")
	wantSerials(t, "domain example.comm", search(t, s, store.CertQuery{Suffix: ".example.comm", SuffixApex: true}), "07")
	wantSerials(t, "domain example.com, latest first", search(t, s, store.CertQuery{Suffix: ".example.com", SuffixApex: true, Sort: store.SortNotAfterDesc}), "06", "05", "03", "02", "01")
	wantSerials(t, "suffix .x.example.com", search(t, s, store.CertQuery{Suffix: ".x.example.com"}), "02")
	wantSerials(t, "suffix .com", search(t, s, store.CertQuery{Suffix: ".com"}), "01", "02", "03", "04", "05", "06", "08", "09")
	wantSerials(t, "suffix .example.net", search(t, s, store.CertQuery{Suffix: ".example.net"}))
	wantSerials(t, "exact example.com", search(t, s, store.CertQuery{Name: "example.com"}), "03")
	wantSerials(t, "exact wildcard", search(t, s, store.CertQuery{Name: "*.example.com"}), "05")
	wantSerials(t, "suffix and name", search(t, s, store.CertQuery{Suffix: ".example.com", Name: "a.example.org"}), "06")
	wantSerials(t, "suffix, latest first", search(t, s, store.CertQuery{Suffix: ".example.com", Sort: store.SortNotAfterDesc}), "06", "05", "02", "01")
}

// testSuffixSearchLarge: a suffix matching more names than the threshold
// above which the query walks the sort index instead (setThreshold) gives
// the same rows, in order, across pages.
func testSuffixSearchLarge(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	const n = 2100
	var cs []*store.Certificate
	for i := range n {
		c := invCert(fmt.Sprintf("%04x", n-i), i%97, fmt.Sprintf("h%d.big.test", i))
		if i%3 == 0 {
			c.Attributes = map[string]string{"env": "prod"}
		} else {
			c.Attributes = map[string]string{"env": "dev"}
		}
		cs = append(cs, c)
	}
	cs = append(cs, invCert("ffff", 1, "small.test"), invCert("fffe", 50, "big.test"), invCert("fffd", 60, "my-big.test"))
	must(t, s.InsertCertificates(ctx, cs))
	paged := func(q store.CertQuery) []*store.Certificate {
		var got []*store.Certificate
		for {
			q.Limit, q.Now = 500, now
			page, err := s.SearchCertificates(ctx, q)
			must(t, err)
			if len(page) == 0 {
				return got
			}
			got = append(got, page...)
			q.After = &store.CertKey{NotAfter: page[len(page)-1].NotAfter, Serial: page[len(page)-1].Serial}
		}
	}
	for _, c := range []struct {
		q    store.CertQuery
		want int
	}{{store.CertQuery{Suffix: ".big.test"}, n}, {store.CertQuery{Suffix: ".big.test", SuffixApex: true}, n + 1}} {
		got := paged(c.q)
		if len(got) != c.want {
			t.Fatalf("%+v paged %d certificates, want %d", c.q, len(got), c.want)
		}
		for i := 1; i < len(got); i++ {
			a, b := got[i-1], got[i]
			if a.NotAfter.After(b.NotAfter) || (a.NotAfter.Equal(b.NotAfter) && a.Serial >= b.Serial) {
				t.Fatalf("rows %d and %d out of order: %s %v, %s %v", i-1, i, a.Serial, a.NotAfter, b.Serial, b.NotAfter)
			}
		}
	}
	// Two large sets (suffix and attribute) combined.
	prod := search(t, s, store.CertQuery{Suffix: ".big.test", Attributes: map[string]string{"env": "prod"}})
	if len(prod) != n/3 {
		t.Fatalf("suffix .big.test with env=prod: %d rows, want %d", len(prod), n/3)
	}
}

func testAttributeSearch(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a, b, c := invCert("0a", 10, "a.test"), invCert("0b", 20, "b.test"), invCert("0c", 30, "c.test")
	a.Attributes = map[string]string{"env": "prod", "team": "payments"}
	b.Attributes = map[string]string{"env": "prod", "team": "search"}
	c.Attributes = map[string]string{"env": "dev", "team": "payments"}
	must(t, s.InsertCertificates(ctx, []*store.Certificate{a, b, c}))
	wantSerials(t, "env=prod", search(t, s, store.CertQuery{Attributes: map[string]string{"env": "prod"}}), "0a", "0b")
	wantSerials(t, "team=payments", search(t, s, store.CertQuery{Attributes: map[string]string{"team": "payments"}}), "0a", "0c")
	wantSerials(t, "env=prod team=payments", search(t, s, store.CertQuery{Attributes: map[string]string{"env": "prod", "team": "payments"}}), "0a")
	wantSerials(t, "env=staging", search(t, s, store.CertQuery{Attributes: map[string]string{"env": "staging"}}))
	wantSerials(t, "values are case-sensitive", search(t, s, store.CertQuery{Attributes: map[string]string{"env": "PROD"}}))
}

func testStatusAndExpiry(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	revoked := invCert("05", 10, "revoked.test")
	revoked.DER = certDER(t, testKey(t)) // reason 1 blocks its key, read from the DER
	must(t, s.InsertCertificates(ctx, []*store.Certificate{
		invCert("01", -1, "expired.test"),
		invCert("02", 5, "soon.test"),
		invCert("03", 29, "month.test"),
		invCert("04", 31, "later.test"),
		revoked,
	}))
	must(t, s.RevokeCertificate(ctx, "05", 1, now))
	within30 := store.CertQuery{Status: store.StatusValid, NotAfterFrom: now, NotAfterTo: now.Add(30 * 24 * time.Hour)}
	wantSerials(t, "expiring within 30 days", search(t, s, within30), "02", "03")
	wantSerials(t, "valid", search(t, s, store.CertQuery{Status: store.StatusValid}), "02", "03", "04")
	wantSerials(t, "expired", search(t, s, store.CertQuery{Status: store.StatusExpired}), "01")
	wantSerials(t, "revoked", search(t, s, store.CertQuery{Status: store.StatusRevoked}), "05")
	// Status is judged at the query's Now: 30 days on, two more expired.
	wantSerials(t, "expired in a month", search(t, s, store.CertQuery{Status: store.StatusExpired, Now: now.Add(30 * 24 * time.Hour)}), "01", "02", "03")
}

func testWeakAndReports(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	rsa1024 := invCert("01", 10, "old.test")
	rsa1024.KeyType, rsa1024.KeyBits, rsa1024.SignatureAlgorithm = "RSA 1024", 1024, "SHA256-RSA"
	sha1 := invCert("02", 10, "sha1.test")
	sha1.KeyType, sha1.KeyBits, sha1.SignatureAlgorithm, sha1.Issuer = "RSA 2048", 2048, "SHA1-RSA", "local"
	good := invCert("03", 10, "good.test")
	good.KeyType, good.KeyBits, good.SignatureAlgorithm, good.Profile = "RSA 2048", 2048, "SHA256-RSA", "web"
	good.NotBefore = now.Add(-72 * time.Hour)
	must(t, s.InsertCertificates(ctx, []*store.Certificate{rsa1024, sha1, good, invCert("04", 10, "ec.test")}))
	wantSerials(t, "weak", search(t, s, store.CertQuery{Weak: true}), "01", "02")

	day := func(d time.Time) string { return d.UTC().Format(time.DateOnly) }
	from, to := now.Add(-7*24*time.Hour), now
	for _, tc := range []struct {
		by   string
		want []store.CountRow
	}{
		{store.ByDay, []store.CountRow{{Key: day(now.Add(-72 * time.Hour)), Count: 1}, {Key: day(now.Add(-24 * time.Hour)), Count: 3}}},
		{store.ByProfile, []store.CountRow{{Key: "default", Count: 3}, {Key: "web", Count: 1}}},
		{store.ByIssuer, []store.CountRow{{Key: "CN=Test CA", Count: 3}, {Key: "local", Count: 1}}},
	} {
		got, more, err := s.CountCertificatesBy(ctx, tc.by, from, to, "", 1000)
		must(t, err)
		if !reflect.DeepEqual(got, tc.want) || more {
			t.Fatalf("count by %s = %v, want %v", tc.by, got, tc.want)
		}
	}
	if _, _, err := s.CountCertificatesBy(ctx, "color", from, to, "", 10); err == nil {
		t.Fatal("unknown grouping accepted")
	}
}

// testReplacesRecorded: a certificate issued for an order that replaces
// another (RFC 9773) records the serial it replaced.
func testReplacesRecorded(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a, o, _ := seed(t, s)
	issue(t, s, o.ID, a.ID, "abc")
	repl := &store.Order{ID: "ord2", AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now,
		Identifiers: []acme.Identifier{{Type: acme.IdentifierDNS, Value: "a.example.test"}}, AuthzIDs: []string{"az2"}, Replaces: "AKI.SERIAL"}
	must(t, s.CreateReplacementOrder(ctx, repl, []*store.Authorization{newAuthz(a.ID, "az2", "a.example.test", false, acme.ChallengeHTTP01)}, "abc", ""))
	must(t, s.SetOrderStatus(ctx, "ord2", acme.StatusPending, acme.StatusProcessing, nil, now))
	must(t, s.ReserveSerial(ctx, "def", now))
	c := newCert("def", "ord2", a.ID)
	c.FingerprintSHA256 = "fp-def"
	must(t, s.FinishOrder(ctx, "ord2", c, now))
	got, err := s.GetCertificate(ctx, "def")
	must(t, err)
	if got.Replaces != "abc" {
		t.Fatalf("replacement records replaces %q, want abc", got.Replaces)
	}
	if first, _ := s.GetCertificate(ctx, "abc"); first.Replaces != "" {
		t.Fatalf("first certificate records replaces %q", first.Replaces)
	}
}

// TestSearchWithoutSerialExpiryIndex: a SQLite database migrated by an
// early build of migration 00005, without certificates_serial_expiry,
// still answers searches that start from a name.
func TestSearchWithoutSerialExpiryIndex(t *testing.T) {
	dsn := storetest.SQLiteDSN(t)
	s := storetest.OpenDSN(t, dsn)
	must(t, s.InsertCertificates(context.Background(), []*store.Certificate{invCert("01", 10, "a.example.com"), invCert("02", 5, "b.example.com")}))
	db, err := sql.Open("sqlite", "file:"+dsn)
	must(t, err)
	defer db.Close()
	_, err = db.Exec(`DROP INDEX certificates_serial_expiry`)
	must(t, err)
	wantSerials(t, "suffix without the index", search(t, s, store.CertQuery{Suffix: ".example.com"}), "02", "01")
}

// testCountPages: the issued report's counts come in pages of limit
// groups (the last may hold fewer) whose keys walk every group of the
// window once, in key order, without duplicates; by day, days without
// certificates neither fill nor shorten a page; more is false on the last.
func testCountPages(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	day := func(d time.Time) string { return d.UTC().Format(time.DateOnly) }
	start := now.Add(-40 * 24 * time.Hour)
	var certs []*store.Certificate
	want := map[string][]store.CountRow{}
	// Days 0..39 from start: certificates on days 0-4, 10, 11, 25 and 39
	// (i+1 on day i), profiles p00..p08 and issuers by day.
	for i, d := range []int{0, 1, 2, 3, 4, 10, 11, 25, 39} {
		for j := 0; j <= i; j++ {
			c := invCert(fmt.Sprintf("%02x%02x", i, j), 90, "count.test")
			c.NotBefore = start.Add(time.Duration(d)*24*time.Hour + time.Hour)
			c.Profile = fmt.Sprintf("p%02d", i)
			c.Issuer = fmt.Sprintf("CN=Issuer %02d", i)
			certs = append(certs, c)
		}
		want[store.ByDay] = append(want[store.ByDay], store.CountRow{Key: day(start.Add(time.Duration(d)*24*time.Hour + time.Hour)), Count: i + 1})
		want[store.ByProfile] = append(want[store.ByProfile], store.CountRow{Key: fmt.Sprintf("p%02d", i), Count: i + 1})
		want[store.ByIssuer] = append(want[store.ByIssuer], store.CountRow{Key: fmt.Sprintf("CN=Issuer %02d", i), Count: i + 1})
	}
	old := invCert("ff00", 90, "old.test") // before the window
	old.NotBefore = start.Add(-24 * time.Hour)
	must(t, s.InsertCertificates(ctx, append(certs, old)))
	from, to := start, now
	for _, by := range []string{store.ByDay, store.ByProfile, store.ByIssuer} {
		for _, limit := range []int{1, 2, 3, 4, 1000} {
			var got []store.CountRow
			after, pages := "", 0
			for {
				rows, more, err := s.CountCertificatesBy(ctx, by, from, to, after, limit)
				must(t, err)
				pages++
				if len(rows) == 0 || len(rows) > limit {
					t.Fatalf("by %s, limit %d, page %d: %d groups (more %v)", by, limit, pages, len(rows), more)
				}
				// Every page but the last holds limit groups: by day too,
				// whatever the days without certificates between them (a
				// page held the days of a span of limit days, one group
				// and a cursor where days were sparse).
				if more && len(rows) != limit {
					t.Fatalf("by %s, limit %d, page %d: %d groups and more, want %d", by, limit, pages, len(rows), limit)
				}
				got = append(got, rows...)
				if !more {
					break
				}
				after = rows[len(rows)-1].Key
				if pages > 100 {
					t.Fatal("no end")
				}
			}
			if !reflect.DeepEqual(got, want[by]) {
				t.Fatalf("by %s, limit %d: pages give %v, want %v", by, limit, got, want[by])
			}
		}
	}
	if _, _, err := s.CountCertificatesBy(ctx, store.ByDay, from, to, "", 0); err == nil {
		t.Fatal("page size 0 accepted")
	}
}

// testCountDaysBefore1970: by day, a certificate whose notBefore is before
// 1970 (an imported one can have it) counts on its own UTC day. The day
// was the quotient truncated toward zero, so 1969-12-31 counted on
// 1970-01-01 and every earlier day on the next one; and a page of one day
// starting on a day before 1970 spanned two.
func testCountDaysBefore1970(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	at := func(v string) time.Time {
		t.Helper()
		ts, err := time.Parse(time.RFC3339Nano, v)
		must(t, err)
		return ts
	}
	var certs []*store.Certificate
	for i, nb := range []string{
		"1965-06-01T10:00:00Z",
		"1969-12-30T08:00:00Z",
		"1969-12-30T23:59:59.999999999Z",
		"1969-12-31T00:00:00Z",
		"1969-12-31T12:00:00Z",
		"1969-12-31T23:59:59.999999999Z",
		"1970-01-01T00:00:00Z",
		"1970-01-02T06:00:00Z",
	} {
		c := invCert(fmt.Sprintf("%02x", i+1), 90, "old.test")
		c.NotBefore = at(nb)
		certs = append(certs, c)
	}
	must(t, s.InsertCertificates(ctx, certs))
	want := []store.CountRow{{Key: "1965-06-01", Count: 1}, {Key: "1969-12-30", Count: 2}, {Key: "1969-12-31", Count: 3},
		{Key: "1970-01-01", Count: 1}, {Key: "1970-01-02", Count: 1}}
	from, to := at("1960-01-01T00:00:00Z"), at("1971-01-01T00:00:00Z")
	for _, limit := range []int{1, 2, 1000} {
		var got []store.CountRow
		after := ""
		for pages := 1; ; pages++ {
			rows, more, err := s.CountCertificatesBy(ctx, store.ByDay, from, to, after, limit)
			must(t, err)
			if len(rows) == 0 || len(rows) > limit {
				t.Fatalf("limit %d, page %d: %v (more %v)", limit, pages, rows, more)
			}
			got = append(got, rows...)
			if !more {
				break
			}
			after = rows[len(rows)-1].Key
			if pages > 20 {
				t.Fatal("no end")
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("limit %d: by day %v, want %v", limit, got, want)
		}
	}
}
