package acme_test

import (
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
)

// TestRevocationReasons: the one revocation reason policy of certgate
// accepts RFC 5280 §5.3.1 codes 0, 1, 3, 4, 5 and 9, by name
// (case-insensitive) or number, and refuses the others with an error naming
// the reason given and the allowed ones.
func TestRevocationReasons(t *testing.T) {
	for code := -1; code <= 11; code++ {
		want := code == 0 || code == 1 || code == 3 || code == 4 || code == 5 || code == 9
		if got := acme.RevocationReasonAllowed(code); got != want {
			t.Errorf("RevocationReasonAllowed(%d) = %v, want %v", code, got, want)
		}
	}
	for in, want := range map[string]int{"keyCompromise": 1, "SUPERSEDED": 4, "0": 0, "9": 9, "privilegeWithdrawn": 9, "cessationofoperation": 5} {
		if got, err := acme.ParseRevocationReason(in); err != nil || got != want {
			t.Errorf("ParseRevocationReason(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"cACompromise", "2", "aACompromise", "10", "certificateHold", "6", "8", "7", "-1", "nope", ""} {
		_, err := acme.ParseRevocationReason(bad)
		if err == nil {
			t.Errorf("ParseRevocationReason(%q) accepted", bad)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, `"`+bad+`"`) || !strings.Contains(msg, acme.AllowedRevocationReasons) {
			t.Errorf("ParseRevocationReason(%q) error %q does not name the reason and the allowed ones", bad, msg)
		}
	}
	if got := acme.RevocationReasonName(10); got != "aACompromise" {
		t.Errorf("RevocationReasonName(10) = %q", got)
	}
	if got := acme.RevocationReasonName(7); got != "7" {
		t.Errorf("RevocationReasonName(7) = %q", got)
	}
}
