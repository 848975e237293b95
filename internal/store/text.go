package store

import (
	"strings"
	"unicode/utf8"
)

// PlainText reports whether s is text both engines store and look up
// alike: valid UTF-8 without a NUL character. PostgreSQL refuses any other
// text parameter (SQLSTATE 22021, "invalid byte sequence for encoding
// UTF8"), where SQLite stores it, so callers refuse such input (an RFC 8555
// or RFC 9457 problem) or treat it as an ID that matches nothing before
// it reaches a query.
func PlainText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
