package config

import (
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/spf13/pflag"
)

// suggest returns the setting of names that key most likely means, or ""
// when none is close: the same name written with underscores or in
// camelCase (vaHttpPort, va_http_port: how other CAs' files spell keys),
// a typo of at most two edits (at most one for names of up to five
// letters), or a name followed by more words (listen-address, dataDir).
func suggest(key string, names []string) string {
	k := kebab(key)
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	best, bestD := "", 3
	for _, n := range sorted {
		if k == n {
			return n
		}
		if d := editDistance(k, n); d <= min(2, len(n)/3) && d < bestD {
			best, bestD = n, d
		}
	}
	if best != "" {
		return best
	}
	for _, n := range sorted {
		if strings.HasPrefix(k, n+"-") && len(n) > len(best) {
			best = n
		}
	}
	return best
}

// kebab writes a key in the form of flag names: lower case, words
// separated by dashes (camelCase and underscores converted).
func kebab(s string) string {
	var b strings.Builder
	prev := rune(0)
	for _, r := range s {
		switch {
		case r == '_':
			b.WriteByte('-')
		case unicode.IsUpper(r):
			if unicode.IsLower(prev) || unicode.IsDigit(prev) {
				b.WriteByte('-')
			}
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// SuggestFlag returns the flag of fs (without its dashes) that the unknown
// flag name (without its dashes, e.g. "port" of --port) most likely
// means, or "" when none is close. Besides the typos and spellings suggest
// knows, it knows the names other ACME servers and CLIs give the same
// settings (--port and --addr for --listen, --dir and --data-dir for
// --data, --json for --format) and a prefix of one flag (--va-http for
// --va-http-port).
func SuggestFlag(fs *pflag.FlagSet, name string) string {
	var names []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	has := func(n string) bool { return slices.Contains(names, n) }
	if alias := flagAlias(strings.ToLower(name)); alias != "" && has(alias) {
		return alias
	}
	if s := suggest(name, names); s != "" {
		return s
	}
	var only string
	for _, n := range names {
		if strings.HasPrefix(n, kebab(name)) && len(name) >= 3 {
			if only != "" {
				return "" // a prefix of several: no one guess
			}
			only = n
		}
	}
	return only
}

// flagAlias maps a flag name of other tools (step-ca, Vault, Pebble,
// common CLIs) to certgate's flag for the same setting, or "".
func flagAlias(name string) string {
	switch name {
	case "port", "addr", "address", "bind":
		return "listen"
	case "dir", "data-dir", "datadir":
		return "data"
	case "json", "output":
		return "format"
	case "config-file":
		return "config"
	}
	return ""
}

// SuggestEnv returns the CERTGATE_* variable of a setting of fs that the
// unknown variable name most likely means, or "" (see UnknownEnv).
func SuggestEnv(fs *pflag.FlagSet, name string) string {
	var names []string
	fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	s := suggest(strings.ToLower(strings.TrimPrefix(name, "CERTGATE_")), names)
	if s == "" {
		return ""
	}
	return EnvName(s)
}
