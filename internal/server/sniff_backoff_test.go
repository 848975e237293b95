package server

import (
	"net"
	"sync"
	"testing"
	"time"
)

// timeoutListener is a net.Listener whose Accept fails at once with a
// timeout error, and with net.ErrClosed after Close; it records whether
// Accept was called after Close.
type timeoutListener struct {
	mu          sync.Mutex
	closed      bool
	afterClose  int
	acceptCalls int
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "accept: i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func (l *timeoutListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acceptCalls++
	if l.closed {
		l.afterClose++
		return nil, net.ErrClosed
	}
	return nil, timeoutError{}
}

func (l *timeoutListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	return nil
}

func (l *timeoutListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
}

// TestSplitListenerCloseEndsBackoff: Close during the pause after an
// Accept timeout ends the accept loop at once; it used to sleep the pause
// out (up to 1 s) and call Accept on the closed listener once more.
func TestSplitListenerCloseEndsBackoff(t *testing.T) {
	inner := &timeoutListener{}
	s := newSplitListener(inner)
	// The pauses are 5, 10, ..., 320 ms, then 640 ms from about 635 ms to
	// 1275 ms: close in the middle of that one.
	time.Sleep(900 * time.Millisecond)
	s.Close()
	time.Sleep(700 * time.Millisecond)
	inner.mu.Lock()
	defer inner.mu.Unlock()
	if inner.acceptCalls < 5 {
		t.Fatalf("%d Accept calls before Close: the loop did not run", inner.acceptCalls)
	}
	if inner.afterClose != 0 {
		t.Errorf("Accept called %d times after Close: the loop slept its pause out", inner.afterClose)
	}
}
