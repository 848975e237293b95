package loadgen

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"golang.org/x/crypto/acme"
)

// Summary is the outcome of a run. Durations are milliseconds unless the
// field name says otherwise; it marshals to the JSON of `--json`.
type Summary struct {
	Directory        string  `json:"directory"`          // the directory URL
	RunID            string  `json:"run_id"`             // Config.RunID
	Flows            int     `json:"flows"`              // flows requested (N)
	Completed        int     `json:"completed"`          // flows that got and parsed a certificate
	Failed           int     `json:"failed"`             // flows that did not (including never started)
	Concurrency      int     `json:"concurrency"`        // C
	Accounts         int     `json:"accounts"`           // K
	KeyType          string  `json:"key_type"`           // Config.KeyType
	ReuseNames       bool    `json:"reuse_names"`        // Config.ReuseNames
	IgnoreRetryAfter bool    `json:"ignore_retry_after"` // Config.IgnoreRetryAfter
	DurationSeconds  float64 `json:"duration_seconds"`   // wall time of the flows (not of account registration)
	FlowsPerSecond   float64 `json:"flows_per_second"`   // Completed / DurationSeconds
	// KeysSeconds is the wall time spent making the flows' keys and CSRs
	// before the flows started (not in DurationSeconds; see
	// Config.PreparesKeys); 0 when each flow made its own (ECDSA keys for
	// more than MaxPreparedEC flows), before its clock started.
	KeysSeconds float64 `json:"keys_seconds"`
	// Steps has one entry per step in flow order (see StepNames); a step
	// skipped by a flow (e.g. a reused authorization) counts as 0 ms.
	Steps []StepSummary `json:"steps"`
	// Overall is the latency of whole completed flows.
	Overall StepSummary `json:"overall"`
	// Errors groups failed flows by ACME problem type (or by client-side
	// cause and step), most frequent first.
	Errors []ErrorGroup `json:"errors"`
	// Retries counts requests repeated after badNonce or a 5xx response.
	Retries int `json:"retries"`
	// Requests counts the HTTP requests sent to the server while the flows
	// ran (every ACME request, newNonce and retries included; the
	// directory and account registration before them are not counted).
	Requests int `json:"requests"`
	// RequestsPerFlow is the requests of the completed flows divided by
	// Completed (0 when none completed; failed flows' requests are in
	// Requests only): 5 for a server that needs no polling (newOrder,
	// authorization, challenge, finalize, certificate), more with polls.
	RequestsPerFlow float64 `json:"requests_per_flow"`
}

// StepSummary is the latency distribution of one step over completed flows,
// in milliseconds (nearest-rank percentiles).
type StepSummary struct {
	Name  string  `json:"name"`    // step name (StepNames), or StepOverall
	Count int     `json:"count"`   // completed flows measured
	P50   float64 `json:"p50_ms"`  // median
	P90   float64 `json:"p90_ms"`  // 90th percentile
	P99   float64 `json:"p99_ms"`  // 99th percentile
	Max   float64 `json:"max_ms"`  // slowest
	Mean  float64 `json:"mean_ms"` // arithmetic mean
}

// ErrorGroup is a count of failed flows with the same cause.
type ErrorGroup struct {
	Type    string `json:"type"`    // ACME problem type URN, or e.g. "timeout (validation wait)"
	Count   int    `json:"count"`   // failed flows with this cause
	Example string `json:"example"` // the first such error, one line
}

// collector accumulates the results of a run's flows.
type collector struct {
	mu        sync.Mutex
	steps     [numSteps][]time.Duration
	overall   []time.Duration
	completed int
	// completedReqs counts the requests of the completed flows.
	completedReqs int64
	failed        int
	errors        map[string]*ErrorGroup
	retries       atomic.Int64
	requests      atomic.Int64  // requests sent, counted by captureTransport
	setupReqs     int64         // requests sent before the flows started
	prepared      time.Duration // making certificate keys before the flows (prepare)
}

func newCollector() *collector { return &collector{errors: map[string]*ErrorGroup{}} }

// ok records a completed flow: its step times, its duration and the
// requests it sent.
func (c *collector) ok(t *stepTimes, total time.Duration, requests int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.completedReqs += requests
	for i, d := range t {
		c.steps[i] = append(c.steps[i], d)
	}
	c.overall = append(c.overall, total)
	c.completed++
}

func (c *collector) fail(key string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed++
	g := c.errors[key]
	if g == nil {
		ex := oneLine(err)
		if len(ex) > 300 {
			ex = ex[:300] + "…"
		}
		g = &ErrorGroup{Type: key, Example: ex}
		c.errors[key] = g
	}
	g.Count++
}

func (c *collector) retry() { c.retries.Add(1) }

// startFlows marks the end of the set-up: requests sent until now are not
// the flows'.
func (c *collector) startFlows() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setupReqs = c.requests.Load()
}

func (c *collector) counts() (completed, failed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.completed, c.failed
}

func (c *collector) summary(cfg *Config, elapsed time.Duration) *Summary {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &Summary{Directory: cfg.DirectoryURL, RunID: cfg.RunID, Flows: cfg.Flows, Completed: c.completed,
		Failed: c.failed, Concurrency: cfg.Concurrency, Accounts: cfg.Accounts, KeyType: cfg.KeyType,
		ReuseNames: cfg.ReuseNames, IgnoreRetryAfter: cfg.IgnoreRetryAfter,
		DurationSeconds: elapsed.Seconds(), KeysSeconds: c.prepared.Seconds(), Retries: int(c.retries.Load()), Errors: []ErrorGroup{}}
	if elapsed > 0 {
		s.FlowsPerSecond = float64(c.completed) / elapsed.Seconds()
	}
	s.Requests = int(c.requests.Load() - c.setupReqs)
	if c.completed > 0 {
		s.RequestsPerFlow = math.Round(float64(c.completedReqs)/float64(c.completed)*100) / 100
	}
	for i, name := range StepNames() {
		s.Steps = append(s.Steps, distribution(name, c.steps[i]))
	}
	s.Overall = distribution(StepOverall, c.overall)
	for _, g := range c.errors {
		s.Errors = append(s.Errors, *g)
	}
	slices.SortFunc(s.Errors, func(a, b ErrorGroup) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Type, b.Type))
	})
	return s
}

// distribution summarises ds (which it sorts).
func distribution(name string, ds []time.Duration) StepSummary {
	s := StepSummary{Name: name, Count: len(ds)}
	if len(ds) == 0 {
		return s
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	s.P50, s.P90, s.P99 = ms(percentile(ds, 50)), ms(percentile(ds, 90)), ms(percentile(ds, 99))
	s.Max = ms(ds[len(ds)-1])
	s.Mean = ms(sum / time.Duration(len(ds)))
	return s
}

// percentile is the nearest-rank p-th percentile of sorted ds.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// ms converts d to milliseconds rounded to µs.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// errorKey groups err: its ACME problem type when the server sent one,
// otherwise a client-side cause and the step it happened in.
func errorKey(err error) string {
	step := ""
	var fe *flowError
	if errors.As(err, &fe) {
		step = " (" + fe.step + ")"
	}
	var ae *acme.Error
	var oe *acme.OrderError
	var ze *acme.AuthorizationError
	var ne net.Error
	switch {
	case errors.As(err, &oe) && oe.Problem != nil:
		return problemType(oe.Problem)
	case errors.As(err, &oe):
		return "order " + oe.Status + step
	case errors.As(err, &ze):
		for _, e := range ze.Errors {
			if errors.As(e, &ae) {
				return problemType(ae)
			}
		}
		return "authorization invalid" + step
	case errors.As(err, &ae):
		return problemType(ae)
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout" + step
	case errors.Is(err, context.Canceled):
		return "canceled" + step
	case errors.As(err, &ne):
		return "network error" + step
	}
	return "client error" + step
}

// failKey groups the error of a flow run under runCtx: as errorKey, except
// that a flow cut short because the whole run ended (not by its own
// FlowTimeout) is "run interrupted (STEP)" or "run timed out (STEP)", so
// that a report after Ctrl-C or --timeout does not read like a slow server.
func failKey(runCtx context.Context, err error) string {
	if runCtx.Err() == nil || !(errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return errorKey(err)
	}
	step := ""
	var fe *flowError
	if errors.As(err, &fe) {
		step = " (" + fe.step + ")"
	}
	return runEnded(runCtx) + step
}

// runEnded says why runCtx, which is done, ended.
func runEnded(runCtx context.Context) string {
	if errors.Is(runCtx.Err(), context.DeadlineExceeded) {
		return "run timed out"
	}
	return "run interrupted"
}

func problemType(e *acme.Error) string {
	if e.ProblemType != "" {
		return e.ProblemType
	}
	return fmt.Sprintf("HTTP %d", e.StatusCode)
}

// WriteText writes the human-readable report of s to w.
func (s *Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "directory   %s\n", s.Directory)
	fmt.Fprintf(&b, "flows       %d completed, %d failed of %d in %.2fs (concurrency %d, %s, %s keys",
		s.Completed, s.Failed, s.Flows, s.DurationSeconds, s.Concurrency, plural(s.Accounts, "account"), s.KeyType)
	if s.ReuseNames {
		b.WriteString(", reused names")
	}
	if s.IgnoreRetryAfter {
		b.WriteString(", Retry-After ignored")
	}
	b.WriteString(")\n")
	fmt.Fprintf(&b, "throughput  %.1f flows/s\n", s.FlowsPerSecond)
	if s.KeysSeconds > 0 {
		fmt.Fprintf(&b, "keys        %d %s keys and CSRs made before the flows in %.2fs (not in the throughput)\n",
			s.Flows, s.KeyType, s.KeysSeconds)
	}
	if s.Completed > 0 {
		fmt.Fprintf(&b, "requests    %.2f per completed flow (%d in all, failed flows' included)\n", s.RequestsPerFlow, s.Requests)
	}
	if s.Retries > 0 {
		fmt.Fprintf(&b, "retries     %d requests repeated (badNonce or 5xx)\n", s.Retries)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step (ms)\tp50\tp90\tp99\tmax\tmean\t")
	for _, st := range append(slices.Clip(s.Steps), s.Overall) {
		if st.Count == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t\n", st.Name)
			continue
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", st.Name, st.P50, st.P90, st.P99, st.Max, st.Mean)
	}
	tw.Flush()
	b.WriteString("\n")
	if len(s.Errors) == 0 {
		b.WriteString("errors      none\n")
	} else {
		b.WriteString("errors\n")
		for _, g := range s.Errors {
			fmt.Fprintf(&b, "  %6d  %s\n          e.g. %s\n", g.Count, g.Type, g.Example)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// plural is n and noun, with an "s" unless n is 1 ("1 account", "2 accounts").
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
