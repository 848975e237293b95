package server

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/config"
)

// TestPlainHTTPPointsAtHTTPS: a plain-HTTP request for anything but the
// PKI and health paths is 400 with a problem document naming the HTTPS URL
// to use: the same path for the admin API (it named the ACME directory,
// which told a curl of http://HOST:PORT/api/v1/... nothing) and for an
// ACME path, the ACME directory otherwise. The admin API's answer is an
// RFC 9457 problem document, as every admin API error; the ACME one an
// RFC 8555 §6.7 malformed problem, as every ACME error (it was one line of
// text/plain).
func TestPlainHTTPPointsAtHTTPS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := &Server{cfg: &config.Serve{Hostname: "acme.example.test"}, ln: ln, log: slog.New(slog.DiscardHandler)}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "https://acme.example.test:" + port
	for path, want := range map[string]string{
		"/api/v1/accounts?limit=5": "certgate serves the admin API over HTTPS only: " + base + "/api/v1/accounts",
		"/api/v1":                  "certgate serves the admin API over HTTPS only: " + base + "/api/v1",
		"/acme/new-order":          "certgate serves ACME over HTTPS only: " + base + "/acme/new-order",
		"/acme/directory":          "certgate serves ACME over HTTPS only: " + base + "/acme/directory",
		"/":                        "certgate serves ACME over HTTPS only: " + base + "/acme/directory",
		"/favicon.ico":             "certgate serves ACME over HTTPS only: " + base + "/acme/directory",
	} {
		rec := httptest.NewRecorder()
		s.plainHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		wantType := "urn:ietf:params:acme:error:malformed"
		if strings.HasPrefix(path, "/api/v1") {
			wantType = "about:blank"
		}
		var p struct {
			Type   string `json:"type"`
			Status int    `json:"status"`
			Detail string `json:"detail"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Header().Get("Content-Type") != "application/problem+json" ||
			p.Type != wantType || p.Status != http.StatusBadRequest {
			t.Errorf("plain GET %s = %d %s %q, want a 400 %s problem document (%v)", path, rec.Code, rec.Header().Get("Content-Type"),
				rec.Body.String(), wantType, err)
		}
		if rec.Code != http.StatusBadRequest || p.Detail != want {
			t.Errorf("plain GET %s = %d %q, want 400 %q", path, rec.Code, p.Detail, want)
		}
	}
}

// TestPlainHTTPDashboardKeepsQuery: a plain-HTTP GET of a dashboard page
// is redirected to the same path over HTTPS with its query, so that a
// bookmarked search keeps its filters (the query was dropped).
func TestPlainHTTPDashboardKeepsQuery(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := &Server{cfg: &config.Serve{Hostname: "acme.example.test"}, ln: ln, log: slog.New(slog.DiscardHandler)}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "https://acme.example.test:" + port
	for path, want := range map[string]string{
		"/ui/certificates?status=expiring&q=www.example.com": base + "/ui/certificates?status=expiring&q=www.example.com",
		"/ui/":      base + "/ui/",
		"/ui/audit": base + "/ui/audit",
	} {
		rec := httptest.NewRecorder()
		s.plainHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != want {
			t.Errorf("plain GET %s = %d Location %q, want 301 to %q", path, rec.Code, rec.Header().Get("Location"), want)
		}
	}
}
