package config

import (
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
