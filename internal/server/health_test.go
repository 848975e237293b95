package server

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/certgate/certgate/internal/hsm"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv/softhsm"
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

// TestReadyzTokenGone: with the CA's key in a PKCS#11 token, /readyz
// answers 503 while the token is gone (its store moved out of SoftHSM's
// token directory) and 200 again once it is back, reopened by the probe.
func TestReadyzTokenGone(t *testing.T) {
	softhsm.Token(t, "readyz")
	tok, err := hsm.Open(hsm.Config{Module: softhsm.Module, TokenLabel: "readyz", Slot: -1, PIN: softhsm.PIN, KeyLabel: "ca"})
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	if _, err := tok.GenerateKey("ecdsa-p256"); err != nil {
		t.Fatal(err)
	}
	s := &Server{store: storetest.Engines()[0].Open(t), log: slog.New(slog.DiscardHandler), token: tok, tokenCheck: tok.Check}
	readyz := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		s.serveHealth(rec, httptest.NewRequest(http.MethodGet, readyzPath, nil))
		return rec
	}
	if rec := readyz(); rec.Code != http.StatusOK {
		t.Fatalf("/readyz with the token = %d %s", rec.Code, rec.Body)
	}
	stores, err := filepath.Glob(filepath.Join(filepath.Dir(os.Getenv("SOFTHSM2_CONF")), "tokens", "*"))
	if err != nil || len(stores) != 1 {
		t.Fatalf("token stores %v: %v", stores, err)
	}
	aside := filepath.Join(t.TempDir(), "aside")
	if err := os.Rename(stores[0], aside); err != nil {
		t.Fatal(err)
	}
	rec := readyz()
	var p httpProblem
	if rec.Code != http.StatusServiceUnavailable || json.Unmarshal(rec.Body.Bytes(), &p) != nil ||
		p.Detail != "the PKCS#11 token holding the CA's signing key cannot be used" {
		t.Errorf("/readyz with the token gone = %d %s", rec.Code, rec.Body)
	}
	if err := os.Rename(aside, stores[0]); err != nil {
		t.Fatal(err)
	}
	if rec := readyz(); rec.Code != http.StatusOK {
		t.Errorf("/readyz with the token back = %d %s", rec.Code, rec.Body)
	}
}

// TestReadyzTokenHangs: a token that does not answer (an HSM hung on the
// network) makes /readyz answer 503 within readyTimeout, and probes that
// come while the check hangs share it instead of starting one each.
func TestReadyzTokenHangs(t *testing.T) {
	release := make(chan struct{})
	var started atomic.Int32
	s := &Server{store: storetest.Engines()[0].Open(t), log: slog.New(slog.DiscardHandler), tokenCheck: func() error {
		started.Add(1)
		<-release
		return nil
	}}
	defer close(release)
	for range 2 {
		rec := httptest.NewRecorder()
		s.serveHealth(rec, httptest.NewRequest(http.MethodGet, readyzPath, nil))
		var p httpProblem
		if rec.Code != http.StatusServiceUnavailable || json.Unmarshal(rec.Body.Bytes(), &p) != nil ||
			p.Detail != "the PKCS#11 token holding the CA's signing key did not answer within 1s" {
			t.Errorf("/readyz with a hung token = %d %s", rec.Code, rec.Body)
		}
	}
	if n := started.Load(); n != 1 {
		t.Errorf("%d token checks started; want 1 shared by both probes", n)
	}
}
