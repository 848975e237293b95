package main

import (
	"bytes"
	"encoding/csv"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestWriteTableEscapesControlCharacters: values that ACME clients choose
// (custom attributes, contacts) cannot smuggle terminal escape sequences,
// tabs, line breaks or bidirectional overrides into the tables
// administrators read.
func TestWriteTableEscapesControlCharacters(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain value", "plain value"},
		{"\x1b[2J\x1b]0;pwned\x07", `\x1b[2J\x1b]0;pwned\a`},
		{"two\nlines", `two\nlines`},
		{"tab\there", `tab\there`},
		{"c1 \u009b31m", `c1 \u009b31m`},
		{"ünïcode", "ünïcode"},
		{"admin\u202egpj.exe", `admin\u202egpj.exe`}, // shown as "adminexe.jpg" unescaped
		{"\u2067ops\u2069", `\u2067ops\u2069`},
	} {
		var b bytes.Buffer
		if err := writeTable(&b, []string{"FIELD", "VALUE"}, [][]string{{"attribute x", tc.in}}); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != 2 || !strings.HasSuffix(lines[1], "  "+tc.want) {
			t.Errorf("%q printed as %q, want the row to end with %q", tc.in, b.String(), tc.want)
		}
	}
}

// TestWriteRowsCSV: every listing's CSV has the same header style (lower
// case, underscores) and quotes values as encoding/csv does.
func TestWriteRowsCSV(t *testing.T) {
	var b bytes.Buffer
	if err := writeRows(&b, "csv", []string{"SEQ", "CREATED BY"}, [][]string{{"1", "cli:ann, ops"}}); err != nil {
		t.Fatal(err)
	}
	if want := "seq,created_by\n1,\"cli:ann, ops\"\n"; b.String() != want {
		t.Errorf("csv = %q, want %q", b.String(), want)
	}
}

// TestCSVGuardsFormulas: every CSV the CLI writes (listings through
// writeRows, the violation report through writeCSV, and `cert list` end to
// end) puts an apostrophe before a value a spreadsheet would run as a
// formula (OWASP CSV injection): a certificate's names come from whoever
// made the certificate.
func TestCSVGuardsFormulas(t *testing.T) {
	var b bytes.Buffer
	if err := writeRows(&b, "csv", []string{"A", "B", "C"}, [][]string{{"=1+2", "@SUM(A1)", "-3"}}); err != nil {
		t.Fatal(err)
	}
	if want := "a,b,c\n'=1+2,'@SUM(A1),'-3\n"; b.String() != want {
		t.Errorf("writeRows csv = %q, want %q", b.String(), want)
	}
	b.Reset()
	if err := writeCSV(&b, nil, [][]string{{"+x", "\tx", "\rx", "ok"}}); err != nil {
		t.Fatal(err)
	}
	if want := "'+x,'\tx,\"'\rx\",ok\n"; b.String() != want {
		t.Errorf("writeCSV = %q, want %q", b.String(), want)
	}

	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	files := t.TempDir()
	writeSelfSigned(t, filepath.Join(files, "evil.pem"), 0x62, 10, 0, "=HYPERLINK(\"http://x\")")
	if _, _, err := runCLI(t, nil, "cert", "import", "--data", data, files); err != nil {
		t.Fatal(err)
	}
	stdout, _, err := runCLI(t, nil, "cert", "list", "--data", data, "--format", "csv")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("csv: %v\n%s", err, stdout)
	}
	col := slices.Index(recs[0], "names")
	if col < 0 || recs[1][col] != "'=hyperlink(\"http://x\")" {
		t.Errorf("names cell of cert list csv: %q", recs[1])
	}
}
