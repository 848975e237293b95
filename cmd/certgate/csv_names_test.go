package main

import (
	"encoding/csv"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCSVListsEveryName: the CSV of `cert list` and of the certificate
// reports holds every name of a certificate, as JSON does, where the table
// abbreviates a third and later names to "(+N)" (the CSV did too, so a
// script reading it lost names).
func TestCSVListsEveryName(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	files := t.TempDir()
	names := []string{"a.example.com", "b.example.com", "c.example.com", "d.example.com"}
	writeSelfSigned(t, filepath.Join(files, "many.pem"), 0x61, 10, 0, names...)
	if _, _, err := runCLI(t, nil, "cert", "import", "--data", data, files); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"cert", "list"},
		{"report", "expiring", "--within", "30d"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stdout, _, err := runCLI(t, nil, append(args, "--data", data, "--format", "csv")...)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
			if err != nil || len(recs) != 2 {
				t.Fatalf("csv: %v\n%s", err, stdout)
			}
			col := slices.Index(recs[0], "names")
			if col < 0 {
				t.Fatalf("no names column: %q", recs[0])
			}
			if got := strings.Fields(recs[1][col]); !slices.Equal(got, names) {
				t.Errorf("names column %q, want every name %q", recs[1][col], names)
			}
			// The table still abbreviates.
			stdout, _, err = runCLI(t, nil, append(args, "--data", data)...)
			if err != nil || !strings.Contains(stdout, "a.example.com b.example.com (+2)") {
				t.Errorf("table: %v\n%s", err, stdout)
			}
		})
	}
}
