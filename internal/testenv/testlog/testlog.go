// Package testlog holds what tests use to read the log lines of the code
// they run.
package testlog

import (
	"bytes"
	"sync"
)

// Buffer collects what a logger writes (e.g. slog.NewTextHandler(&buf,
// nil)); it is safe for the writes of several goroutines, as a server's
// loggers make. Its zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p; it never fails.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
