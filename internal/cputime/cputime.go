// Package cputime measures the CPU time a benchmark's process uses, for
// benchmarks on a shared machine: wall time per operation includes waiting
// for a core, CPU time does not. Only tests and benchmarks import it.
package cputime

import (
	"testing"
	"time"
)

// ReportPerOp reports the process CPU time (user + system) spent since
// start (a value of Process) per benchmark operation, as the metric
// "cpu-µs/op" (microseconds). Where Process is unsupported it reports 0.
func ReportPerOp(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(Process()-start)/float64(b.N)/1e3, "cpu-µs/op")
}
