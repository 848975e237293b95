package main

import (
	"bytes"
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
