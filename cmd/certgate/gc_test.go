package main

import "testing"

// TestServeGCPercent: serve sets its GOGC default only when the GOGC
// environment variable is unset; any value there (a number, "off") wins.
func TestServeGCPercent(t *testing.T) {
	for _, c := range []struct {
		env    string
		pct    int
		setsIt bool
	}{
		{"", defaultGCPercent, true},
		{"100", 0, false},
		{"off", 0, false},
	} {
		pct, ok := serveGCPercent(func(k string) string {
			if k == "GOGC" {
				return c.env
			}
			return ""
		})
		if pct != c.pct || ok != c.setsIt {
			t.Errorf("GOGC=%q: serveGCPercent = %d, %v; want %d, %v", c.env, pct, ok, c.pct, c.setsIt)
		}
	}
}

// TestGCPercentUnlessSet: bench acme's default GOGC applies only when the
// GOGC environment variable is unset.
func TestGCPercentUnlessSet(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GOGC" {
				return v
			}
			return ""
		}
	}
	if pct, ok := gcPercentUnlessSet(env(""), benchACMEGCPercent); pct != benchACMEGCPercent || !ok {
		t.Errorf("GOGC unset: %d, %v; want %d, true", pct, ok, benchACMEGCPercent)
	}
	if pct, ok := gcPercentUnlessSet(env("50"), benchACMEGCPercent); pct != 0 || ok {
		t.Errorf("GOGC=50: %d, %v; want 0, false", pct, ok)
	}
}
