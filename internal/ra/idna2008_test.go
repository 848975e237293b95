package ra

import (
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
)

// TestNormalizeIdentifiersIDNA2008: an A-label whose U-label holds an
// emoji or another symbol passed x/net/idna's Registration profile (UTS
// #46 keeps them valid) although IDNA2008 disallows them (RFC 5892); it is
// refused with rejectedIdentifier, the detail naming the label, what it
// decodes to and why.
func TestNormalizeIdentifiersIDNA2008(t *testing.T) {
	_, err := NormalizeIdentifiers([]acme.Identifier{{Type: "dns", Value: "www.XN--LS8H.example"}})
	p, ok := acme.AsProblem(err)
	if !ok || p.Type != acme.RejectedIdentifier {
		t.Fatalf("xn--ls8h: %v, want rejectedIdentifier", err)
	}
	for _, want := range []string{"xn--ls8h", `\U0001f4a9`, "IDNA2008 disallows", "emoji"} {
		if !strings.Contains(p.Detail, want) {
			t.Errorf("detail %q lacks %q", p.Detail, want)
		}
	}
}
