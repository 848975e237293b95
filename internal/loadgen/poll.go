package loadgen

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Polling: the first poll waits pollStart (or the server's Retry-After),
// each later one twice as long as the previous, at most pollMax — unless
// the last response carried a longer Retry-After, which is honoured as
// given.
const (
	pollStart = 10 * time.Millisecond
	pollMax   = time.Second
)

// captureKey is the context key of a *capture.
type captureKey struct{}

// capture receives the Retry-After header of the responses to requests
// made with its context. It is request-scoped: one flow, one call.
type capture struct {
	mu         sync.Mutex
	retryAfter string
}

func (c *capture) get() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.retryAfter
}

// withCapture returns a context whose requests record their Retry-After in
// the returned capture. acme.Client passes a call's context to every HTTP
// request it makes for that call, so this sees headers it does not expose.
func withCapture(ctx context.Context) (context.Context, *capture) {
	c := &capture{}
	return context.WithValue(ctx, captureKey{}, c), c
}

// flowRequestsKey is the context key of the *atomic.Int64 that counts the
// requests of one flow (withFlowRequests).
type flowRequestsKey struct{}

// withFlowRequests returns a context whose requests, and those of the
// contexts derived from it, captureTransport counts in the returned
// counter: the requests of one flow.
func withFlowRequests(ctx context.Context) (context.Context, *atomic.Int64) {
	n := new(atomic.Int64)
	return context.WithValue(ctx, flowRequestsKey{}, n), n
}

// captureTransport fills the *capture found in a request's context and
// counts the requests sent through it, in all and per flow.
type captureTransport struct {
	next     http.RoundTripper
	requests *atomic.Int64
}

func (t *captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.requests.Add(1)
	if n, ok := req.Context().Value(flowRequestsKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
	res, err := t.next.RoundTrip(req)
	if c, ok := req.Context().Value(captureKey{}).(*capture); ok && res != nil {
		c.mu.Lock()
		c.retryAfter = res.Header.Get("Retry-After")
		c.mu.Unlock()
	}
	return res, err
}

// parseRetryAfter reads a Retry-After value (RFC 9110 §10.2.3: seconds or
// an HTTP date, taken relative to now). ok is false when v is absent or
// invalid.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(s) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// delay is how long to wait before poll attempt n (0-based), given the
// Retry-After of the previous response (hint, may be nil): the backoff
// (pollStart doubled per attempt, at most pollMax), or Retry-After when
// it is longer. A Retry-After shorter than the backoff (0, or a date
// past) does not shorten it: it would make the tool poll with no pause.
func (r *run) delay(hint *capture, n int) time.Duration {
	backoff := pollMax
	if n <= 10 {
		backoff = min(pollStart<<n, pollMax)
	}
	if hint != nil && !r.cfg.IgnoreRetryAfter {
		if d, ok := parseRetryAfter(hint.get(), time.Now()); ok {
			return max(d, backoff)
		}
	}
	return backoff
}

// firstDelay is the wait before the first poll after a request whose
// response hint captured.
func (r *run) firstDelay(hint *capture) time.Duration { return r.delay(hint, 0) }

// poll waits first, then calls check until it reports done or fails,
// waiting between calls as delay says. check must make its requests with
// the context it is given (so their Retry-After is seen).
func (r *run) poll(ctx context.Context, first time.Duration, check func(context.Context) (bool, error)) error {
	wait := first
	for n := 1; ; n++ {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		cctx, hint := withCapture(ctx)
		done, err := check(cctx)
		if err != nil || done {
			return err
		}
		wait = r.delay(hint, n)
	}
}
