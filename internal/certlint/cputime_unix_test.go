//go:build unix

package certlint_test

import (
	"syscall"
	"testing"
	"time"
)

// reportCPU reports the process CPU time (user + system) per operation
// spent since start (from processCPU), as "cpu-µs/op": on a shared machine
// wall time per operation includes waiting for a core, CPU time does not.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(processCPU()-start)/float64(b.N)/1e3, "cpu-µs/op")
}

// processCPU returns the CPU time the process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
