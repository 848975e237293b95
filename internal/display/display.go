// Package display makes strings that come from outside certgate (custom
// attributes set by ACME clients, subjects of certificates a scan
// reached, audit event details) safe to show to a person, in CLI tables
// and on the dashboard.
package display

import (
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// Escape returns s with control characters (in Go syntax, e.g. \x1b,
// \n) and bidirectional formatting characters (e.g. \u202e, RIGHT-TO-LEFT
// OVERRIDE; U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C)
// escaped, so that a value can neither break a table, send escape
// sequences to a terminal, nor display reordered as another value. Other
// characters, including non-ASCII letters, are kept.
func Escape(s string) string { return escape(s, false) }

// EscapeLines is Escape keeping line feeds, for multi-line text such as
// indented JSON.
func EscapeLines(s string) string { return escape(s, true) }

func escape(s string, keepLF bool) string {
	escaped := func(r rune) bool {
		return (unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)) && (r != '\n' || !keepLF)
	}
	if !strings.ContainsFunc(s, escaped) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if escaped(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Width returns the number of terminal cells s takes: two for an East
// Asian wide or fullwidth character (Unicode UAX #11, e.g. 日本), none for
// a combining mark or a zero-width format character, one for others. For
// aligning table columns: text/tabwriter counts one per character, so a
// column after a wide value shifted.
func Width(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) || unicode.Is(unicode.Cf, r):
		case width.LookupRune(r).Kind() == width.EastAsianWide || width.LookupRune(r).Kind() == width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}
