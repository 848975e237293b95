package loadgen

import (
	"context"
	"errors"
	"net/http"
	"strings"
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

// TestDelayRetryAfterZero: a Retry-After of 0 (or a date past) does not
// shorten the backoff: the tool used to poll again at once, attempt after
// attempt, with no pause at all. A longer Retry-After is honoured.
func TestDelayRetryAfterZero(t *testing.T) {
	r := &run{}
	for _, v := range []string{"0", "Mon, 01 Jan 2001 00:00:00 GMT"} {
		hint := &capture{retryAfter: v}
		for n, w := range []time.Duration{10, 20, 40} {
			if got := r.delay(hint, n); got != w*time.Millisecond {
				t.Errorf("Retry-After %q, attempt %d: %v, want the backoff %v", v, n, got, w*time.Millisecond)
			}
		}
	}
	if got := r.delay(&capture{retryAfter: "3"}, 9); got != 3*time.Second {
		t.Errorf("Retry-After 3 after the backoff reached its maximum: %v, want 3s", got)
	}
}

// roundTripFunc is an http.RoundTripper of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestRequestsPerCompletedFlow: requests_per_flow is the requests of the
// completed flows per completed flow; a failed flow's requests (here 12:
// a newOrder sent six times, with nonces) count in requests only. The
// former summary divided every request by the completed flows: 8.5 here.
// The report says "1 account", not "1 accounts".
func TestRequestsPerCompletedFlow(t *testing.T) {
	c := newCollector()
	tr := &captureTransport{next: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody}, nil
	}), requests: &c.requests}
	send := func(ctx context.Context, n int) {
		for range n {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://127.0.0.1/acme", nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.startFlows()
	okCtx, okSent := withFlowRequests(context.Background())
	send(okCtx, 3)
	pctx, _ := withCapture(okCtx) // a poll's context, derived from the flow's
	send(pctx, 2)
	failCtx, failSent := withFlowRequests(context.Background())
	send(failCtx, 12)
	if okSent.Load() != 5 || failSent.Load() != 12 {
		t.Fatalf("flows sent %d and %d requests, want 5 and 12", okSent.Load(), failSent.Load())
	}
	c.ok(&stepTimes{}, time.Second, okSent.Load())
	c.fail("urn:ietf:params:acme:error:serverInternal", errors.New("newOrder: refused"))
	s := c.summary(&Config{Flows: 2, Concurrency: 1, Accounts: 1, KeyType: "ecdsa"}, time.Second)
	if s.Requests != 17 || s.RequestsPerFlow != 5 {
		t.Errorf("requests %d, %v per flow; want 17 and 5 (the completed flow's)", s.Requests, s.RequestsPerFlow)
	}
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(concurrency 1, 1 account, ecdsa keys)", "requests    5.00 per completed flow (17 in all, failed flows' included)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
