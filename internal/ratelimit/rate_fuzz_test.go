package ratelimit

// Fuzz target for the rate settings of certgate serve (flags, CERTGATE_*
// variables, the YAML file) and of `certgate ratelimit` overrides.
// Findings are kept in testdata/fuzz/FuzzParseRate/ and replayed by plain
// `go test`.
//
//	go test -run '^$' -fuzz '^FuzzParseRate$' -fuzztime 1m -parallel 1 ./internal/ratelimit/

import (
	"strings"
	"testing"
)

// FuzzParseRate: ParseRate never panics and refuses with one line; a rate
// it accepts is disabled (the zero Rate) or has a positive count and
// period, and String writes it as text ParseRate reads back as the same
// rate.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"300/3h", "50/7d", "50/1w", "0", "0/1h", "5/0", "5/-1h", " 5/1h ", "+5/1h", "-5/1h", "05/1h",
		"5/1h30m", "5/1d12h", "5/1.5s", "5/1ns", "9223372036854775807/1ns", "9223372036854775808/1h", "1/106751d",
		"1/106752d", "5", "/1h", "5/", "5//1h", "5/1h/2", "5/1x", "٣/1h", "5/1h\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("ParseRate(%q): error of several lines %q", s, err)
			}
			return
		}
		if r != (Rate{}) && (r.Count <= 0 || r.Period <= 0) {
			t.Fatalf("ParseRate(%q) = %+v: neither disabled nor a positive count and period", s, r)
		}
		out := r.String()
		back, err := ParseRate(out)
		if err != nil || back != r {
			t.Fatalf("ParseRate(%q) = %+v, written %q, read back as %+v, %v", s, r, out, back, err)
		}
	})
}
