package policy

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
)

// TestRegexpAssertionsExact: the search of whether a regexp rule can
// match a name decides the empty-width assertions \b, \B, ^ and $ from the
// bytes around them; it took them as always true. So a deny rule that can
// match no name under a wildcard (/[a-z]+\B\.example\.com/: a letter
// before a dot is a word boundary) denied *.example.com, and such a rule
// was accepted by CheckRule (profile create and update), which now refuses
// it as matching no name; a rule whose assertions hold somewhere (/\bsecret\b.*/,
// /.*\Bsecret\.example\.com/) still covers the wildcard.
func TestRegexpAssertionsExact(t *testing.T) {
	for _, tc := range []struct {
		expr    string
		covered bool // a name under *.example.com may match
	}{
		{`[a-z]+\B\.example\.com`, false},
		{`[a-z]+\b\.example\.com`, true},
		{`a\bb\.example\.com`, false},
		{`a\Bb\.example\.com`, true},
		{`x\B-y\.example\.com`, false},
		{`x-\By\.example\.com`, false},
		{`x\b-y\.example\.com`, true},
		{`\Bsecret\.example\.com`, false},
		{`.*\Bsecret\.example\.com`, true}, // topsecret.example.com
		{`\bsecret\b.*`, true},
		{`a$b\.example\.com`, false},
		{`a^b\.example\.com`, false},
		{`(?:a\B|b)\.example\.com`, true}, // b.example.com
	} {
		r, err := ParseRule("/" + tc.expr + "/")
		if err != nil {
			t.Fatal(err)
		}
		if got := mayMatchTogether(coveredShapes{base: "example.com"}, r.prog); got != tc.covered {
			t.Errorf("/%s/ under *.example.com: search says %v, want %v", tc.expr, got, tc.covered)
		}
		p := valid(t, Profile{Name: "web", Wildcard: true, Deny: []string{"/" + tc.expr + "/"}})
		err = p.CheckIdentifiers([]acme.Identifier{dns("*.example.com")}, nil)
		if denied := err != nil; denied != tc.covered {
			t.Errorf("deny /%s/: *.example.com refused: %v, want refused %v", tc.expr, err, tc.covered)
		}
	}
	for _, dead := range []string{`/[a-z]+\B\.example\.com/`, `/a\bb\.example\.com/`, `/a$b\.com/`} {
		err := CheckRule(dead)
		if err == nil || !strings.Contains(err.Error(), "can match no name") {
			t.Errorf("CheckRule(%s): %v, want a rule that can match no name", dead, err)
		}
	}
	if err := CheckRule(`/.*\Bsecret\.example\.com/`); err != nil {
		t.Errorf("CheckRule: %v", err)
	}
}

// TestRegexpSearchExactRandom: for random expressions of at most five
// one-byte pieces and assertions (\b, \B, ^, $) before ".ex.co", the search
// answers whether a name one label below ex.co matches exactly as trying
// every such label over a, b, 0 and - does (one word letter is as good as
// another for the assertions).
func TestRegexpSearchExactRandom(t *testing.T) {
	pieces := []string{"a", "b", "0", "-", "[a-z]", "[0-9]", `\w`, `\W`, ".", "(?:a|-)", `\b`, `\B`, `\b`, `\B`, "^", "$"}
	var labels []string
	var grow func(prefix string)
	grow = func(prefix string) {
		if prefix != "" {
			labels = append(labels, prefix)
		}
		if len(prefix) == 5 {
			return
		}
		for _, c := range "ab0-" {
			grow(prefix + string(c))
		}
	}
	grow("")
	rng := rand.New(rand.NewPCG(18, 5))
	for range 400 {
		var b strings.Builder
		for range 1 + rng.IntN(5) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		expr := b.String() + `\.ex\.co`
		r, err := ParseRule("/" + expr + "/")
		if err != nil {
			t.Fatal(err)
		}
		want := false
		for _, l := range labels {
			if r.re.MatchString(l + ".ex.co") {
				want = true
				break
			}
		}
		if got := mayMatchTogether(coveredShapes{base: "ex.co"}, r.prog); got != want {
			t.Errorf("/%s/: search says %v, trying every label %v", expr, got, want)
		}
	}
}
