package ra

import (
	"fmt"
	"testing"

	"github.com/certgate/certgate/internal/acme"
)

// TestIdentifierLimitAfterDuplicates: the limit of maxIdentifiers (100)
// identifiers per order counts them once duplicates are removed
// (NormalizeIdentifiers): 100 distinct ones with duplicates (the same
// value, or one that normalises to it) are accepted as 100; 101 distinct
// ones are rejectedIdentifier.
func TestIdentifierLimitAfterDuplicates(t *testing.T) {
	var ids []acme.Identifier
	for i := range maxIdentifiers {
		ids = append(ids, acme.Identifier{Type: acme.IdentifierDNS, Value: fmt.Sprintf("n%d.example.com", i)})
	}
	withDups := append(append([]acme.Identifier{}, ids...),
		acme.Identifier{Type: acme.IdentifierDNS, Value: "n0.example.com"},
		acme.Identifier{Type: acme.IdentifierDNS, Value: "N1.Example.COM"},
		acme.Identifier{Type: acme.IdentifierDNS, Value: "n2.example.com"})
	out, err := NormalizeIdentifiers(withDups)
	if err != nil || len(out) != maxIdentifiers {
		t.Fatalf("%d distinct identifiers and 3 duplicates: %d identifiers, %v; want %d", maxIdentifiers, len(out), err, maxIdentifiers)
	}
	over := append(withDups, acme.Identifier{Type: acme.IdentifierDNS, Value: "n100.example.com"})
	_, err = NormalizeIdentifiers(over)
	if p, ok := acme.AsProblem(err); !ok || p.Type != acme.RejectedIdentifier {
		t.Fatalf("%d distinct identifiers: %v, want rejectedIdentifier", maxIdentifiers+1, err)
	}
}
