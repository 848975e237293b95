package store

import (
	"path/filepath"
	"strings"
)

// sqliteURI is the "file:" URI (https://www.sqlite.org/uri.html) of the
// SQLite database at path with the query query: the characters a URI
// gives a meaning to ('%', '?', '#') are percent-encoded, so that a data
// directory such as /srv/certgate#2 names its own database, not the file
// /srv/certgate that SQLite took the path up to the '#' for (created
// there with the process's umask, readable by others). A path beginning
// with "//" is cleaned, which would otherwise be read as an authority.
func sqliteURI(path, query string) string {
	if strings.HasPrefix(path, "//") {
		path = filepath.Clean(path)
	}
	var b strings.Builder
	b.WriteString("file:")
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '%':
			b.WriteString("%25")
		case '?':
			b.WriteString("%3F")
		case '#':
			b.WriteString("%23")
		default:
			b.WriteByte(c)
		}
	}
	if query != "" {
		b.WriteByte('?')
		b.WriteString(query)
	}
	return b.String()
}
