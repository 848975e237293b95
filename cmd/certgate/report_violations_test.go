package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestReportViolationsCLI: `certgate report violations` walks every page
// and lists each violating certificate with its reasons, as csv, json and
// a table; compliant certificates are not listed.
func TestReportViolationsCLI(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	if _, _, err := runCLI(t, nil, "profile", "create", "web", "--data", data, "--allow", "*.example.com", "--validity", "30d"); err != nil {
		t.Fatal(err)
	}
	st := storetest.OpenDSN(t, server.DSN(data, ""))
	now := time.Now().UTC().Truncate(time.Second)
	var recs []*store.Certificate
	for i, c := range []struct {
		profile, name string
		days          int
	}{
		{"web", "ok1.example.com", 30}, {"web", "www.example.org", 30}, {"web", "ok2.example.com", 30},
		{"web", "long.example.com", 60}, {"gone", "x.example.com", 30}, {"", "default.example.net", 90},
	} {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(0x71 + i)), DNSNames: []string{c.name}, NotBefore: now.Add(-time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		tmpl.NotAfter = tmpl.NotBefore.Add(time.Duration(c.days)*24*time.Hour - time.Second)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		fp := sha256.Sum256(der)
		recs = append(recs, &store.Certificate{Serial: tmpl.SerialNumber.Text(16), Issuer: "local", DER: der, SANs: tmpl.DNSNames, KeyType: "ECDSA",
			FingerprintSHA256: hex.EncodeToString(fp[:]), NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter, Status: store.StatusValid,
			CreatedAt: now, Source: store.SourceIssued, Profile: c.profile})
	}
	if err := st.InsertCertificates(context.Background(), recs); err != nil {
		t.Fatal(err)
	}

	// csv, one violation per page: every page is walked.
	out, _, err := runCLI(t, nil, "report", "violations", "--data", data, "--format", "csv", "--limit", "1", "--sort", "serial")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v\n%s", err, out)
	}
	if len(rows) != 4 || strings.Join(rows[0], ",") != "serial,not_after,profile,names,reasons" {
		t.Fatalf("csv rows:\n%s", out)
	}
	want := [][2]string{
		{"72", "name www.example.org: not in the profile's allowed names"},
		{"74", "validity 60d exceeds the maximum 30d"},
		{"75", "profile gone no longer exists"},
	}
	for i, w := range want {
		if r := rows[i+1]; r[0] != w[0] || r[4] != w[1] {
			t.Errorf("row %d = %q, want serial %s reason %q", i+1, r, w[0], w[1])
		}
	}

	// json: the admin API's page shape, every page read.
	out, _, err = runCLI(t, nil, "report", "violations", "--data", data, "--format", "json", "--profile", "gone")
	var vs inventory.ViolationPage
	if err != nil || json.Unmarshal([]byte(out), &vs) != nil || len(vs.Items) != 1 || !vs.Items[0].ProfileDeleted ||
		vs.Items[0].Certificate.Serial != "75" || vs.Scanned != 1 || vs.NextCursor != "" {
		t.Fatalf("json: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, nil, "report", "violations", "--data", data, "--format", "json", "--profile", "default")
	if err != nil || json.Unmarshal([]byte(out), &vs) != nil || vs.Items == nil || len(vs.Items) != 0 {
		t.Fatalf("json without violations: %v %q", err, out)
	}

	// table: header and aligned rows; a shorter default validity makes
	// the default-profile certificate violate too.
	out, _, err = runCLI(t, nil, "report", "violations", "--data", data, "--cert-validity", "30d")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 5 || !strings.HasPrefix(lines[0], "SERIAL") || !strings.Contains(out, "validity 90d exceeds the maximum 30d") {
		t.Fatalf("table: %v\n%s", err, out)
	}
	col := strings.Index(lines[0], "PROFILE")
	if !strings.HasPrefix(lines[1][col:], "web") {
		t.Errorf("PROFILE column not aligned:\n%s", out)
	}
}

// TestReportViolationsRefusedPrintsNothing: a query the inventory refuses
// (a profile nobody defined, a malformed cursor) is one line on stderr and
// nothing on stdout in every format; the json form printed its opening
// `{"items": [` before the refusal.
func TestReportViolationsRefusedPrintsNothing(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	for _, bad := range [][]string{{"--profile", "web"}, {"--cursor", "zzz"}} {
		for _, format := range []string{"json", "csv", "table"} {
			args := append([]string{"report", "violations", "--data", data, "--format", format}, bad...)
			out, _, err := runCLI(t, nil, args...)
			if err == nil || out != "" {
				t.Errorf("%v: err %v, stdout %q; want an error and no output", args[2:], err, out)
			}
		}
	}
}
