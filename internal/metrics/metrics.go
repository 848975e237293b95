// Package metrics holds certgate's Prometheus metrics (docs/operations.md,
// "Metrics and health"). Each server owns one Metrics with its own
// registry; nothing is registered globally. The methods that components
// call on their paths (ObserveRequest, CertificateIssued, ...) are safe
// for concurrent use and do nothing on a nil *Metrics, so that a component
// built without metrics (tests, tools) needs no stand-in.
//
// Label values are bounded by construction: endpoints, HTTP status
// classes, ACME problem types, challenge types, profile and issuer names,
// revocation reasons and rate-limit names. Nothing is labelled by account,
// identifier, serial or order.
package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/certgate/certgate/internal/acme"
)

// Namespace prefixes every certgate metric name.
const Namespace = "certgate"

// Endpoint is the resource an HTTP request of the ACME front end was
// routed to; its label value is Endpoint.String.
type Endpoint uint8

// Endpoints of the ACME front end (RFC 8555 §7.1 resource names, plus the
// PKI endpoints it also serves). EndpointOther is any request that reached
// no resource (unknown paths, methods the router refused).
const (
	EndpointOther       Endpoint = iota
	EndpointDirectory            // GET /acme/directory, /acme/{profile}/directory
	EndpointNewNonce             // newNonce
	EndpointNewAccount           // newAccount
	EndpointAccount              // account fetch, update, deactivation
	EndpointOrders               // the account's orders list
	EndpointKeyChange            // keyChange
	EndpointNewOrder             // newOrder
	EndpointOrder                // order (POST-as-GET)
	EndpointFinalize             // the order's finalize
	EndpointAuthz                // authorization
	EndpointChallenge            // challenge
	EndpointCert                 // certificate download
	EndpointRevokeCert           // revokeCert
	EndpointRenewalInfo          // renewalInfo (RFC 9773)
	EndpointCRL                  // /pki/crl
	EndpointOCSP                 // /pki/ocsp (RFC 6960)
	EndpointCACert               // /pki/intermediate.crt, /pki/root.pem
	numEndpoints
)

// String is the endpoint's label value, e.g. "newOrder".
func (e Endpoint) String() string {
	switch e {
	case EndpointDirectory:
		return "directory"
	case EndpointNewNonce:
		return "newNonce"
	case EndpointNewAccount:
		return "newAccount"
	case EndpointAccount:
		return "account"
	case EndpointOrders:
		return "orders"
	case EndpointKeyChange:
		return "keyChange"
	case EndpointNewOrder:
		return "newOrder"
	case EndpointOrder:
		return "order"
	case EndpointFinalize:
		return "finalize"
	case EndpointAuthz:
		return "authz"
	case EndpointChallenge:
		return "challenge"
	case EndpointCert:
		return "cert"
	case EndpointRevokeCert:
		return "revokeCert"
	case EndpointRenewalInfo:
		return "renewalInfo"
	case EndpointCRL:
		return "crl"
	case EndpointOCSP:
		return "ocsp"
	case EndpointCACert:
		return "caCert"
	}
	return "other"
}

// latencyBuckets returns the upper bounds, in seconds, of the request and
// validation latency histograms: an ACME request takes about a
// millisecond, a finalize a few, a validation attempt up to 10 s.
func latencyBuckets() []float64 {
	return []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
}

// Metrics are one server's metrics and the registry that serves them.
// Create them with New.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger

	requests           *prometheus.CounterVec
	requestDuration    *prometheus.HistogramVec
	issued             *prometheus.CounterVec
	revoked            *prometheus.CounterVec
	finalizeFailures   *prometheus.CounterVec
	validations        *prometheus.CounterVec
	validationDuration *prometheus.HistogramVec
	rateLimited        *prometheus.CounterVec
	notifySent         *prometheus.CounterVec
	notifyFailed       *prometheus.CounterVec

	// The children of the request path, created once: per endpoint, its
	// latency histogram and its counter of 2xx answers without a problem,
	// so that a successful request costs an increment and an observation.
	endpoints [numEndpoints]endpointMetrics
}

type endpointMetrics struct {
	ok       prometheus.Counter
	duration prometheus.Observer
}

// New returns metrics on a new registry that also holds the Go runtime
// and process collectors. log receives errors of scrapes.
func New(log *slog.Logger) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{reg: reg, log: log,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "acme", Name: "requests_total",
			Help: "Requests to the ACME front end by endpoint, HTTP status class and ACME problem type (none: no problem)."},
			[]string{"endpoint", "status_class", "problem"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "acme", Name: "request_duration_seconds",
			Help: "Time the ACME front end took to answer a request, by endpoint.", Buckets: latencyBuckets()},
			[]string{"endpoint"}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "certificates_issued_total",
			Help: "Certificates issued by this process, by profile and issuer."}, []string{"profile", "issuer"}),
		revoked: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "certificates_revoked_total",
			Help: "Certificates revoked through this process (ACME or admin API), by RFC 5280 reason."}, []string{"reason"}),
		finalizeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "finalize_failures_total",
			Help: "Finalizations (including issuance after approval) that failed, by ACME problem type."}, []string{"problem"}),
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "validations_total",
			Help: "Challenge validations finished by this process, by challenge type and result (valid, invalid)."}, []string{"type", "result"}),
		validationDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "validation_attempt_duration_seconds",
			Help: "Time one validation attempt took (control and CAA, every perspective), by challenge type.", Buckets: latencyBuckets()},
			[]string{"type"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "rate_limit_refusals_total",
			Help: "Requests refused by a rate limit, by limit name."}, []string{"limit"}),
		notifySent: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "notifications_sent_total",
			Help: "Expiry notifications delivered by this process (one per certificate and recipient), by channel (email, webhook)."}, []string{"channel"}),
		notifyFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "notifications_failed_total",
			Help: "Failed attempts to deliver an expiry notification by this process, by channel and whether it was the last attempt (final: true, given up)."},
			[]string{"channel", "final"}),
	}
	reg.MustRegister(m.requests, m.requestDuration, m.issued, m.revoked, m.finalizeFailures, m.validations, m.validationDuration, m.rateLimited,
		m.notifySent, m.notifyFailed)
	// The notification series exist from the start (0 until a send), so
	// that an alert on their rate sees them.
	for _, ch := range []string{"email", "webhook"} {
		m.notifySent.WithLabelValues(ch)
		m.notifyFailed.WithLabelValues(ch, "false")
		m.notifyFailed.WithLabelValues(ch, "true")
	}
	for e := range numEndpoints {
		m.endpoints[e] = endpointMetrics{
			ok:       m.requests.WithLabelValues(e.String(), "2xx", noProblem),
			duration: m.requestDuration.WithLabelValues(e.String()),
		}
	}
	return m
}

// Registry is the registry the metrics are registered on; callers may
// register more collectors on it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats. A
// collector that fails (a database query of a scrape-time gauge) is
// logged and left out; the others are still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError,
		ErrorLog: slogErrorLog{m.log}, MaxRequestsInFlight: 4, Timeout: 30 * time.Second})
}

// slogErrorLog is promhttp's error log on a slog.Logger.
type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) {
	if l.log != nil {
		l.log.Error("metrics scrape", "err", strings.TrimSpace(fmt.Sprintln(v...)))
	}
}

// noProblem is the problem label of a request answered without a problem
// document.
const noProblem = "none"

// ObserveRequest records one request of the ACME front end to endpoint e,
// answered with HTTP status and problem type problem ("" for none) after
// d. A 2xx answer without a problem costs one counter increment and one
// histogram observation on children created in New.
func (m *Metrics) ObserveRequest(e Endpoint, status int, problem string, d time.Duration) {
	if m == nil {
		return
	}
	if e >= numEndpoints {
		e = EndpointOther
	}
	em := &m.endpoints[e]
	em.duration.Observe(d.Seconds())
	if problem == "" && status >= 200 && status < 300 {
		em.ok.Inc()
		return
	}
	m.requests.WithLabelValues(e.String(), statusClass(status), problemLabel(problem)).Inc()
}

// statusClass is the label value of an HTTP status code's class.
func statusClass(status int) string {
	switch status / 100 {
	case 1:
		return "1xx"
	case 2:
		return "2xx"
	case 3:
		return "3xx"
	case 4:
		return "4xx"
	case 5:
		return "5xx"
	}
	return "other"
}

// problemLabel is the label value of an ACME problem type: its name
// without the RFC 8555 §6.7 namespace ("badNonce"), "none" for "".
func problemLabel(p string) string {
	if p == "" {
		return noProblem
	}
	return strings.TrimPrefix(p, acme.ErrorNS)
}

// CertificateIssued counts a certificate issued under profile by issuer.
func (m *Metrics) CertificateIssued(profile, issuer string) {
	if m == nil {
		return
	}
	m.issued.WithLabelValues(profile, issuer).Inc()
}

// CertificateRevoked counts a revocation with RFC 5280 §5.3.1 reason code
// reason.
func (m *Metrics) CertificateRevoked(reason int) {
	if m == nil {
		return
	}
	m.revoked.WithLabelValues(acme.RevocationReasonName(reason)).Inc()
}

// FinalizeFailed counts a failed finalization with problem type problem.
func (m *Metrics) FinalizeFailed(problem acme.ProblemType) {
	if m == nil {
		return
	}
	m.finalizeFailures.WithLabelValues(problemLabel(string(problem))).Inc()
}

// ValidationFinished counts a challenge of type typ (e.g. "http-01")
// whose validation ended valid (ok) or invalid.
func (m *Metrics) ValidationFinished(typ string, ok bool) {
	if m == nil {
		return
	}
	result := "invalid"
	if ok {
		result = "valid"
	}
	m.validations.WithLabelValues(typ, result).Inc()
}

// ValidationAttempt records the duration d of one validation attempt of a
// challenge of type typ.
func (m *Metrics) ValidationAttempt(typ string, d time.Duration) {
	if m == nil {
		return
	}
	m.validationDuration.WithLabelValues(typ).Observe(d.Seconds())
}

// RateLimited counts a request refused by the rate limit named limit
// (e.g. "new-orders-per-account").
func (m *Metrics) RateLimited(limit string) {
	if m == nil {
		return
	}
	m.rateLimited.WithLabelValues(limit).Inc()
}

// NotificationsSent counts n expiry notifications delivered over channel
// ("email", "webhook").
func (m *Metrics) NotificationsSent(channel string, n int) {
	if m == nil || n == 0 {
		return
	}
	m.notifySent.WithLabelValues(channel).Add(float64(n))
}

// NotificationsFailed counts n failed attempts to deliver an expiry
// notification over channel; final says they were the last attempts
// (given up).
func (m *Metrics) NotificationsFailed(channel string, n int, final bool) {
	if m == nil || n == 0 {
		return
	}
	f := "false"
	if final {
		f = "true"
	}
	m.notifyFailed.WithLabelValues(channel, f).Add(float64(n))
}
