package audit_test

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestActionsListsEveryActionConstant: Actions holds the value of every
// Action* constant declared in the package, and nothing else, so that a
// new action cannot be recorded without being listed.
func TestActionsListsEveryActionConstant(t *testing.T) {
	want := stringConstants(t, "Action")
	if got := audit.Actions(); len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("Actions() = %v, want the Action* constants %v", got, want)
	}
}

// stringConstants returns, sorted, the values of the string constants
// whose names start with prefix, declared in the package's non-test files.
func stringConstants(t *testing.T, prefix string) []string {
	t.Helper()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), e.Name(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, prefix) || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					values = append(values, s)
				}
			}
			return true
		})
	}
	slices.Sort(values)
	return values
}

// TestUnknownActionRefused: an action name not in Actions is refused by
// Prepare (nothing recorded) and by List as a filter (it would select
// nothing), naming the known actions; a known one is accepted by both.
func TestUnknownActionRefused(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	l := audit.New(st, nil)
	if err := l.Record(ctx, audit.Event{Actor: "cli:t", Action: "certificate.revoked", ObjectType: "certificate", ObjectID: "1"}); !errors.Is(err, audit.ErrUnknownAction) ||
		!strings.Contains(err.Error(), "certificate.revoke, ") {
		t.Errorf("Record of an unknown action: %v, want ErrUnknownAction naming the actions", err)
	}
	if err := l.Record(ctx, audit.Event{Actor: "cli:t", Action: audit.ActionCertificateRevoke, ObjectType: "certificate", ObjectID: "1"}); err != nil {
		t.Fatal(err)
	}
	if evs, err := l.List(ctx, store.AuditFilter{Action: "certificate.revokee"}); !errors.Is(err, audit.ErrUnknownAction) ||
		!strings.Contains(err.Error(), `"certificate.revokee"`) || !strings.Contains(err.Error(), "account.create, ") {
		t.Errorf("List by an unknown action: %v %v, want ErrUnknownAction naming it and the actions", evs, err)
	}
	if evs, err := l.List(ctx, store.AuditFilter{Action: audit.ActionCertificateRevoke}); err != nil || len(evs) != 1 {
		t.Errorf("List by a known action: %v %v, want the one event", evs, err)
	}
}

// TestObjectTypesListsEveryObjectConstant: ObjectTypes holds the value of
// every Object* constant declared in the package, and nothing else, so
// that a new object type cannot be recorded without being accepted as a
// filter.
func TestObjectTypesListsEveryObjectConstant(t *testing.T) {
	want := stringConstants(t, "Object")
	if got := audit.ObjectTypes(); len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("ObjectTypes() = %v, want the Object* constants %v", got, want)
	}
}

// TestUnknownObjectTypeRefused: List refuses to filter by an object type
// that is not one of ObjectTypes (a typo such as "cert" selected nothing
// and answered an empty page), naming it and the known ones; a known one
// selects its events.
func TestUnknownObjectTypeRefused(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	l := audit.New(st, nil)
	if err := l.Record(ctx, audit.Event{Actor: "cli:t", Action: audit.ActionCertificateRevoke, ObjectType: audit.ObjectCertificate, ObjectID: "1"}); err != nil {
		t.Fatal(err)
	}
	if evs, err := l.List(ctx, store.AuditFilter{ObjectType: "cert"}); !errors.Is(err, audit.ErrUnknownObjectType) ||
		err.Error() != `unknown audit object type "cert" (the object types: account, approval, certificate, eab_key, intermediate, notification, profile, rate_limit_override, session, token)` {
		t.Errorf("List by an unknown object type: %v %v, want ErrUnknownObjectType naming it and the object types", evs, err)
	}
	if evs, err := l.List(ctx, store.AuditFilter{ObjectType: audit.ObjectCertificate}); err != nil || len(evs) != 1 {
		t.Errorf("List by a known object type: %v %v, want the one event", evs, err)
	}
}
