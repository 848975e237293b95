package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hangupLog is the log of the server TestServeSurvivesSIGHUP runs: it
// keeps the lines and tells when one holds a given text.
type hangupLog struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func (l *hangupLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf.Write(p)
	l.mu.Unlock()
	select {
	case l.lines <- string(p):
	default:
	}
	return len(p), nil
}

func (l *hangupLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor waits for a log line containing text; ctx ends the wait.
func (l *hangupLog) waitFor(ctx context.Context, t *testing.T, text string) {
	t.Helper()
	for !strings.Contains(l.String(), text) {
		select {
		case <-l.lines:
		case <-ctx.Done():
			t.Fatalf("no log line %q; log:\n%s", text, l.String())
		}
	}
}

// TestServeSurvivesSIGHUP: SIGHUP, which step-ca and Vault take as "reload
// the configuration" (and `systemctl reload` sends), ended `certgate
// serve` at once, without draining its requests or a log line (Go's
// default for the signal). The server now logs a warning and goes on
// serving; SIGTERM (here the context) still stops it.
func TestServeSurvivesSIGHUP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	log := &hangupLog{lines: make(chan string, 64)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRoot(io.Discard, log)
	root.SetArgs([]string{"serve", "--data", filepath.Join(t.TempDir(), "data"), "--listen", addr})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	wait, stop := context.WithTimeout(context.Background(), time.Minute) // a bound on a hang, not a timing
	defer stop()
	log.waitFor(wait, t, "certgate serving")
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	log.waitFor(wait, t, "received SIGHUP")
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("after SIGHUP: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz after SIGHUP: %s", resp.Status)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}
