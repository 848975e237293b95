package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/inventory"
)

// TestReportIssuedByDayBefore1970: `certgate report issued --by day`
// counts an imported certificate whose notBefore is before 1970 on its
// own UTC day; one of 1969-12-31 counted on 1970-01-01, and one of
// 1969-12-30 on 1969-12-31 (the day was truncated toward zero).
func TestReportIssuedByDayBefore1970(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	files := t.TempDir()
	for i, nb := range []time.Time{
		time.Date(1969, 12, 30, 18, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 12, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(0x60 + i)), Subject: pkix.Name{CommonName: "old.example.test"},
			DNSNames: []string{"old.example.test"}, NotBefore: nb, NotAfter: nb.AddDate(60, 0, 0)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(files, tmpl.SerialNumber.Text(16)+".pem"),
			pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := runCLI(t, nil, "cert", "import", "--data", data, files); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, nil, "report", "issued", "--data", data, "--by", "day", "--since", "21900d", "--format", "json")
	var got inventory.CountPage
	if err != nil || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("report issued: %v\n%s", err, out)
	}
	want := []inventory.Count{{Key: "1969-12-30", Count: 1}, {Key: "1969-12-31", Count: 2}, {Key: "1970-01-01", Count: 1}}
	if !reflect.DeepEqual(got.Items, want) {
		t.Errorf("report issued --by day: %+v, want %+v", got.Items, want)
	}
}
