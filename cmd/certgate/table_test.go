package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/display"
)

// TestWriteTableAlignsWideCharacters: columns after a value with East
// Asian wide characters stay aligned in a terminal (text/tabwriter counted
// one cell per character, so `account list` with an attribute
// uni=日本語テキスト pushed the next column seven cells right), and cells
// are escaped; a nil header prints rows only (a later page of `report
// violations`).
func TestWriteTableAlignsWideCharacters(t *testing.T) {
	var b bytes.Buffer
	rows := [][]string{{"a1", "uni=日本語テキスト", "ops@example.com"}, {"a2", "team=x", "dev@example.com\x1b[2J"}}
	if err := writeTable(&b, []string{"ID", "ATTRIBUTES", "CONTACT"}, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("table:\n%s", b.String())
	}
	col := -1
	for i, l := range lines {
		// The display column where the third cell starts.
		idx := strings.LastIndex(l, "  ") + 2
		c := display.Width(l[:idx])
		if i > 0 && c != col {
			t.Errorf("line %d: third column at cell %d, want %d:\n%s", i, c, col, b.String())
		}
		col = c
	}
	if !strings.Contains(b.String(), `dev@example.com\x1b[2J`) {
		t.Errorf("escape sequence not escaped:\n%s", b.String())
	}
	b.Reset()
	if err := writeTable(&b, nil, rows[:1]); err != nil || strings.Contains(b.String(), "ID") || strings.Count(b.String(), "\n") != 1 {
		t.Errorf("nil header: %v\n%s", err, b.String())
	}
}
