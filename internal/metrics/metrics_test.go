package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/metrics"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestNilMetricsRecordNothing: every recording method is a no-op on a nil
// *Metrics (components built without metrics).
func TestNilMetricsRecordNothing(t *testing.T) {
	var m *metrics.Metrics
	m.ObserveRequest(metrics.EndpointNewOrder, 201, "", time.Millisecond)
	m.CertificateIssued("default", "local")
	m.CertificateRevoked(1)
	m.FinalizeFailed(acme.BadCSR)
	m.ValidationFinished("http-01", true)
	m.ValidationAttempt("http-01", time.Millisecond)
	m.RateLimited("new-orders-per-account")
}

// TestRequestsByOutcome: a 2xx answer without a problem counts under
// problem "none"; a problem counts under its short type name and status
// class; an endpoint out of range counts as "other"; the histogram
// observes every request.
func TestRequestsByOutcome(t *testing.T) {
	m := metrics.New(quiet())
	m.ObserveRequest(metrics.EndpointNewOrder, 201, "", 2*time.Millisecond)
	m.ObserveRequest(metrics.EndpointNewOrder, 429, string(acme.RateLimited), time.Millisecond)
	m.ObserveRequest(metrics.EndpointNewOrder, 429, string(acme.RateLimited), time.Millisecond)
	m.ObserveRequest(metrics.EndpointCRL, 500, "", time.Millisecond)
	m.ObserveRequest(metrics.Endpoint(200), 404, "", time.Millisecond)
	want := `
# HELP certgate_acme_requests_total Requests to the ACME front end by endpoint, HTTP status class and ACME problem type (none: no problem).
# TYPE certgate_acme_requests_total counter
certgate_acme_requests_total{endpoint="newOrder",problem="none",status_class="2xx"} 1
certgate_acme_requests_total{endpoint="newOrder",problem="rateLimited",status_class="4xx"} 2
certgate_acme_requests_total{endpoint="crl",problem="none",status_class="5xx"} 1
certgate_acme_requests_total{endpoint="other",problem="none",status_class="4xx"} 1
`
	if err := testutil.GatherAndCompare(onlyNonZero{m}, strings.NewReader(want), "certgate_acme_requests_total"); err != nil {
		t.Error(err)
	}
	n, err := testutil.GatherAndCount(m.Registry(), "certgate_acme_request_duration_seconds")
	if err != nil || n != 18 {
		t.Errorf("latency series = %d, %v; want one per endpoint (18), created up front", n, err)
	}
}

// TestEventCounters: issuance, revocation, failed finalizations,
// validations and refusals count under their labels.
func TestEventCounters(t *testing.T) {
	m := metrics.New(quiet())
	m.CertificateIssued("web", "local")
	m.CertificateRevoked(1)
	m.CertificateRevoked(4)
	m.FinalizeFailed(acme.BadCSR)
	m.ValidationFinished("dns-01", false)
	m.ValidationAttempt("dns-01", 3*time.Second)
	m.RateLimited("certificates-per-domain")
	want := `
# HELP certgate_certificates_issued_total Certificates issued by this process, by profile and issuer.
# TYPE certgate_certificates_issued_total counter
certgate_certificates_issued_total{issuer="local",profile="web"} 1
# HELP certgate_certificates_revoked_total Certificates revoked through this process (ACME or admin API), by RFC 5280 reason.
# TYPE certgate_certificates_revoked_total counter
certgate_certificates_revoked_total{reason="keyCompromise"} 1
certgate_certificates_revoked_total{reason="superseded"} 1
# HELP certgate_finalize_failures_total Finalizations (including issuance after approval) that failed, by ACME problem type.
# TYPE certgate_finalize_failures_total counter
certgate_finalize_failures_total{problem="badCSR"} 1
# HELP certgate_validations_total Challenge validations finished by this process, by challenge type and result (valid, invalid).
# TYPE certgate_validations_total counter
certgate_validations_total{result="invalid",type="dns-01"} 1
# HELP certgate_rate_limit_refusals_total Requests refused by a rate limit, by limit name.
# TYPE certgate_rate_limit_refusals_total counter
certgate_rate_limit_refusals_total{limit="certificates-per-domain"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "certgate_certificates_issued_total",
		"certgate_certificates_revoked_total", "certgate_finalize_failures_total", "certgate_validations_total",
		"certgate_rate_limit_refusals_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(m.Registry(), "certgate_validation_attempt_duration_seconds"); err != nil || n != 1 {
		t.Errorf("attempt histogram series = %d, %v; want 1", n, err)
	}
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// fakeInventory counts its reads and can fail.
type fakeInventory struct {
	reads  atomic.Int32
	fail   atomic.Bool
	bounds []time.Time
}

func (f *fakeInventory) CountPendingApprovals(ctx context.Context) (int, error) {
	f.reads.Add(1)
	if f.fail.Load() {
		return 0, errors.New("database gone")
	}
	return 4, nil
}

func (f *fakeInventory) CountCertificatesByExpiry(ctx context.Context, bounds []time.Time) ([]int64, error) {
	f.bounds = bounds
	return []int64{1, 2, 3}, nil
}

// TestInventoryGauges: the database-backed gauges report what the
// inventory counts for the windows around the clock, are read once per
// InventoryCacheFor however often they are scraped, and a failed read
// leaves them out of the scrape (logged) while the other metrics are
// still served.
func TestInventoryGauges(t *testing.T) {
	m := metrics.New(quiet())
	inv := &fakeInventory{}
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	m.RegisterInventory(inv, func() time.Time { return at })
	want := `
# HELP certgate_approvals_pending Approvals waiting for a decision (all nodes sharing the database).
# TYPE certgate_approvals_pending gauge
certgate_approvals_pending 4
# HELP certgate_certificates_by_expiry Unrevoked certificates of the inventory (issued, imported) by notAfter window: expired in the last 30 days, expiring within 7 days, in 7 to 30 days; without those already renewed through ARI (RFC 9773: a replacement was issued and is valid), as in certgate report expiring.
# TYPE certgate_certificates_by_expiry gauge
certgate_certificates_by_expiry{window="expired_last_30d"} 1
certgate_certificates_by_expiry{window="next_7d"} 2
certgate_certificates_by_expiry{window="next_7d_to_30d"} 3
`
	for range 3 {
		if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "certgate_approvals_pending", "certgate_certificates_by_expiry"); err != nil {
			t.Fatal(err)
		}
	}
	if n := inv.reads.Load(); n != 1 {
		t.Errorf("three scrapes read the database %d times, want 1", n)
	}
	day := 24 * time.Hour
	wantBounds := []time.Time{at.Add(-30 * day), at, at.Add(7 * day), at.Add(30 * day)}
	for i := range wantBounds {
		if len(inv.bounds) != len(wantBounds) || !inv.bounds[i].Equal(wantBounds[i]) {
			t.Fatalf("bounds %v, want %v", inv.bounds, wantBounds)
		}
	}

	// A failing database: a fresh collector reads at once and fails.
	m = metrics.New(quiet())
	inv = &fakeInventory{}
	inv.fail.Store(true)
	m.RegisterInventory(inv, time.Now)
	m.ObserveRequest(metrics.EndpointDirectory, 200, "", time.Millisecond)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK || strings.Contains(string(body), "certgate_approvals_pending") ||
		!strings.Contains(string(body), `certgate_acme_requests_total{endpoint="directory",problem="none",status_class="2xx"} 1`) {
		t.Errorf("scrape with a failing database: %d\n%s", rec.Code, body)
	}
}

// onlyNonZero gathers m's registry without the series whose value is 0
// (the children New creates up front).
type onlyNonZero struct{ m *metrics.Metrics }

func (o onlyNonZero) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := o.m.Registry().Gather()
	for _, mf := range mfs {
		var kept []*dto.Metric
		for _, x := range mf.GetMetric() {
			if x.GetCounter().GetValue() != 0 || x.GetGauge().GetValue() != 0 || x.GetHistogram().GetSampleCount() != 0 {
				kept = append(kept, x)
			}
		}
		mf.Metric = kept
	}
	return mfs, err
}

// BenchmarkObserveRequest is the cost the request path pays per request:
// a 2xx without a problem (children created up front) and a problem
// answer (child looked up by labels).
func BenchmarkObserveRequest(b *testing.B) {
	m := metrics.New(quiet())
	b.Run("ok", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.ObserveRequest(metrics.EndpointOrder, 200, "", 800*time.Microsecond)
		}
	})
	b.Run("problem", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.ObserveRequest(metrics.EndpointNewOrder, 400, string(acme.BadNonce), 800*time.Microsecond)
		}
	})
	b.Run("parallel-ok", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.ObserveRequest(metrics.EndpointOrder, 200, "", 800*time.Microsecond)
			}
		})
	})
}

// TestNotificationCounters: the notification counters exist at 0 for both
// channels from the start, and count sends and failed attempts by channel
// and finality; a nil *Metrics takes the calls.
func TestNotificationCounters(t *testing.T) {
	m := metrics.New(quiet())
	m.NotificationsSent("email", 3)
	m.NotificationsFailed("webhook", 1, false)
	m.NotificationsFailed("webhook", 2, true)
	want := `
# HELP certgate_notifications_sent_total Expiry notifications delivered by this process (one per certificate and recipient), by channel (email, webhook).
# TYPE certgate_notifications_sent_total counter
certgate_notifications_sent_total{channel="email"} 3
certgate_notifications_sent_total{channel="webhook"} 0
# HELP certgate_notifications_failed_total Failed attempts to deliver an expiry notification by this process, by channel and whether it was the last attempt (final: true, given up).
# TYPE certgate_notifications_failed_total counter
certgate_notifications_failed_total{channel="email",final="false"} 0
certgate_notifications_failed_total{channel="email",final="true"} 0
certgate_notifications_failed_total{channel="webhook",final="false"} 1
certgate_notifications_failed_total{channel="webhook",final="true"} 2
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "certgate_notifications_sent_total", "certgate_notifications_failed_total"); err != nil {
		t.Error(err)
	}
	var none *metrics.Metrics
	none.NotificationsSent("email", 1)
	none.NotificationsFailed("email", 1, true)
}
