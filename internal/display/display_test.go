package display_test

import (
	"testing"

	"github.com/certgate/certgate/internal/display"
)

// TestEscape: control and bidirectional formatting characters are shown
// in Go syntax; letters are kept; EscapeLines keeps line feeds only.
func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain value":                 "plain value",
		"\x1b[2J\x1b]0;pwned\x07":     `\x1b[2J\x1b]0;pwned\a`,
		"two\nlines":                  `two\nlines`,
		"ünïcode":                     "ünïcode",
		"admin\u202egpj.exe":          `admin\u202egpj.exe`,
		"\u202a\u202b\u202c\u202d":    `\u202a\u202b\u202c\u202d`,
		"\u2066\u2067\u2068ops\u2069": `\u2066\u2067\u2068ops\u2069`,
		"\u200fx\u061c":               `\u200fx\u061c`,
	} {
		if got := display.Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
	if got, want := display.EscapeLines("{\n  \"a\": \"\u202e\t\"\n}"), "{\n  \"a\": \"\\u202e\\t\"\n}"; got != want {
		t.Errorf("EscapeLines = %q, want %q", got, want)
	}
}

// TestWidth: CJK characters take two cells, combining marks and
// zero-width format characters none, others one.
func TestWidth(t *testing.T) {
	for s, want := range map[string]int{
		"":             0,
		"abc":          3,
		"日本語テキスト":      14,
		"ｆｕｌｌ":         8,
		"e\u0301":      1, // e and a combining acute accent
		"a\u200bb":     2, // a zero-width space between
		"Ünïcödé":      7,
		"attr=日本 team": 14,
	} {
		if got := display.Width(s); got != want {
			t.Errorf("Width(%q) = %d, want %d", s, got, want)
		}
	}
}
