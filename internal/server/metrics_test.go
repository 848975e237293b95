package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/crypto/acme"

	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/testenv"
)

// scrape fetches env's /metrics and parses the text exposition.
func scrape(t *testing.T, env *testenv.Env) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(env.MetricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("/metrics: %s %s", res.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return mfs
}

// value sums the series of family name whose labels include labels: the
// value of counters and gauges, the sample count of histograms. It fails
// the test when the family does not exist.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	var sum float64
series:
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// TestMetricsAfterIssuance: after one issuance with x/crypto/acme, a
// revocation, a rate-limited newOrder and a GET newOrder, /metrics on
// metrics-listen counts each request by endpoint and outcome, one
// certificate issued for the default profile by the built-in issuer, one
// http-01 validation valid, the revocation's reason and the refused limit;
// the database-backed gauges, the SQLite writer's counters and the runtime
// collectors are there, and
// certgate's metrics pass promlint (what `promtool check metrics` checks).
func TestMetricsAfterIssuance(t *testing.T) {
	env := testenv.NewWithOptions(t, testenv.Options{Metrics: true,
		Server: server.Options{RA: raWithOneOrderPerHour()}})
	client, _, leaf := issue(t, env, "metrics.example.test")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := client.RevokeCert(ctx, nil, leaf, acme.CRLReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	// x/crypto/acme retries a 429 after Retry-After (an hour); once is enough.
	client.RetryBackoff = func(int, *http.Request, *http.Response) time.Duration { return -1 }
	_, err := client.AuthorizeOrder(ctx, acme.DomainIDs("again.example.test"))
	var ae *acme.Error
	if !errors.As(err, &ae) || ae.ProblemType != "urn:ietf:params:acme:error:rateLimited" {
		t.Fatalf("second newOrder: %v, want rateLimited", err)
	}
	res, err := env.HTTPClient.Get(env.BaseURL + "/acme/new-order")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()

	mfs := scrape(t, env)
	req := func(endpoint, class, problem string) float64 {
		return value(t, mfs, "certgate_acme_requests_total", map[string]string{"endpoint": endpoint, "status_class": class, "problem": problem})
	}
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"newAccount 2xx", req("newAccount", "2xx", "none"), 1},
		{"newOrder 2xx", req("newOrder", "2xx", "none"), 1},
		{"newOrder rateLimited", req("newOrder", "4xx", "rateLimited"), 1},
		{"GET newOrder", req("newOrder", "4xx", "malformed"), 1},
		{"finalize 2xx", req("finalize", "2xx", "none"), 1},
		{"revokeCert 2xx", req("revokeCert", "2xx", "none"), 1},
		{"newOrder latencies", value(t, mfs, "certgate_acme_request_duration_seconds", map[string]string{"endpoint": "newOrder"}), 3},
		{"issued", value(t, mfs, "certgate_certificates_issued_total", map[string]string{"profile": "default", "issuer": "local"}), 1},
		{"issued, all", value(t, mfs, "certgate_certificates_issued_total", nil), 1},
		{"revoked superseded", value(t, mfs, "certgate_certificates_revoked_total", map[string]string{"reason": "superseded"}), 1},
		{"http-01 valid", value(t, mfs, "certgate_validations_total", map[string]string{"type": "http-01", "result": "valid"}), 1},
		{"validations, all", value(t, mfs, "certgate_validations_total", nil), 1},
		{"http-01 attempts", value(t, mfs, "certgate_validation_attempt_duration_seconds", map[string]string{"type": "http-01"}), 1},
		{"refusals", value(t, mfs, "certgate_rate_limit_refusals_total", map[string]string{"limit": string(ratelimit.NewOrdersPerAccount)}), 1},
		{"finalize failures (no series)", float64(len(mfs["certgate_finalize_failures_total"].GetMetric())), 0},
		{"approvals pending", value(t, mfs, "certgate_approvals_pending", nil), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	for _, ep := range []string{"directory", "authz", "challenge", "order", "cert"} {
		if n := req(ep, "2xx", "none"); n < 1 {
			t.Errorf("%s 2xx = %v, want at least 1", ep, n)
		}
	}
	if n := len(mfs["certgate_certificates_by_expiry"].GetMetric()); n != 3 {
		t.Errorf("certgate_certificates_by_expiry has %d windows, want 3", n)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "go_sql_open_connections"} {
		if _, ok := mfs[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	if value(t, mfs, "go_sql_max_open_connections", map[string]string{"db_name": "writer"}) != 1 {
		t.Errorf("the SQLite writer pool's statistics are missing")
	}
	// The writer goroutine's counters: every committed write was a job of
	// a turn, and the flow's reads ran on it too.
	turns := value(t, mfs, "certgate_sqlite_writer_turns_total", nil)
	reads := value(t, mfs, "certgate_sqlite_writer_jobs_total", map[string]string{"kind": "read"})
	writes := value(t, mfs, "certgate_sqlite_writer_jobs_total", map[string]string{"kind": "write"})
	commits := value(t, mfs, "certgate_sqlite_writer_commits_total", nil)
	if commits < 1 || writes < commits || reads < 1 || turns < 1 || turns > reads+writes {
		t.Errorf("writer counters: turns %v, read jobs %v, write jobs %v, commits %v", turns, reads, writes, commits)
	}
	if _, ok := mfs["certgate_sqlite_writer_catchup_seconds_total"]; !ok {
		t.Error("no certgate_sqlite_writer_catchup_seconds_total")
	}
	var ours []*dto.MetricFamily
	for name, mf := range mfs {
		if strings.HasPrefix(name, "certgate_") {
			ours = append(ours, mf)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(ours).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// raWithOneOrderPerHour limits each account to one newOrder an hour (the
// other limits off).
func raWithOneOrderPerHour() ra.Config {
	return ra.Config{RateLimits: ratelimit.Config{NewOrdersPerAccount: ratelimit.Rate{Count: 1, Period: time.Hour}}}
}

// TestHealthAndReadiness: /healthz and /readyz answer 200 on the HTTPS
// listener, on plain HTTP on the same port and on metrics-listen; once the
// database is closed, /readyz answers 503 with an RFC 9457 problem on all
// three while /healthz still answers 200.
func TestHealthAndReadiness(t *testing.T) {
	env := testenv.NewWithOptions(t, testenv.Options{Metrics: true})
	bases := map[string]struct {
		url string
		c   *http.Client
	}{
		"https":          {env.BaseURL, env.HTTPClient},
		"plain":          {"http://" + env.Server.Addr().String(), http.DefaultClient},
		"metrics-listen": {env.MetricsURL, http.DefaultClient},
	}
	get := func(c *http.Client, url string) (int, string, []byte) {
		t.Helper()
		res, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Content-Type"), b
	}
	for name, b := range bases {
		for _, p := range []string{"/healthz", "/readyz"} {
			if code, _, body := get(b.c, b.url+p); code != http.StatusOK || string(body) != "ok\n" {
				t.Errorf("%s %s = %d %q, want 200 ok", name, p, code, body)
			}
		}
	}
	env.Server.Store().Close()
	for name, b := range bases {
		if code, _, body := get(b.c, b.url+"/healthz"); code != http.StatusOK {
			t.Errorf("%s /healthz with the database closed = %d %q, want 200", name, code, body)
		}
		code, ctype, body := get(b.c, b.url+"/readyz")
		var p struct {
			Type, Title, Detail string
			Status              int
		}
		if code != http.StatusServiceUnavailable || ctype != "application/problem+json" || json.Unmarshal(body, &p) != nil ||
			p.Status != 503 || p.Type != "about:blank" || !strings.Contains(p.Detail, "database") {
			t.Errorf("%s /readyz with the database closed = %d %s %s, want a 503 problem naming the database", name, code, ctype, body)
		}
	}
}

// TestReadyzDatabaseFileTruncated: /readyz reads the SQLite database file,
// so once the file under the running server is truncated it answers 503
// naming the database (it answered 200 before, as SELECT 1 reads no page),
// and 200 again once the file's bytes are back.
func TestReadyzDatabaseFileTruncated(t *testing.T) {
	env := testenv.NewWithOptions(t, testenv.Options{Metrics: true})
	path := filepath.Join(env.Config.Data, "certgate.db")
	readyz := func() (int, []byte) {
		t.Helper()
		res, err := http.Get(env.MetricsURL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	if code, body := readyz(); code != http.StatusServiceUnavailable || !strings.Contains(string(body), "database") {
		t.Errorf("/readyz with the database file truncated = %d %s, want 503 naming the database", code, body)
	}
	if err := os.WriteFile(path, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := readyz(); code != http.StatusOK {
		t.Errorf("/readyz with the file's bytes back = %d %s, want 200", code, body)
	}
}
