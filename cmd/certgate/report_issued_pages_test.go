package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestReportIssuedAllPages: `certgate report issued` prints the whole
// report, as before the admin API paged it, although it has more groups
// (1,205 issuers) than one page holds (1,000): the CLI follows the
// cursor. Every group once, in key order, in table, csv and json.
func TestReportIssuedAllPages(t *testing.T) {
	t.Setenv("CERTGATE_DB", "")
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	st := storetest.OpenDSN(t, server.DSN(data, ""))
	const n = 1205
	now := time.Now().UTC()
	certs := make([]*store.Certificate, n)
	for i := range certs {
		s := fmt.Sprintf("%04x", 0x1000+i)
		certs[i] = &store.Certificate{Serial: s, Issuer: fmt.Sprintf("CN=Issuer %04d", i), DER: []byte("der-" + s), SANs: []string{"i.example.com"},
			KeyType: "ECDSA P-256", KeyBits: 256, SignatureAlgorithm: "ECDSA-SHA256", FingerprintSHA256: "fp-" + s,
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), Status: acme.StatusValid, CreatedAt: now,
			Profile: store.DefaultProfile, Source: store.SourceImported, Attributes: map[string]string{}}
	}
	if err := st.InsertCertificates(context.Background(), certs); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, nil, "report", "issued", "--data", data, "--by", "issuer", "--format", "csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != n+1 {
		t.Fatalf("csv: %v, %d rows, want %d", err, len(rows), n+1)
	}
	for i, r := range rows[1:] {
		if want := fmt.Sprintf("CN=Issuer %04d", i); r[0] != want || r[1] != "1" {
			t.Fatalf("row %d = %q, want %s,1", i+1, r, want)
		}
	}
	out, _, err = runCLI(t, nil, "report", "issued", "--data", data, "--by", "issuer", "--format", "json")
	var page inventory.CountPage
	if err != nil || json.Unmarshal([]byte(out), &page) != nil || len(page.Items) != n || page.NextCursor != "" || strings.Contains(out, "next_cursor") {
		t.Fatalf("json: %v, %d items, cursor %q", err, len(page.Items), page.NextCursor)
	}
	out, _, err = runCLI(t, nil, "report", "issued", "--data", data, "--by", "issuer")
	if err != nil || strings.Count(out, "\n") != n+1 || !strings.Contains(out, "CN=Issuer 1204") {
		t.Fatalf("table: %v, %d lines", err, strings.Count(out, "\n"))
	}
}
