package loadgen_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/loadgen"
)

// fakeACME is an RFC 8555 server that registers accounts and answers every
// newOrder with status and problem type problem (and header Retry-After
// when retryAfter is set): enough to see how a run treats a refusal.
type fakeACME struct {
	srv        *httptest.Server
	status     int
	problem    string
	retryAfter string
	orders     atomic.Int64 // newOrder requests received
	accounts   atomic.Int64 // newAccount requests received
	nonce      atomic.Int64
	// onOrder, when set, runs on every newOrder before it is answered
	// (after orders counts it).
	onOrder func(r *http.Request)
}

func newFakeACME(t *testing.T, status int, problem, retryAfter string) *fakeACME {
	f := &fakeACME{status: status, problem: problem, retryAfter: retryAfter}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeACME) directoryURL() string { return f.srv.URL + "/dir" }

func (f *fakeACME) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Replay-Nonce", fmt.Sprintf("n%d", f.nonce.Add(1)))
	switch r.URL.Path {
	case "/dir":
		json.NewEncoder(w).Encode(map[string]string{"newNonce": f.srv.URL + "/nonce",
			"newAccount": f.srv.URL + "/acct", "newOrder": f.srv.URL + "/order"})
	case "/nonce":
		w.WriteHeader(http.StatusOK)
	case "/acct":
		f.accounts.Add(1)
		w.Header().Set("Location", f.srv.URL+"/acct/"+strings.TrimPrefix(w.Header().Get("Replay-Nonce"), "n"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"status": "valid"})
	case "/order":
		f.orders.Add(1)
		if f.onOrder != nil {
			f.onOrder(r)
		}
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(f.status)
		json.NewEncoder(w).Encode(map[string]string{"type": f.problem, "detail": "refused by the fake"})
	default:
		http.NotFound(w, r)
	}
}

// TestRunRateLimitedFailsAtOnce: a newOrder refused with rateLimited (429)
// and a Retry-After an hour away fails its flow with that problem type at
// once, rather than waiting until the flow times out (the report said
// "timeout (newOrder)" after --flow-timeout, hiding the rate limit), and
// is no retry.
func TestRunRateLimitedFailsAtOnce(t *testing.T) {
	f := newFakeACME(t, http.StatusTooManyRequests, "urn:ietf:params:acme:error:rateLimited", "3600")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := loadgen.Run(ctx, loadgen.Config{DirectoryURL: f.directoryURL(), Flows: 3, Concurrency: 3,
		HTTP01Listen: "127.0.0.1:0", FlowTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if s.Failed != 3 || len(s.Errors) != 1 || s.Errors[0].Type != "urn:ietf:params:acme:error:rateLimited" {
		t.Fatalf("failed %d, errors %+v; want 3 flows failed with rateLimited", s.Failed, s.Errors)
	}
	if s.Retries != 0 || f.orders.Load() != 3 {
		t.Errorf("retries %d, newOrder requests %d; want 0 and 3 (a rate limit is not retried)", s.Retries, f.orders.Load())
	}
}

// TestRunCountsRetriesSent: a newOrder that always fails with 503 is sent
// six times per flow (the first try and five retries); Summary.Retries
// counts the five repeated requests, not the give-up after them.
func TestRunCountsRetriesSent(t *testing.T) {
	f := newFakeACME(t, http.StatusServiceUnavailable, "urn:ietf:params:acme:error:serverInternal", "")
	s, err := loadgen.Run(context.Background(), loadgen.Config{DirectoryURL: f.directoryURL(), Flows: 2, Concurrency: 1,
		HTTP01Listen: "127.0.0.1:0", IgnoreRetryAfter: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Failed != 2 || len(s.Errors) != 1 || s.Errors[0].Type != "urn:ietf:params:acme:error:serverInternal" {
		t.Fatalf("failed %d, errors %+v", s.Failed, s.Errors)
	}
	if sent := f.orders.Load(); sent != 12 || s.Retries != int(sent)-2 {
		t.Errorf("newOrder sent %d times, retries %d; want 12 and 10", sent, s.Retries)
	}
}

// TestRunProgressStartsAtZero: Progress is called once as the flows start,
// with nothing done, so that a caller that measures its rate from its first
// call (the progress line of `certgate bench acme`) starts its clock then.
// The first call used to come 200 ms later, or at the end: the progress
// line's first rate was flows done / 1 ns, e.g. "154929577.5 flows/s".
func TestRunProgressStartsAtZero(t *testing.T) {
	f := newFakeACME(t, http.StatusTooManyRequests, "urn:ietf:params:acme:error:rateLimited", "")
	var calls [][2]int
	s, err := loadgen.Run(context.Background(), loadgen.Config{DirectoryURL: f.directoryURL(), Flows: 3, Concurrency: 1,
		HTTP01Listen: "127.0.0.1:0", Progress: func(completed, failed int) { calls = append(calls, [2]int{completed, failed}) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) < 2 || calls[0] != [2]int{0, 0} || calls[len(calls)-1] != [2]int{0, 3} {
		t.Fatalf("progress calls %v (summary failed %d); want [0 0] first and [0 3] last", calls, s.Failed)
	}
}

// TestRunInterruptedNamesTheCause: when the run's context is canceled
// (Ctrl-C) with two flows waiting for their newOrder and two not started,
// the report groups them as "run interrupted (newOrder)" and "not started
// (run interrupted)", not as "canceled" errors that read like a server's.
func TestRunInterruptedNamesTheCause(t *testing.T) {
	f := newFakeACME(t, http.StatusTooManyRequests, "urn:ietf:params:acme:error:rateLimited", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.onOrder = func(r *http.Request) {
		if f.orders.Load() == 2 {
			cancel() // both workers are in newOrder
		}
		io.Copy(io.Discard, r.Body) // then net/http sees the client go away
		<-r.Context().Done()
	}
	s, err := loadgen.Run(ctx, loadgen.Config{DirectoryURL: f.directoryURL(), Flows: 4, Concurrency: 2,
		HTTP01Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, g := range s.Errors {
		got[g.Type] = g.Count
	}
	want := map[string]int{"run interrupted (newOrder)": 2, "not started (run interrupted)": 2}
	if s.Failed != 4 || len(got) != 2 || got["run interrupted (newOrder)"] != 2 || got["not started (run interrupted)"] != 2 {
		t.Fatalf("failed %d, errors %+v; want %v", s.Failed, s.Errors, want)
	}
}

// TestRunConcurrencyAtMostFlows: with fewer flows than --concurrency, the
// run registers (by default) one account per flow, not one per idle
// worker, and reports the concurrency it had.
func TestRunConcurrencyAtMostFlows(t *testing.T) {
	f := newFakeACME(t, http.StatusTooManyRequests, "urn:ietf:params:acme:error:rateLimited", "")
	s, err := loadgen.Run(context.Background(), loadgen.Config{DirectoryURL: f.directoryURL(), Flows: 2, Concurrency: 8,
		HTTP01Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if f.accounts.Load() != 2 || s.Accounts != 2 || s.Concurrency != 2 {
		t.Errorf("newAccount requests %d, summary accounts %d, concurrency %d; want 2, 2, 2",
			f.accounts.Load(), s.Accounts, s.Concurrency)
	}
}
