package cputime_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/cputime"
)

// TestProcessCountsBusyWork: on Unix, Process grows while this goroutine
// burns CPU: 20 ms of CPU time show up within 10 s of spinning, however
// busy the machine is.
func TestProcessCountsBusyWork(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("process CPU time is read on Unix systems only")
	}
	start := cputime.Process()
	if start <= 0 {
		t.Fatalf("Process() = %v at start, want > 0 (the test binary has run already)", start)
	}
	var x uint64
	for deadline := time.Now().Add(10 * time.Second); cputime.Process()-start < 20*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Fatalf("Process grew by %v in 10 s of spinning, want 20 ms", cputime.Process()-start)
		}
		for i := range 100000 {
			x += uint64(i)
		}
	}
	_ = x
}
