package loadgen

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"1", time.Second, true},
		{" 0 ", 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDelay(t *testing.T) {
	r := &run{}
	want := []time.Duration{10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for n, w := range want {
		if got := r.delay(nil, n); got != w*time.Millisecond {
			t.Errorf("delay(%d) = %v, want %v", n, got, w*time.Millisecond)
		}
	}
	hint := &capture{retryAfter: "2"}
	if got := r.delay(hint, 0); got != 2*time.Second {
		t.Errorf("with Retry-After 2: %v", got)
	}
	r.cfg.IgnoreRetryAfter = true
	if got := r.delay(hint, 0); got != 10*time.Millisecond {
		t.Errorf("Retry-After ignored: %v", got)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	s := distribution("x", ds)
	if s.P50 != 50 || s.P90 != 90 || s.P99 != 99 || s.Max != 100 || s.Mean != 50.5 || s.Count != 100 {
		t.Errorf("%+v", s)
	}
	if one := distribution("x", []time.Duration{7 * time.Millisecond}); one.P50 != 7 || one.P99 != 7 {
		t.Errorf("%+v", one)
	}
}
