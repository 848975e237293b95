package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/certgate/certgate/internal/hsm"
	"github.com/certgate/certgate/internal/store"
)

// Health endpoints (docs/operations.md, "Metrics and health"), served
// unauthenticated on the HTTPS listener, on plain HTTP on the same port and
// on metrics-listen.
const (
	healthzPath = "/healthz" // the process is up: 200 "ok"
	readyzPath  = "/readyz"  // the node can serve: 200, else 503 with a problem
	metricsPath = "/metrics" // Prometheus, on metrics-listen only
)

// readyTimeout bounds the database query of /readyz: a node whose database
// does not answer within it is not ready. Probes should wait longer than
// this for the answer.
const readyTimeout = time.Second

// serveHealth answers /healthz and /readyz and reports whether r was one
// of them (false: the caller routes it).
func (s *Server) serveHealth(rw http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != healthzPath && r.URL.Path != readyzPath {
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		rw.Header().Set("Allow", "GET, HEAD")
		writeHTTPProblem(rw, http.StatusMethodNotAllowed, r.URL.Path+" answers GET and HEAD")
		return true
	}
	if r.URL.Path == readyzPath {
		if err := s.ready(r.Context()); err != nil {
			writeHTTPProblem(rw, http.StatusServiceUnavailable, err.Error())
			return true
		}
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(rw, "ok")
	return true
}

// ready returns nil when the node can serve: it is not shutting down, its
// database answers, within readyTimeout, a query that reads a table page
// from the database (store.Ping; on SQLite from the file itself, which
// must also still be written durably and have room), and,
// with pkcs11-module, the token holds the CA's key (hsm.Token.Check, which
// reopens a token that lost it). The error is fit for an unauthenticated
// client (the cause is logged).
func (s *Server) ready(ctx context.Context) error {
	if s.stopping.Load() {
		return fmt.Errorf("the server is shutting down")
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		if ctx.Err() != nil {
			s.log.WarnContext(ctx, "not ready: the database did not answer", "err", err)
			return fmt.Errorf("the database did not answer within %s", readyTimeout)
		}
		switch {
		case errors.Is(err, store.ErrNotDurable):
			s.log.WarnContext(ctx, "not ready: the database is not written durably", "err", err)
			return fmt.Errorf("a write of the database to disk failed: restart certgate once the disk is sound")
		case errors.Is(err, store.ErrNoSpace):
			s.log.WarnContext(ctx, "not ready: the database's file system is full", "err", err)
			return fmt.Errorf("the database's file system is full")
		}
		s.log.WarnContext(ctx, "not ready: the database could not be read", "err", err)
		return fmt.Errorf("the database could not be read")
	}
	if s.tokenCheck != nil {
		if err := s.checkToken(ctx); err != nil {
			s.log.WarnContext(ctx, "not ready: the PKCS#11 token of the CA's key", "err", err)
			if ctx.Err() != nil {
				return fmt.Errorf("the PKCS#11 token holding the CA's signing key did not answer within %s", readyTimeout)
			}
			return fmt.Errorf("the PKCS#11 token holding the CA's signing key cannot be used")
		}
	}
	return nil
}

// tokenProbe is a run of Server.tokenCheck: err is set before done is
// closed.
type tokenProbe struct {
	done chan struct{}
	err  error
}

// tokenCheck returns token's Check, or nil for no token.
func tokenCheck(token *hsm.Token) func() error {
	if token == nil {
		return nil
	}
	return token.Check
}

// checkToken runs s.tokenCheck, which takes no context (PKCS#11 calls
// cannot be cancelled), in a goroutine, and waits for it until ctx ends.
// Probes that come while one runs wait for that one, so that a token that
// hangs holds one goroutine, not one per probe.
func (s *Server) checkToken(ctx context.Context) error {
	s.tokenMu.Lock()
	p := s.tokenProbe
	if p == nil {
		p = &tokenProbe{done: make(chan struct{})}
		s.tokenProbe = p
		go func() {
			p.err = s.tokenCheck()
			s.tokenMu.Lock()
			s.tokenProbe = nil
			s.tokenMu.Unlock()
			close(p.done)
		}()
	}
	s.tokenMu.Unlock()
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("check the token: %w", ctx.Err())
	}
}

// httpProblem is an RFC 9457 problem document of type about:blank (§4.2.1:
// the title is the status code's reason phrase).
type httpProblem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

func writeHTTPProblem(rw http.ResponseWriter, status int, detail string) {
	body, _ := json.Marshal(httpProblem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail})
	rw.Header().Set("Content-Type", "application/problem+json")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(status)
	rw.Write(body)
}

// metricsHandler serves metrics-listen: /metrics (Prometheus), /healthz
// and /readyz; anything else is 404.
func (s *Server) metricsHandler() http.Handler {
	m := s.metrics.Handler()
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if s.serveHealth(rw, r) {
			return
		}
		if r.URL.Path != metricsPath {
			writeHTTPProblem(rw, http.StatusNotFound, "this listener serves "+metricsPath+", "+healthzPath+" and "+readyzPath)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			rw.Header().Set("Allow", "GET, HEAD")
			writeHTTPProblem(rw, http.StatusMethodNotAllowed, metricsPath+" answers GET and HEAD")
			return
		}
		m.ServeHTTP(rw, r)
	})
}
