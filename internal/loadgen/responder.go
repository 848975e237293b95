package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// responder answers http-01 challenges (RFC 8555 §8.3): GET
// /.well-known/acme-challenge/TOKEN returns the key authorization of TOKEN
// while its flow waits for validation, 404 otherwise.
type responder struct {
	mu     sync.RWMutex
	tokens map[string]string // token → key authorization
	srv    *http.Server
	lns    []net.Listener
	done   sync.WaitGroup
}

// listenConfig is how the responder listens: without TCP keep-alive
// probes on accepted connections (each lives for one validation request;
// enabling keep-alive costs four setsockopt calls per connection).
var listenConfig = net.ListenConfig{KeepAlive: -1}

// startResponder serves on lns, or else listens on each address of the
// comma-separated list addrs. It answers one request per connection
// (Connection: close): validators open a connection per validation.
func startResponder(addrs string, lns []net.Listener) (*responder, error) {
	r := &responder{tokens: map[string]string{}}
	if len(lns) == 0 {
		for a := range strings.SplitSeq(addrs, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			ln, err := listenConfig.Listen(context.Background(), "tcp", a)
			if err != nil {
				for _, l := range lns {
					l.Close()
				}
				return nil, err
			}
			lns = append(lns, ln)
		}
		if len(lns) == 0 {
			return nil, fmt.Errorf("no listen address in %q", addrs)
		}
	}
	r.lns = lns
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	r.srv.SetKeepAlivesEnabled(false)
	for _, ln := range lns {
		r.done.Add(1)
		go func() {
			defer r.done.Done()
			if err := r.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				ln.Close()
			}
		}()
	}
	return r, nil
}

// Addrs are the addresses the responder listens on.
func (r *responder) Addrs() []net.Addr {
	var out []net.Addr
	for _, ln := range r.lns {
		out = append(out, ln.Addr())
	}
	return out
}

func (r *responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	token, ok := strings.CutPrefix(req.URL.Path, "/.well-known/acme-challenge/")
	if !ok || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
		http.NotFound(w, req)
		return
	}
	r.mu.RLock()
	ka, found := r.tokens[token]
	r.mu.RUnlock()
	if !found {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	io.WriteString(w, ka)
}

func (r *responder) set(token, keyAuth string) {
	r.mu.Lock()
	r.tokens[token] = keyAuth
	r.mu.Unlock()
}

func (r *responder) remove(token string) {
	r.mu.Lock()
	delete(r.tokens, token)
	r.mu.Unlock()
}

// Close stops the responder, waiting up to 2 s for requests in flight.
func (r *responder) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	r.done.Wait()
	return err
}
