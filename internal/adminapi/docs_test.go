package adminapi

import (
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store/storetest"
)

var update = flag.Bool("update", false, "rewrite the generated tables of docs/api.md")

// between returns the text of doc between the lines "<!-- BEGIN name -->"
// and "<!-- END name -->".
func between(t *testing.T, doc, name string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "<!-- BEGIN "+name+" -->\n")
	if !ok {
		t.Fatalf("docs/api.md lacks <!-- BEGIN %s -->", name)
	}
	body, _, ok := strings.Cut(rest, "<!-- END "+name+" -->")
	if !ok {
		t.Fatalf("docs/api.md lacks <!-- END %s -->", name)
	}
	return body
}

// TestDocsMatchCode: docs/api.md shows exactly auth.Table (the permission
// table the API enforces) and exactly the operations of the served
// OpenAPI document. On failure the test prints the text to paste.
func TestDocsMatchCode(t *testing.T) {
	b, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if *update {
		doc = replaceBetween(t, doc, "permission table", auth.MarkdownTable())
	}
	if got, want := between(t, doc, "permission table"), auth.MarkdownTable(); got != want {
		t.Errorf("docs/api.md permission table is stale (go test ./internal/adminapi -run TestDocsMatchCode -update rewrites it):\n%s", want)
	}
	f := newFixture(t, storetest.Engines()[0].Open(t))
	_, ops := f.loadDoc()
	slices.SortStableFunc(ops, func(a, b operation) int {
		if c := strings.Compare(a.path, b.path); c != 0 {
			return c
		}
		return strings.Compare(a.method, b.method)
	})
	var want strings.Builder
	want.WriteString("| method | path | permission | what |\n|---|---|---|---|\n")
	for _, op := range ops {
		want.WriteString("| " + op.method + " | `" + op.path + "` | `" + op.permission + "` | " + op.summary + " |\n")
	}
	if *update {
		doc = replaceBetween(t, doc, "endpoints", want.String())
		if err := os.WriteFile("../../docs/api.md", []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := between(t, doc, "endpoints"); got != want.String() {
		t.Errorf("docs/api.md endpoint table is stale (go test ./internal/adminapi -run TestDocsMatchCode -update rewrites it):\n%s", want.String())
	}
}

// replaceBetween returns doc with the text between the markers of name
// replaced by body.
func replaceBetween(t *testing.T, doc, name, body string) string {
	t.Helper()
	old := between(t, doc, name)
	return strings.Replace(doc, "<!-- BEGIN "+name+" -->\n"+old, "<!-- BEGIN "+name+" -->\n"+body, 1)
}
