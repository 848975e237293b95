package codequality

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// moduleRoot is the module's directory relative to this package's.
const moduleRoot = "../.."

// parseNonTest parses every non-test .go file under the module's internal/
// and cmd/ directories, with comments.
func parseNonTest(t *testing.T) (*token.FileSet, []*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	var files []*ast.File
	for _, dir := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(moduleRoot, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
			if err != nil {
				return err
			}
			files = append(files, f)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(files) == 0 {
		t.Fatal("no Go files found under internal/ and cmd/")
	}
	return fset, files
}

// undocumented lists, as "file:line: kind Name", the exported identifiers
// of f that have no doc comment: functions, methods of exported types,
// types, constants and variables (a spec in a documented group counts as
// documented, as in go doc), fields of exported struct types and methods
// of exported interface types.
// Package main is skipped: nothing imports it.
func undocumented(fset *token.FileSet, f *ast.File) []string {
	if f.Name.Name == "main" {
		return nil
	}
	var out []string
	report := func(pos token.Pos, kind, name string) {
		p := fset.Position(pos)
		out = append(out, p.Filename[len(moduleRoot)+1:]+":"+strconv.Itoa(p.Line)+": "+kind+" "+name)
	}
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() {
				continue
			}
			name := d.Name.Name
			if d.Recv != nil {
				recv := receiverType(d.Recv.List[0].Type)
				if !ast.IsExported(recv) {
					continue
				}
				name = recv + "." + name
			}
			if d.Doc == nil {
				report(d.Pos(), "func", name)
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					if !s.Name.IsExported() {
						continue
					}
					if s.Doc == nil && d.Doc == nil {
						report(s.Pos(), "type", s.Name.Name)
					}
					members(s.Name.Name, s.Type, report)
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() && s.Doc == nil && d.Doc == nil {
							report(n.Pos(), d.Tok.String(), n.Name)
						}
					}
				}
			}
		}
	}
	return out
}

// members reports the undocumented exported fields of an exported struct
// type and methods of an exported interface type named typ. A field
// documented by a trailing line comment, or by a doc struct tag (the admin
// API's OpenAPI description), counts as documented.
func members(typ string, t ast.Expr, report func(token.Pos, string, string)) {
	var list *ast.FieldList
	kind := "field"
	switch t := t.(type) {
	case *ast.StructType:
		list = t.Fields
	case *ast.InterfaceType:
		list, kind = t.Methods, "method"
	default:
		return
	}
	for _, fld := range list.List {
		if fld.Doc != nil || fld.Comment != nil || hasDocTag(fld) {
			continue
		}
		for _, n := range fld.Names {
			if n.IsExported() {
				report(n.Pos(), kind, typ+"."+n.Name)
			}
		}
	}
}

// hasDocTag reports whether fld has a non-empty doc struct tag, which huma
// puts in the admin API's OpenAPI document as the field's description.
func hasDocTag(fld *ast.Field) bool {
	if fld.Tag == nil {
		return false
	}
	tag, err := strconv.Unquote(fld.Tag.Value)
	return err == nil && reflect.StructTag(tag).Get("doc") != ""
}

// receiverType is the name of a method receiver's type: T for T, *T, T[P]
// and *T[P].
func receiverType(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

// TestExportedIdentifiersDocumented: every exported identifier of the
// module's non-test packages (internal/..., cmd/... other than package
// main) has a doc comment, so that go doc shows what a value is, its units
// and the errors a function returns.
func TestExportedIdentifiersDocumented(t *testing.T) {
	fset, files := parseNonTest(t)
	var missing []string
	for _, f := range files {
		missing = append(missing, undocumented(fset, f)...)
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("%s has no doc comment", m)
	}
}

// docAnchorRef is a reference to a section of the documentation in a
// string of the code (a help text, an error message): docs/FILE.md#ANCHOR.
var docAnchorRef = regexp.MustCompile(`docs/([a-z0-9-]+\.md)#([a-z0-9-]+)`)

// TestDocAnchorsInCodeExist: every docs/FILE.md#ANCHOR that a string of
// the code names (help texts, messages) is a heading of that file, as
// GitHub makes its anchor, so that a reader who follows it lands on the
// section (`certgate init --help` named docs/pki.md#certgate-init, which
// does not exist).
func TestDocAnchorsInCodeExist(t *testing.T) {
	fset, files := parseNonTest(t)
	anchors := map[string]map[string]bool{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			for _, m := range docAnchorRef.FindAllStringSubmatch(lit.Value, -1) {
				if anchors[m[1]] == nil {
					anchors[m[1]] = headingAnchors(t, filepath.Join(moduleRoot, "docs", m[1]))
				}
				if !anchors[m[1]][m[2]] {
					t.Errorf("%s: docs/%s#%s names no heading of docs/%s", fset.Position(lit.Pos()), m[1], m[2], m[1])
				}
			}
			return true
		})
	}
}

// headingAnchors returns the anchors GitHub gives the headings of the
// Markdown file at path: lower case, punctuation but hyphens and
// underscores dropped, spaces made hyphens.
func headingAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for line := range strings.Lines(string(b)) {
		h, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if !ok || !strings.HasPrefix(line, "#") {
			continue
		}
		var a strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(h)) {
			switch {
			case r == ' ':
				a.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				a.WriteRune(r)
			}
		}
		out[a.String()] = true
	}
	return out
}
