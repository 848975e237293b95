package display_test

import (
	"bytes"
	"encoding/csv"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/display"
)

// TestCSVCell: a cell that a spreadsheet would read as a formula (first
// character =, +, -, @, tab or carriage return; OWASP "CSV Injection")
// gets a leading apostrophe; any other cell is kept as it is.
func TestCSVCell(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "",
		"plain":                    "plain",
		"a=b":                      "a=b",
		"=HYPERLINK(\"http://x\")": "'=HYPERLINK(\"http://x\")",
		"+1+2":                     "'+1+2",
		"-2+3":                     "'-2+3",
		"@SUM(A1:A9)":              "'@SUM(A1:A9)",
		"\t=1":                     "'\t=1",
		"\r=1":                     "'\r=1",
		" =1":                      " =1",
		"'quoted":                  "'quoted",
	} {
		if got := display.CSVCell(in); got != want {
			t.Errorf("CSVCell(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCSVWriter: CSVWriter guards every cell of every record and still
// quotes as encoding/csv does, so a reader gets the guarded values back.
func TestCSVWriter(t *testing.T) {
	var b bytes.Buffer
	cw := display.NewCSVWriter(&b)
	if err := cw.Write([]string{"name", "=cmd"}); err != nil {
		t.Fatal(err)
	}
	if err := cw.WriteAll([][]string{{"@x", "a, b"}, {"-1", "ok"}}); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"name", "'=cmd"}, {"'@x", "a, b"}, {"'-1", "ok"}}
	if len(recs) != len(want) {
		t.Fatalf("records %q, want %q", recs, want)
	}
	for i := range want {
		if strings.Join(recs[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("record %d = %q, want %q", i, recs[i], want[i])
		}
	}
}

// TestNoUnguardedCSVWriter: no Go file of the module outside this package
// calls csv.NewWriter, so every CSV certgate writes goes through
// NewCSVWriter's guard.
func TestNoUnguardedCSVWriter(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	self, _ := filepath.Abs(".")
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || path == self) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "NewWriter" {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "csv" {
					t.Errorf("%s: csv.NewWriter; use display.NewCSVWriter (formula-injection guard)", fset.Position(sel.Pos()))
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
