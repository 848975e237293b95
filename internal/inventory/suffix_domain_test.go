package inventory_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/inventory"
)

// TestNormalizeSuffixRefusesNonDomains: a domain search is a domain. The
// tail of an IP address ("0.0.1", "1", "::1") matched addresses by their
// text, and malformed domains ("..example.com", "ex*ample.com",
// "*example.com", "example.com/", "-example.com") were taken silently,
// "*example.com" acting as ".example.com". Each is refused with ErrInvalid
// naming "suffix" and saying what is wrong.
func TestNormalizeSuffixRefusesNonDomains(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.1":                          "ends in a number: an IP address",
		"1":                              "ends in a number: an IP address",
		"127.0.0.1":                      "is an IP address, not a domain",
		"::1":                            "is an IP address",
		"2001:db8::":                     "is an IP address",
		"..example.com":                  "has an empty label",
		"a..example.com":                 "has an empty label",
		"ex*ample.com":                   "has a '*' inside it",
		"**.example.com":                 "has a '*' inside it",
		"*example.com":                   "has a '*' inside it",
		"a.*.example":                    "has a '*' inside it",
		"example.com/":                   `holds "/"`,
		"exa%mple.com":                   `holds "%"`,
		"example.com:443":                `holds ":"`,
		"exämple.com":                    "is not ASCII",
		strings.Repeat("a", 64) + ".com": "longer than 63",
		"*.":                             "empty name suffix",
		".":                              "empty name suffix",
	} {
		_, _, err := inventory.NormalizeSuffix(in)
		var ie *inventory.InvalidError
		if !errors.As(err, &ie) || ie.Param != "suffix" || !strings.Contains(err.Error(), want) {
			t.Errorf("NormalizeSuffix(%q) = %v; want an InvalidError of suffix saying %q", in, err, want)
		}
	}
	for in, want := range map[string]string{"_acme-challenge.example.com": "._acme-challenge.example.com",
		"xn--exmple-cua.com": ".xn--exmple-cua.com", "1.example.com": ".1.example.com", "example.123a": ".example.123a",
		// Labels a CA would not issue but an imported certificate may
		// carry stay searchable.
		"foo-.example.com": ".foo-.example.com", "-example.com": ".-example.com",
		strings.Repeat("a", 63) + ".com": "." + strings.Repeat("a", 63) + ".com", "COM": ".com"} {
		if got, apex, err := inventory.NormalizeSuffix(in); err != nil || got != want || !apex {
			t.Errorf("NormalizeSuffix(%q) = %q, %v, %v; want %q, true", in, got, apex, err, want)
		}
	}
}
