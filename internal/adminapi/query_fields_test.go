package adminapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// checkFieldsExactly checks that r is a 422 whose errors list names
// exactly the locations want, in any order.
func checkFieldsExactly(t *testing.T, what string, r response, want ...string) {
	t.Helper()
	if err := isProblem(r, 422); err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	var p fieldProblem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	got := map[string]bool{}
	for _, e := range p.Errors {
		got[e.Location] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("%s: errors list lacks %s: %s", what, w, r.body)
		}
	}
	if len(p.Errors) != len(want) {
		t.Errorf("%s: errors list has %d entries, want %d (%v): %s", what, len(p.Errors), len(want), want, r.body)
	}
}

// TestQueryErrorsNameEveryField: a certificate list or report query with
// several bad parameters is one 422 whose errors list names each of them,
// as docs/api.md says, not only the first one found.
func TestQueryErrorsNameEveryField(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	tok := f.tokens[auth.RoleAdmin]
	checkFieldsExactly(t, "suffix and serial", f.do("GET", "/api/v1/certificates?suffix=*.&serial=xyz", tok, nil), "query.suffix", "query.serial")
	checkFieldsExactly(t, "attr, expiring_within and fingerprint",
		f.do("GET", "/api/v1/certificates?attr=nokey&expiring_within=soon&fingerprint=ab", tok, nil),
		"query.attr", "query.expiring_within", "query.fingerprint")
	checkFieldsExactly(t, "serial, status/expiry and cursor",
		f.do("GET", "/api/v1/certificates?serial=xyz&status=revoked&expiring_within=1d&cursor=!!", tok, nil),
		"query.serial", "query.status", "query.cursor")
	checkFieldsExactly(t, "expiring report: within and cursor", f.do("GET", "/api/v1/reports/expiring?within=0d&cursor=!!", tok, nil),
		"query.within", "query.cursor")
	checkFieldsExactly(t, "expiring report: bad within and attr", f.do("GET", "/api/v1/reports/expiring?within=x&attr=nokey", tok, nil),
		"query.within", "query.attr")
	checkFieldsExactly(t, "weak keys: attr and cursor", f.do("GET", "/api/v1/reports/weak-keys?attr=nokey&cursor=!!", tok, nil),
		"query.attr", "query.cursor")
	checkFieldsExactly(t, "violations: attr and profile", f.do("GET", "/api/v1/reports/violations?attr=nokey&profile=nosuch", tok, nil),
		"query.attr", "query.profile")
	checkFieldsExactly(t, "one bad parameter", f.do("GET", "/api/v1/certificates?serial=xyz", tok, nil), "query.serial")
}

// TestUnknownProfileFilterRefused: a profile filter naming no profile
// (neither defined nor recorded on any certificate) is a 422 naming
// query.profile on the certificate list and the reports, not an empty
// page; a defined profile, the default and a deleted profile that
// certificates still carry are accepted.
func TestUnknownProfileFilterRefused(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	tok := f.tokens[auth.RoleAdmin]
	for _, path := range []string{"/api/v1/certificates", "/api/v1/reports/expiring", "/api/v1/reports/weak-keys", "/api/v1/reports/violations"} {
		checkInvalidField(t, path+" unknown profile", f.do("GET", path+"?profile=nosuch", tok, nil), "query.profile", `no profile "nosuch"`)
		for _, ok := range []string{"default", f.storedProfile()} {
			if r := f.do("GET", path+"?profile="+ok, tok, nil); r.status != 200 {
				t.Errorf("%s profile %s: %d %s", path, ok, r.status, r.body)
			}
		}
	}
	// A certificate imported under a profile deleted since keeps its name.
	gone := f.storedProfile()
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(4242), Subject: pkix.Name{CommonName: "b.example.com"}, DNSNames: []string{"b.example.com"},
		NotBefore: f.now.Add(-time.Minute), NotAfter: f.now.Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	c := inventory.Record(leaf, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), store.SourceImported)
	c.Profile, c.CreatedAt = gone, f.now
	if err := f.st.InsertCertificates(ctx, []*store.Certificate{c}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.DeleteProfile(ctx, gone); err != nil {
		t.Fatal(err)
	}
	r := f.do("GET", "/api/v1/certificates?profile="+gone, tok, nil)
	var p inventory.Page
	if r.status != 200 || json.Unmarshal(r.body, &p) != nil || len(p.Items) != 1 || p.Items[0].Serial != c.Serial {
		t.Errorf("deleted profile a certificate carries: %d %s", r.status, r.body)
	}
}
