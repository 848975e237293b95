package policy

import (
	"reflect"
	"regexp"
	"testing"

	"github.com/certgate/certgate/internal/config"
)

// TestDurationPattern: DurationPattern matches every duration
// config.ParseDuration accepts (so the admin API's schema check refuses
// none that the profile loader takes), and not the malformed ones; every
// Duration field of a profile carries it as its pattern tag.
func TestDurationPattern(t *testing.T) {
	re := regexp.MustCompile(DurationPattern)
	for _, s := range []string{"90d", "1d12h", "0", "+0", "-0", "0s", "0d", "+5d", "007d", "36h", "1.5h", ".5h", "5.h",
		"1h30m", "300ms", "2us", "2µs", "2μs", "10ns", "1d-5h", "-5h", "1d0", "30d", "199d", "1h0m0s",
		"1w", "2w", "1w3d", "2w12h", "1w2d3h", "0w", "+1w", "1w0"} {
		if _, err := config.ParseDuration(s); err != nil {
			t.Fatalf("sample %q: ParseDuration refuses it: %v", s, err)
		}
		if !re.MatchString(s) {
			t.Errorf("%q: accepted by ParseDuration, refused by DurationPattern", s)
		}
	}
	for _, s := range []string{"", "x", "soon", "90", "d", "1.5d", "5h1d", "1d5d", "90 d", "90days", "h", ".h", "1d 2h",
		"1.5w", "1d1w", "5h1w", "1w1w", "w", "2W", "1w 2d"} {
		if _, err := config.ParseDuration(s); err == nil {
			t.Fatalf("sample %q: ParseDuration accepts it", s)
		}
		if re.MatchString(s) {
			t.Errorf("%q: refused by ParseDuration, matched by DurationPattern", s)
		}
	}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type, string)
	walk = func(ty reflect.Type, path string) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || seen[ty] {
			return
		}
		seen[ty] = true
		for i := range ty.NumField() {
			f := ty.Field(i)
			if !f.IsExported() {
				continue
			}
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft == reflect.TypeFor[Duration]() {
				if got := f.Tag.Get("pattern"); got != DurationPattern {
					t.Errorf("%s.%s: pattern tag %q, want DurationPattern", path, f.Name, got)
				}
				continue
			}
			walk(f.Type, path+"."+f.Name)
		}
	}
	walk(reflect.TypeFor[Profile](), "Profile")
}
