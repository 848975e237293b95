package loadgen

import (
	"fmt"
	"runtime"
	"testing"
)

// TestPreparedRequestMemory: a flow's ec256 key and CSR made before the
// flows keep at most ~0.5 kB (MaxPreparedEC: ~100 MB at the bound). The
// parsed public key kept beside the CSR (two big integers and the curve)
// made it ~1 kB; the DER SubjectPublicKeyInfo, a slice of the CSR, adds
// nothing.
func TestPreparedRequestMemory(t *testing.T) {
	const n = 20000
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	reqs := make([]certRequest, n)
	for i := range reqs {
		r, err := newCertRequest(KeyEC256, fmt.Sprintf("f%d.bench.example", i))
		if err != nil {
			t.Fatal(err)
		}
		reqs[i] = r
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := int64(after.HeapAlloc-before.HeapAlloc) / n
	runtime.KeepAlive(reqs)
	if per > 512 {
		t.Errorf("%d bytes kept per prepared ec256 flow, want at most 512", per)
	}
}
