package inventory_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// certSpec describes one test certificate record.
type certSpec struct {
	serial, profile, source, status string
	names                           []string
	curve                           elliptic.Curve
	life                            time.Duration
	ekus                            []x509.ExtKeyUsage
	expired                         bool
}

func makeRecord(t *testing.T, s certSpec) *store.Certificate {
	t.Helper()
	if s.curve == nil {
		s.curve = elliptic.P256()
	}
	if s.life == 0 {
		s.life = 30 * 24 * time.Hour
	}
	if s.ekus == nil {
		s.ekus = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	key, err := ecdsa.GenerateKey(s.curve, rand.Reader)
	must(t, err)
	nb := now.Add(-time.Hour)
	if s.expired {
		nb = now.Add(-s.life - time.Hour)
	}
	sn, _ := new(big.Int).SetString(s.serial, 16)
	tmpl := &x509.Certificate{SerialNumber: sn, DNSNames: s.names, NotBefore: nb, NotAfter: nb.Add(s.life - time.Second), ExtKeyUsage: s.ekus}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	must(t, err)
	fp := sha256.Sum256(der)
	status := s.status
	if status == "" {
		status = store.StatusValid
	}
	return &store.Certificate{Serial: s.serial, Issuer: "local", DER: der, SANs: s.names, KeyType: "ECDSA", KeyBits: s.curve.Params().BitSize,
		FingerprintSHA256: hex.EncodeToString(fp[:]), NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter, Status: status,
		CreatedAt: now, Source: s.source, Profile: s.profile}
}

func violationsSetup(t *testing.T, specs []certSpec) (*inventory.Service, *policy.Registry) {
	t.Helper()
	return violationsSetupOn(t, storetest.OpenSQLite(t), specs)
}

// violationsSetupOn is violationsSetup on the store st.
func violationsSetupOn(t *testing.T, st *store.Store, specs []certSpec) (*inventory.Service, *policy.Registry) {
	t.Helper()
	ctx := context.Background()
	web := policy.Profile{Name: "web", Allow: []string{"*.example.com"}, KeyTypes: []string{policy.KeyECDSAP256},
		Validity: policy.Duration(30 * 24 * time.Hour), EKUs: []string{"serverAuth"}}
	must(t, web.Validate())
	spec, _ := json.Marshal(web)
	must(t, st.PutProfile(ctx, &store.Profile{Name: "web", Spec: spec, CreatedAt: now, UpdatedAt: now}, false))
	var recs []*store.Certificate
	for _, s := range specs {
		recs = append(recs, makeRecord(t, s))
	}
	must(t, st.InsertCertificates(ctx, recs))
	reg, err := policy.NewRegistry(st, ra.DefaultProfile(90*24*time.Hour, 0, false, false), time.Minute, func() time.Time { return now })
	must(t, err)
	return inventory.New(st, func() time.Time { return now }), reg
}

func TestViolations(t *testing.T) {
	specs := []certSpec{
		{serial: "a1", profile: "web", names: []string{"a.example.com"}},                                                       // complies
		{serial: "b2", profile: "web", names: []string{"b.example.com", "www.example.org"}},                                    // name
		{serial: "c3", profile: "web", names: []string{"c.example.com"}, curve: elliptic.P384()},                               // key
		{serial: "d4", profile: "web", names: []string{"d.example.com"}, life: 90 * 24 * time.Hour},                            // validity
		{serial: "e5", profile: "web", names: []string{"e.example.com"}, ekus: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, // EKU
		{serial: "f6", profile: "gone", names: []string{"f.example.com"}},                                                      // deleted profile
		{serial: "a7", profile: "", names: []string{"g.example.net"}, life: 90 * 24 * time.Hour},                               // default: complies
		{serial: "a8", source: store.SourceImported, names: []string{"h.example.org"}, life: 400 * 24 * time.Hour},             // imported: skipped
		{serial: "a9", profile: "web", names: []string{"x.example.org"}, expired: true},                                        // expired: skipped
		{serial: "aa", profile: "web", names: []string{"y.example.org"}, status: store.StatusRevoked},                          // revoked: skipped
	}
	svc, reg := violationsSetup(t, specs)
	ctx := context.Background()
	got := map[string]inventory.Violation{}
	cur, pages := "", 0
	for {
		p, err := svc.Violations(ctx, reg, inventory.Query{Limit: 2, Sort: "serial", Cursor: cur})
		must(t, err)
		pages++
		for _, v := range p.Items {
			if _, dup := got[v.Certificate.Serial]; dup {
				t.Errorf("serial %s reported twice", v.Certificate.Serial)
			}
			got[v.Certificate.Serial] = v
		}
		if p.NextCursor == "" {
			break
		}
		cur = p.NextCursor
	}
	serials := make([]string, 0, len(got))
	for s := range got {
		serials = append(serials, s)
	}
	slices.Sort(serials)
	if want := []string{"b2", "c3", "d4", "e5", "f6"}; !slices.Equal(serials, want) || pages < 3 {
		t.Fatalf("violating serials %v in %d pages, want %v in 3 or more", serials, pages, want)
	}
	for serial, want := range map[string]string{
		"b2": "name www.example.org: not in the profile's allowed names",
		"c3": "key ecdsa-p384 not allowed (allowed: ecdsa-p256)",
		"d4": "validity 90d exceeds the maximum 30d",
		"e5": "EKUs [clientAuth] differ from the profile's [serverAuth]",
		"f6": "profile gone no longer exists",
	} {
		if r := got[serial].Reasons; len(r) != 1 || r[0] != want {
			t.Errorf("%s reasons %q, want [%q]", serial, r, want)
		}
	}
	if !got["f6"].ProfileDeleted || got["b2"].ProfileDeleted {
		t.Errorf("profile_deleted: f6 %v, b2 %v", got["f6"].ProfileDeleted, got["b2"].ProfileDeleted)
	}

	// Only valid certificates: another status is refused.
	if _, err := svc.Violations(ctx, reg, inventory.Query{Status: "revoked"}); err == nil || !strings.Contains(err.Error(), "valid") {
		t.Errorf("status revoked: %v", err)
	}
	// Filters apply: only the profile asked for.
	p, err := svc.Violations(ctx, reg, inventory.Query{Profile: "gone"})
	must(t, err)
	if len(p.Items) != 1 || p.Items[0].Certificate.Serial != "f6" || p.NextCursor != "" {
		t.Errorf("profile=gone: %+v", p)
	}
}

// A page examines at most Limit×ViolationScanFactor certificates, so a
// large compliant inventory is walked in bounded pages.
func TestViolationsScanBudget(t *testing.T) {
	n := inventory.ViolationScanFactor + 5
	var specs []certSpec
	for i := range n {
		specs = append(specs, certSpec{serial: fmt.Sprintf("%x", 0x100+i), profile: "web", names: []string{fmt.Sprintf("h%d.example.com", i)}})
	}
	specs = append(specs, certSpec{serial: "fff", profile: "web", names: []string{"bad.example.org"}})
	svc, reg := violationsSetup(t, specs)
	ctx := context.Background()
	p, err := svc.Violations(ctx, reg, inventory.Query{Limit: 1, Sort: "serial"})
	must(t, err)
	if len(p.Items) != 0 || p.Scanned != inventory.ViolationScanFactor || p.NextCursor == "" {
		t.Fatalf("first page: %d items, scanned %d, cursor %q; want 0, %d, a cursor", len(p.Items), p.Scanned, p.NextCursor, inventory.ViolationScanFactor)
	}
	p, err = svc.Violations(ctx, reg, inventory.Query{Limit: 1, Sort: "serial", Cursor: p.NextCursor})
	must(t, err)
	if len(p.Items) != 1 || p.Items[0].Certificate.Serial != "fff" || p.Scanned != 6 {
		t.Fatalf("second page: %+v (scanned %d), want fff after 6", p.Items, p.Scanned)
	}
}

// TestViolationsNoCursorToEmptyPage: a page gives a next_cursor only when
// another violation follows (found within the scan budget) or certificates
// remain unexamined, never when its scan reached the end: a full last page,
// compliant certificates after the last violation, and a budget spent
// exactly at the last certificate all end the walk. On both engines.
func TestViolationsNoCursorToEmptyPage(t *testing.T) {
	bad := func(serial string) certSpec {
		return certSpec{serial: serial, profile: "web", names: []string{serial + ".example.org"}}
	}
	good := func(serial string) certSpec {
		return certSpec{serial: serial, profile: "web", names: []string{serial + ".example.com"}}
	}
	var compliant []certSpec
	for i := range inventory.ViolationScanFactor {
		compliant = append(compliant, good(fmt.Sprintf("%x", 0x100+i)))
	}
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			if e.Name == store.EnginePostgres {
				storetest.RequirePostgres(t)
			}
			for _, tc := range []struct {
				name    string
				specs   []certSpec
				limit   int
				want    [][]string // serials of each page
				scanned []int
			}{
				{"full last page", []certSpec{bad("b1"), bad("b2")}, 2, [][]string{{"b1", "b2"}}, []int{2}},
				{"compliant after the last violation", []certSpec{bad("b1"), bad("b2"), bad("b3"), good("c1"), good("c2")}, 3,
					[][]string{{"b1", "b2", "b3"}}, []int{5}},
				{"another violation follows", []certSpec{bad("b1"), good("b2"), bad("b3"), good("c1"), bad("c2")}, 2,
					[][]string{{"b1", "b3"}, {"c2"}}, []int{5, 2}},
				{"budget spent at the last certificate", compliant, 1, [][]string{{}}, []int{inventory.ViolationScanFactor}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					svc, reg := violationsSetupOn(t, e.Open(t), tc.specs)
					ctx := context.Background()
					var got [][]string
					var scanned []int
					for cur := ""; ; {
						p, err := svc.Violations(ctx, reg, inventory.Query{Limit: tc.limit, Sort: "serial", Cursor: cur})
						must(t, err)
						page := []string{}
						for _, v := range p.Items {
							page = append(page, v.Certificate.Serial)
						}
						got, scanned = append(got, page), append(scanned, p.Scanned)
						if cur = p.NextCursor; cur == "" || len(got) > 10 {
							break
						}
					}
					if fmt.Sprint(got) != fmt.Sprint(tc.want) || !slices.Equal(scanned, tc.scanned) {
						t.Fatalf("pages %v scanning %v, want %v scanning %v", got, scanned, tc.want, tc.scanned)
					}
				})
			}
		})
	}
}
