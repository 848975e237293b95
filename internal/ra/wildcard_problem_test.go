package ra

import (
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
)

// TestProblemsNameTheWildcard: the order's error about a failed wildcard
// authorization, and a caa problem of finalize about one, name the
// identifier as the order holds it, "*.example.test" (RFC 8555 §6.7.1,
// §7.1.3); they named the base name, whose own authorization may be valid.
func TestProblemsNameTheWildcard(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	base := acme.Identifier{Type: acme.IdentifierDNS, Value: "example.test"}
	o := &store.Order{Status: acme.StatusPending, Expires: now.Add(time.Hour)}
	azs := []*store.Authorization{
		{Identifier: base, Status: acme.StatusValid, Expires: now.Add(time.Hour)},
		{Identifier: base, Wildcard: true, Status: acme.StatusInvalid, Expires: now.Add(time.Hour)},
	}
	p := OrderError(o, azs, now)
	if p == nil || p.Identifier == nil || p.Identifier.Value != "*.example.test" || p.Detail != "authorization for *.example.test is invalid" {
		t.Errorf("order error: %+v, want it to name *.example.test", p)
	}

	caa := func(az *store.Authorization) error {
		pr := acme.NewProblem(acme.CAA, "CAA forbids issuance for %s", az.Identifier.Value)
		id := az.Identifier
		pr.Identifier = &id
		return pr
	}
	err := checkCAAEach(azs[1:], "CAA re-checked at finalize", caa)
	if p, ok := acme.AsProblem(err); !ok || p.Identifier == nil || p.Identifier.Value != "*.example.test" {
		t.Errorf("one caa problem: %+v, want it to name *.example.test", err)
	}
	err = checkCAAEach(azs, "CAA re-checked at finalize", caa)
	p, ok := acme.AsProblem(err)
	if !ok || len(p.Subproblems) != 2 {
		t.Fatalf("two caa problems: %+v, want two subproblems", err)
	}
	if got := []string{p.Subproblems[0].Identifier.Value, p.Subproblems[1].Identifier.Value}; got[0] != "example.test" || got[1] != "*.example.test" {
		t.Errorf("subproblems name %v, want example.test and *.example.test", got)
	}
}
