package server

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/certgate/certgate/internal/store/storetest"
)

// TestReadyzWhileShuttingDown: once shutdown has begun, /readyz answers
// 503 with a problem saying so although the database answers, and
// /healthz still answers 200; other methods than GET and HEAD are 405.
func TestReadyzWhileShuttingDown(t *testing.T) {
	s := &Server{store: storetest.Engines()[0].Open(t), log: slog.New(slog.DiscardHandler)}
	serve := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		if !s.serveHealth(rec, httptest.NewRequest(method, path, nil)) {
			t.Fatalf("%s %s not served", method, path)
		}
		return rec
	}
	if rec := serve(http.MethodGet, readyzPath); rec.Code != http.StatusOK {
		t.Fatalf("/readyz before shutdown = %d %s", rec.Code, rec.Body)
	}
	if rec := serve(http.MethodHead, readyzPath); rec.Code != http.StatusOK {
		t.Fatalf("HEAD /readyz = %d", rec.Code)
	}
	s.stopping.Store(true)
	rec := serve(http.MethodGet, readyzPath)
	var p httpProblem
	if rec.Code != http.StatusServiceUnavailable || json.Unmarshal(rec.Body.Bytes(), &p) != nil ||
		p.Status != http.StatusServiceUnavailable || p.Title != "Service Unavailable" || p.Detail != "the server is shutting down" {
		t.Errorf("/readyz while shutting down = %d %s", rec.Code, rec.Body)
	}
	if rec := serve(http.MethodGet, healthzPath); rec.Code != http.StatusOK || rec.Body.String() != "ok\n" {
		t.Errorf("/healthz while shutting down = %d %q", rec.Code, rec.Body)
	}
	if rec := serve(http.MethodPost, healthzPath); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /healthz = %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
	if s.serveHealth(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/acme/directory", nil)) {
		t.Error("serveHealth took /acme/directory")
	}
}
