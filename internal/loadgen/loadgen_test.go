package loadgen_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/loadgen"
	"github.com/certgate/certgate/internal/testenv"
	"github.com/certgate/certgate/internal/testenv/testdns"
)

func TestRunCompletesFlows(t *testing.T) {
	env := testenv.NewWithOptions(t, testenv.Options{OwnHTTP01: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, kt := range []string{loadgen.KeyEC256, loadgen.KeyRSA2048} {
		t.Run(kt, func(t *testing.T) {
			n := 20
			if kt == loadgen.KeyRSA2048 {
				n = 4
			}
			lns := env.HTTP01Listeners
			if kt == loadgen.KeyRSA2048 {
				lns = nil // the first run closed them; listen on the port again
			}
			s, err := loadgen.Run(ctx, loadgen.Config{DirectoryURL: env.DirectoryURL, Flows: n, Concurrency: 4,
				Accounts: 3, KeyType: kt, RootCAs: env.Roots, HTTP01Listeners: lns,
				HTTP01Listen: "127.0.0.1:" + itoa(env.HTTPPort)})
			if err != nil {
				t.Fatal(err)
			}
			if s.Completed != n || s.Failed != 0 || len(s.Errors) != 0 {
				t.Fatalf("completed %d, failed %d, errors %+v", s.Completed, s.Failed, s.Errors)
			}
			checkSummary(t, s, n)
			checkKeysMadeBefore(t, s)
		})
	}
}

// checkKeysMadeBefore: the certificate keys and their CSRs are made
// before the flows start, and the summary says how long that took
// (keys_seconds, a "keys" line), so that throughput measures the server,
// not the tool's key generation (RSA: ~50–250 ms of CPU per key, which
// made -c 2 runs report 2.4 flows/s against a server taking 44 ms per
// flow; P-256: ~0.1 ms with the CSR, CPU the server lacks on a shared
// machine).
func checkKeysMadeBefore(t *testing.T, s *loadgen.Summary) {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	secs, ok := m["keys_seconds"].(float64)
	var text strings.Builder
	if err := s.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	line := "keys        " + strconv.Itoa(s.Flows) + " " + s.KeyType + " keys and CSRs made before the flows in "
	if !ok || secs <= 0 || !strings.Contains(text.String(), line) {
		t.Errorf("keys_seconds %v (present %v), want > 0 and a line %q:\n%s", m["keys_seconds"], ok, line, text.String())
	}
}

// TestPreparesKeys: RSA keys are made before the flows at any count,
// ECDSA keys up to MaxPreparedEC flows (the memory they keep is bounded),
// the default key type counting as ECDSA.
func TestPreparesKeys(t *testing.T) {
	for _, tc := range []struct {
		keyType string
		flows   int
		want    bool
	}{
		{loadgen.KeyEC256, 1, true},
		{loadgen.KeyEC256, loadgen.MaxPreparedEC, true},
		{loadgen.KeyEC256, loadgen.MaxPreparedEC + 1, false},
		{"", loadgen.MaxPreparedEC, true},
		{"", loadgen.MaxPreparedEC + 1, false},
		{loadgen.KeyRSA2048, loadgen.MaxPreparedEC + 1, true},
	} {
		c := loadgen.Config{KeyType: tc.keyType, Flows: tc.flows}
		if got := c.PreparesKeys(); got != tc.want {
			t.Errorf("key type %q, %d flows: PreparesKeys %v, want %v", tc.keyType, tc.flows, got, tc.want)
		}
	}
}

// TestRunRequestsPerFlow: against certgate, which answers the challenge
// POST once validation is done and finalize once the certificate is
// issued, a flow is five requests (newOrder, authorization, challenge,
// finalize, certificate) and nothing more; with one worker and one account
// the only other request is the newNonce before the account's first
// finalize (the requests of set-up are not counted).
func TestRunRequestsPerFlow(t *testing.T) {
	env := testenv.NewWithOptions(t, testenv.Options{OwnHTTP01: true})
	const n = 6
	s, err := loadgen.Run(context.Background(), loadgen.Config{DirectoryURL: env.DirectoryURL, Flows: n, Concurrency: 1,
		Accounts: 1, RootCAs: env.Roots, HTTP01Listeners: env.HTTP01Listeners})
	if err != nil {
		t.Fatal(err)
	}
	if s.Completed != n {
		t.Fatalf("completed %d, errors %+v", s.Completed, s.Errors)
	}
	if s.Requests != 5*n+1 || s.RequestsPerFlow != 5.17 {
		t.Errorf("requests %d (%v per flow), want %d (5.17)", s.Requests, s.RequestsPerFlow, 5*n+1)
	}
	var text strings.Builder
	if err := s.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if want := "requests    5.17 per completed flow (31 in all, failed flows' included)\n"; !strings.Contains(text.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, text.String())
	}
}

func checkSummary(t *testing.T, s *loadgen.Summary, n int) {
	t.Helper()
	if s.FlowsPerSecond <= 0 {
		t.Errorf("flows/s = %v", s.FlowsPerSecond)
	}
	// At least the five requests of a flow, a few more for polls and nonces.
	if s.RequestsPerFlow < 5 || s.Requests < 5*n {
		t.Errorf("requests %d (%v per flow), want at least 5 per flow", s.Requests, s.RequestsPerFlow)
	}
	if len(s.Steps) != len(loadgen.StepNames()) {
		t.Fatalf("%d steps, want %d", len(s.Steps), len(loadgen.StepNames()))
	}
	var sum float64
	for _, st := range append(s.Steps, s.Overall) {
		if st.Count != n {
			t.Errorf("%s: count %d, want %d", st.Name, st.Count, n)
		}
		if !(st.P50 <= st.P90 && st.P90 <= st.P99 && st.P99 <= st.Max) {
			t.Errorf("%s: percentiles out of order: %+v", st.Name, st)
		}
		if st.Name != loadgen.StepOverall {
			sum += st.P50
		}
	}
	if s.Overall.P50 <= 0 || s.Overall.Max < s.Steps[0].Max {
		t.Errorf("overall %+v", s.Overall)
	}
	// The JSON summary round-trips.
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back loadgen.Summary
	if err := json.Unmarshal(b, &back); err != nil || back.Completed != n || len(back.Steps) != len(s.Steps) {
		t.Fatalf("JSON round trip: %v %+v", err, back)
	}
	var text strings.Builder
	if err := s.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"flows/s", "validation wait", "overall", "errors      none"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, text.String())
		}
	}
	t.Logf("\n%s", text.String())
}

func TestRunUntrustedServer(t *testing.T) {
	env := testenv.NewWithOptions(t, testenv.Options{OwnHTTP01: true})
	_, err := loadgen.Run(context.Background(), loadgen.Config{DirectoryURL: env.DirectoryURL, Flows: 1, HTTP01Listen: "127.0.0.1:0"})
	var de *loadgen.DirectoryError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v, want *DirectoryError", err)
	}
	want := "cannot fetch directory " + env.DirectoryURL + ": x509: certificate signed by unknown authority (use --ca FILE)"
	if err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
}

func TestRunReportsProblems(t *testing.T) {
	// Names the server refuses to certify (a CAA record naming another
	// CA on their parent): every flow fails with one problem type,
	// grouped under it. (A --domain that is no DNS name, which every
	// server refuses, is refused before the run: TestRunRefusesBadDomain.)
	env := testenv.NewWithOptions(t, testenv.Options{OwnHTTP01: true})
	env.DNS.SetCAA("refused.test", testdns.CAA{Tag: "issue", Value: "other-ca.example"})
	s, err := loadgen.Run(context.Background(), loadgen.Config{DirectoryURL: env.DirectoryURL, Flows: 3, Concurrency: 2,
		Domain: "refused.test", RootCAs: env.Roots, HTTP01Listeners: env.HTTP01Listeners})
	if err != nil {
		t.Fatal(err)
	}
	if s.Completed != 0 || s.Failed != 3 || len(s.Errors) != 1 || s.Errors[0].Count != 3 ||
		!strings.HasPrefix(s.Errors[0].Type, "urn:ietf:params:acme:error:") {
		t.Fatalf("summary %+v", s)
	}
	t.Logf("%+v", s.Errors)
}

// TestRunRefusesBadDomain: a Domain that makes the requested names no DNS
// names (an empty label, a character outside letters, digits and hyphens,
// over 253 characters with the flow's prefix) is refused before anything is
// sent, naming the domain and why; before, the run registered its accounts
// and every flow failed at newOrder with rejectedIdentifier.
func TestRunRefusesBadDomain(t *testing.T) {
	f := newFakeACME(t, 400, "urn:ietf:params:acme:error:rejectedIdentifier", "")
	for domain, why := range map[string]string{
		"bad..name":                        "empty label",
		"bad_name":                         "only letters, digits and hyphens",
		strings.Repeat("a.", 120) + "test": "longer than 253 characters",
	} {
		_, err := loadgen.Run(context.Background(), loadgen.Config{DirectoryURL: f.directoryURL(), Flows: 3, Concurrency: 2,
			Domain: domain, HTTP01Listen: "127.0.0.1:0"})
		if err == nil || !strings.Contains(err.Error(), "domain \""+domain+"\"") || !strings.Contains(err.Error(), why) {
			t.Errorf("domain %q: err %v, want one naming it and %q", domain, err, why)
		}
	}
	if n := f.accounts.Load() + f.orders.Load(); n != 0 {
		t.Errorf("%d accounts or orders requested; want none", n)
	}
}

// TestRunHTTPVersion: the client speaks HTTP/1.1 to a server that offers
// HTTP/2 too (as certbot does), unless Config.HTTP2.
func TestRunHTTPVersion(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		var proto atomic.Value
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			proto.Store(r.Proto)
			http.NotFound(w, r)
		}))
		srv.EnableHTTP2 = true
		srv.StartTLS()
		roots := x509.NewCertPool()
		roots.AddCert(srv.Certificate())
		_, err := loadgen.Run(context.Background(), loadgen.Config{DirectoryURL: srv.URL + "/directory", RootCAs: roots,
			HTTP2: h2, HTTP01Listen: "127.0.0.1:0"})
		srv.Close()
		var de *loadgen.DirectoryError
		if !errors.As(err, &de) {
			t.Fatalf("HTTP2 %v: err = %v, want *DirectoryError", h2, err)
		}
		want := "HTTP/1.1"
		if h2 {
			want = "HTTP/2.0"
		}
		if got, _ := proto.Load().(string); got != want {
			t.Errorf("HTTP2 %v: the directory was fetched over %q, want %q", h2, got, want)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// BenchmarkFlows runs b.N complete flows (C=8, Retry-After ignored) against
// an in-process certgate; with -cpuprofile it shows where the server's
// (and the client's) CPU goes:
//
//	go test -run '^$' -bench Flows -benchtime 2000x -cpuprofile cpu.out ./internal/loadgen/
//	go tool pprof -top -focus 'certgate/internal/(wfe|ra|store|va|issuer|server)' cpu.out
func BenchmarkFlows(b *testing.B) {
	env := testenv.NewWithOptions(b, testenv.Options{OwnHTTP01: true})
	b.ResetTimer()
	s, err := loadgen.Run(context.Background(), loadgen.Config{DirectoryURL: env.DirectoryURL, Flows: b.N,
		Concurrency: 8, RootCAs: env.Roots, HTTP01Listeners: env.HTTP01Listeners, IgnoreRetryAfter: true})
	if err != nil {
		b.Fatal(err)
	}
	if s.Failed != 0 {
		b.Fatalf("%d flows failed: %+v", s.Failed, s.Errors)
	}
	b.ReportMetric(s.FlowsPerSecond, "flows/s")
	b.ReportMetric(s.Overall.P99, "p99-ms")
}

// TestJSONSummaryDocumented: every field of the JSON summary (at the top,
// in steps[] and overall, in errors[]) has a row in the table of
// docs/load-tool.md, "JSON summary", and every row names a field.
func TestJSONSummaryDocumented(t *testing.T) {
	s := loadgen.Summary{Steps: []loadgen.StepSummary{{}}, Errors: []loadgen.ErrorGroup{{}}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	fields := map[string]bool{}
	for k := range top {
		fields[k] = true
	}
	var nested struct {
		Steps  []map[string]any `json:"steps"`
		Errors []map[string]any `json:"errors"`
	}
	if err := json.Unmarshal(b, &nested); err != nil {
		t.Fatal(err)
	}
	for _, m := range []map[string]any{nested.Steps[0], nested.Errors[0]} {
		for k := range m {
			fields[k] = true
		}
	}
	doc, err := os.ReadFile("../../docs/load-tool.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## JSON summary\n")
	if !ok {
		t.Fatal(`docs/load-tool.md has no "## JSON summary" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	documented := map[string]bool{}
	for line := range strings.SplitSeq(section, "\n") {
		first, _, ok := strings.Cut(strings.TrimPrefix(line, "| "), " |")
		if !ok || !strings.HasPrefix(line, "| `") {
			continue
		}
		for name := range strings.SplitSeq(first, ", ") {
			documented[strings.Trim(name, "`")] = true
		}
	}
	for f := range fields {
		if !documented[f] {
			t.Errorf("JSON field %q is not in the table of docs/load-tool.md", f)
		}
	}
	for f := range documented {
		if !fields[f] {
			t.Errorf("docs/load-tool.md documents %q, which the JSON summary does not have", f)
		}
	}
}
