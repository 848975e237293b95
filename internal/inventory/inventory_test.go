package inventory_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fill stores n certificates c0..c(n-1) under example.com expiring one day
// apart (two per day, so NotAfter ties), the first one already expired.
// Their DER is one self-signed certificate (a revocation for keyCompromise
// reads the key from it).
func fill(t *testing.T, st *store.Store, n int) {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	var cs []*store.Certificate
	for i := range n {
		// A key of its own each: a keyCompromise revocation revokes the
		// other certificates of the key (store.RevokeCertificate).
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(t, err)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		must(t, err)
		serial := fmt.Sprintf("%x", 0x100+i)
		cs = append(cs, &store.Certificate{Serial: serial, Issuer: "local", DER: der, ChainPEM: "chain-" + serial,
			SANs: []string{fmt.Sprintf("h%d.example.com", i)}, KeyType: "ECDSA P-256", KeyBits: 256, SignatureAlgorithm: "ECDSA-SHA256",
			FingerprintSHA256: fmt.Sprintf("%064x", 0x100+i), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Duration(i/2)*24*time.Hour - time.Minute),
			Status: store.StatusValid, CreatedAt: now, Source: store.SourceIssued})
	}
	must(t, st.InsertCertificates(context.Background(), cs))
}

func TestListPagesWithCursor(t *testing.T) {
	st := storetest.OpenSQLite(t)
	fill(t, st, 9)
	svc := inventory.New(st, func() time.Time { return now })
	ctx := context.Background()
	var got []string
	cur := ""
	for {
		p, err := svc.List(ctx, inventory.Query{Suffix: "*.EXAMPLE.com", Limit: 4, Cursor: cur})
		must(t, err)
		for _, c := range p.Items {
			got = append(got, c.Serial)
		}
		if p.NextCursor == "" {
			break
		}
		cur = p.NextCursor
	}
	if want := "100 101 102 103 104 105 106 107 108"; strings.Join(got, " ") != want {
		t.Fatalf("pages = %v, want %s", got, want)
	}
	// A cursor only continues the listing order it came from.
	p, err := svc.List(ctx, inventory.Query{Limit: 3})
	must(t, err)
	if _, err := svc.List(ctx, inventory.Query{Limit: 2, Sort: "serial", Cursor: p.NextCursor}); !errors.Is(err, inventory.ErrInvalid) {
		t.Fatalf("cursor of another sort order: %v", err)
	}
	if _, err := svc.List(ctx, inventory.Query{Cursor: "%%%"}); !errors.Is(err, inventory.ErrInvalid) {
		t.Fatalf("garbage cursor: %v", err)
	}
	if p.Items[1].Status != "expired" || p.Items[2].Status != "valid" {
		t.Fatalf("statuses %s %s, want expired valid", p.Items[1].Status, p.Items[2].Status)
	}
}

func TestGetRevokeExpiring(t *testing.T) {
	st := storetest.OpenSQLite(t)
	fill(t, st, 9)
	svc := inventory.New(st, func() time.Time { return now })
	ctx := context.Background()
	c, err := svc.Get(ctx, "01:03")
	must(t, err)
	byFP, err := svc.Get(ctx, strings.ToUpper(c.FingerprintSHA256))
	must(t, err)
	if c.Serial != "103" || byFP.Serial != "103" {
		t.Fatalf("get by serial %s, by fingerprint %s", c.Serial, byFP.Serial)
	}
	if _, err := svc.Get(ctx, "dead"); !errors.Is(err, inventory.ErrNotFound) {
		t.Fatalf("missing certificate: %v", err)
	}
	pem, err := svc.PEM(ctx, "103", false)
	must(t, err)
	if !strings.HasPrefix(string(pem), "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("PEM = %q", pem)
	}
	if chain, _ := svc.PEM(ctx, "103", true); string(chain) != "chain-103" {
		t.Fatalf("chain = %q", chain)
	}
	r, err := svc.Revoke(ctx, "103", 1)
	must(t, err)
	if r.Status != "revoked" || r.RevocationReason != "keyCompromise" {
		t.Fatalf("revoked = %+v", r)
	}
	if _, err := svc.Revoke(ctx, "103", 1); !errors.Is(err, inventory.ErrAlreadyRevoked) {
		t.Fatalf("second revocation: %v", err)
	}
	// The policy of ACME and the admin API (acme.RevocationReasonAllowed):
	// cACompromise (2), certificateHold (6), aACompromise (10) are refused.
	for _, code := range []int{2, 6, 7, 8, 10, -1} {
		if _, err := svc.Revoke(ctx, "104", code); !errors.Is(err, inventory.ErrInvalid) || !strings.Contains(err.Error(), "use unspecified (0), keyCompromise (1)") {
			t.Fatalf("reason %d: %v, want ErrInvalid naming the allowed reasons", code, err)
		}
	}
	// Within 2 days: 102, 103 (revoked now) at 1d-1m, 104, 105 at 2d-1m;
	// 100 and 101 expired a minute ago.
	p, err := svc.Expiring(ctx, 48*time.Hour, inventory.Query{})
	must(t, err)
	var got []string
	for _, c := range p.Items {
		got = append(got, c.Serial)
	}
	if strings.Join(got, " ") != "102 104 105" {
		t.Fatalf("expiring within 2 days = %v", got)
	}
	counts, err := svc.Issued(ctx, "issuer", 24*time.Hour, 0, "")
	must(t, err)
	if len(counts.Items) != 1 || counts.Items[0] != (inventory.Count{Key: "local", Count: 9}) || counts.NextCursor != "" {
		t.Fatalf("issued by issuer = %+v", counts)
	}
}

func TestParsers(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "12h": 12 * time.Hour, "1.5d": 36 * time.Hour,
		// As every setting takes them (config.ParseDuration).
		"1w3d": 10 * 24 * time.Hour, "1d12h": 36 * time.Hour, "2w12h": 348 * time.Hour} {
		if got, err := inventory.ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1d", "3y", "-5h", "1d1w"} {
		if _, err := inventory.ParseDuration(bad); !errors.Is(err, inventory.ErrInvalid) {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
	for in, want := range map[string]struct {
		suffix string
		apex   bool
	}{"example.com": {".example.com", true}, "Example.COM.": {".example.com", true}, ".Example.com.": {".example.com", false}, "*.example.com": {".example.com", false}} {
		if got, apex, err := inventory.NormalizeSuffix(in); err != nil || got != want.suffix || apex != want.apex {
			t.Errorf("NormalizeSuffix(%q) = %q, %v, %v; want %q, %v", in, got, apex, err, want.suffix, want.apex)
		}
	}
	if _, _, err := inventory.NormalizeSuffix("*."); err == nil {
		t.Error("empty suffix accepted")
	}
	if m, err := inventory.ParseAttributes([]string{"env=prod", "note=a=b"}); err != nil || m["env"] != "prod" || m["note"] != "a=b" {
		t.Errorf("ParseAttributes = %v, %v", m, err)
	}
	for _, bad := range [][]string{{"env"}, {"=x"}, {"a=1", "a=2"}} {
		if _, err := inventory.ParseAttributes(bad); err == nil {
			t.Errorf("ParseAttributes(%q) accepted", bad)
		}
	}
}

// TestRevokeKeyCompromiseRevokedWith: on both engines, Revoke for
// keyCompromise with an audit log returns the serials of the other
// certificates with the key that the same transaction revoked, sorted and
// each once, and nothing for another reason. A certificate of the key
// revoked before as superseded is among them: its reason becomes
// keyCompromise (CA/B Forum BR §7.2.2), its revocation time stays, and so
// says its audit event.
func TestRevokeKeyCompromiseRevokedWith(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			if e.Name == store.EnginePostgres {
				storetest.RequirePostgres(t)
			}
			st := e.Open(t)
			ctx := context.Background()
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			must(t, err)
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
			must(t, err)
			var cs []*store.Certificate
			for _, serial := range []string{"a3", "a1", "a2", "a4"} {
				cs = append(cs, &store.Certificate{Serial: serial, Issuer: "local", DER: der, SANs: []string{"k.example.com"},
					KeyType: "ECDSA P-256", KeyBits: 256, SignatureAlgorithm: "ECDSA-SHA256", FingerprintSHA256: serial,
					NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), Status: store.StatusValid, CreatedAt: now,
					Source: store.SourceIssued})
			}
			must(t, st.InsertCertificates(ctx, cs))
			clock := now.Add(-time.Minute)
			svc := inventory.New(st, func() time.Time { return clock }).WithAudit(audit.New(st, nil), "cli:test")
			r, err := svc.Revoke(ctx, "a4", 4) // superseded: nothing else
			must(t, err)
			if r.Serial != "a4" || len(r.RevokedWith) != 0 {
				t.Fatalf("superseded: %s revoked with %v, want a4 alone", r.Serial, r.RevokedWith)
			}
			clock = now
			r, err = svc.Revoke(ctx, "a2", 1)
			must(t, err)
			if r.Serial != "a2" || r.RevocationReason != "keyCompromise" || strings.Join(r.RevokedWith, ",") != "a1,a3,a4" {
				t.Fatalf("keyCompromise: %s (%s) revoked with %v, want a2 with a1, a3, a4 (a4's reason changes)", r.Serial, r.RevocationReason, r.RevokedWith)
			}
			a4, err := st.GetCertificate(ctx, "a4")
			must(t, err)
			if a4.RevocationReason != acme.ReasonKeyCompromise || !a4.RevokedAt.Equal(now.Add(-time.Minute)) {
				t.Errorf("a4 = reason %d at %v; want keyCompromise at %v", a4.RevocationReason, a4.RevokedAt, now.Add(-time.Minute))
			}
			evs, err := st.ListAudit(ctx, store.AuditFilter{ObjectID: "a4", Limit: 10})
			must(t, err)
			if len(evs) != 2 {
				t.Fatalf("%d audit events of a4, want 2", len(evs))
			}
			var after audit.Certificate
			must(t, json.Unmarshal([]byte(evs[1].After), &after))
			if after.RevocationReason != acme.ReasonKeyCompromise || !after.RevokedAt.Equal(now.Add(-time.Minute)) {
				t.Errorf("audit event of a4's change: after = reason %d at %v; want keyCompromise at its first revocation's time", after.RevocationReason, after.RevokedAt)
			}
		})
	}
}

// TestLargestPageSize: 1000, the largest page size the CLI (--limit) and
// the admin API (limit) accept, is served by every paged listing of the
// inventory. The service asks the store for one row more than the page to
// know whether another page follows; the store refused 1001, so
// `certgate cert list --limit 1000` failed and GET
// /api/v1/certificates?limit=1000 answered 500.
func TestLargestPageSize(t *testing.T) {
	st := storetest.OpenSQLite(t)
	fill(t, st, 3)
	svc := inventory.New(st, func() time.Time { return now })
	ctx := context.Background()
	p, err := svc.List(ctx, inventory.Query{Limit: 1000})
	if err != nil {
		t.Fatalf("List with limit 1000: %v", err)
	}
	if len(p.Items) != 3 || p.NextCursor != "" {
		t.Fatalf("List with limit 1000: %d items, cursor %q; want 3 and none", len(p.Items), p.NextCursor)
	}
	if _, err := svc.Expiring(ctx, 30*24*time.Hour, inventory.Query{Limit: 1000}); err != nil {
		t.Fatalf("Expiring with limit 1000: %v", err)
	}
	if _, err := svc.WeakKeys(ctx, inventory.Query{Limit: 1000}); err != nil {
		t.Fatalf("WeakKeys with limit 1000: %v", err)
	}
	if _, err := svc.List(ctx, inventory.Query{Limit: 1001}); !errors.Is(err, inventory.ErrInvalid) {
		t.Fatalf("List with limit 1001: %v, want ErrInvalid", err)
	}
}

// TestListByDomain: --suffix example.com (the CLI's, the admin API's
// ?suffix= and the dashboard's domain search) selects the domain itself
// and the names under it; .example.com and *.example.com only the names
// under it; a name that only ends the same way never.
func TestListByDomain(t *testing.T) {
	st := storetest.OpenSQLite(t)
	var cs []*store.Certificate
	for i, name := range []string{"example.com", "www.example.com", "*.example.com", "my-example.com", "example.org"} {
		serial := fmt.Sprintf("%x", 0x200+i)
		cs = append(cs, &store.Certificate{Serial: serial, Issuer: "local", DER: []byte("der-" + serial), SANs: []string{name},
			FingerprintSHA256: fmt.Sprintf("%064x", 0x200+i), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Duration(i+1) * 24 * time.Hour),
			Status: store.StatusValid, CreatedAt: now, Source: store.SourceImported})
	}
	must(t, st.InsertCertificates(context.Background(), cs))
	svc := inventory.New(st, func() time.Time { return now })
	for in, want := range map[string]string{
		"example.com":     "200 201 202",
		"EXAMPLE.COM.":    "200 201 202",
		".example.com":    "201 202",
		"*.example.com":   "201 202",
		"www.example.com": "201",
		"my-example.com":  "203",
		"com":             "200 201 202 203",
	} {
		p, err := svc.List(context.Background(), inventory.Query{Suffix: in})
		must(t, err)
		var got []string
		for _, c := range p.Items {
			got = append(got, c.Serial)
		}
		if strings.Join(got, " ") != want {
			t.Errorf("--suffix %s: %v, want %s", in, got, want)
		}
	}
}
