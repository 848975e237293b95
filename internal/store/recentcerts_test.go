package store

import (
	"fmt"
	"testing"
)

// TestRecentCertsBounded: the memory of recently issued certificates keeps
// the last maxRecentCerts, oldest out first.
func TestRecentCertsBounded(t *testing.T) {
	r := newRecentCerts()
	n := maxRecentCerts + 10
	for i := range n {
		r.add(fmt.Sprint(i), "acct", fmt.Sprint("chain-", i), 0)
		r.add(fmt.Sprint(i), "other", "again", 0) // a second add changes nothing
	}
	if len(r.bySer) != maxRecentCerts {
		t.Fatalf("%d kept, want %d", len(r.bySer), maxRecentCerts)
	}
	for i := range n {
		c, ok := r.get(fmt.Sprint(i))
		if want := i >= n-maxRecentCerts; ok != want {
			t.Fatalf("certificate %d kept: %v, want %v", i, ok, want)
		}
		if ok && (c.accountID != "acct" || c.chainPEM != fmt.Sprint("chain-", i)) {
			t.Fatalf("certificate %d: %+v", i, c)
		}
	}
}
