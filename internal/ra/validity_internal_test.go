package ra

import (
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
)

// TestProfileValidityAbsurdNotAfter: an order stored with a notAfter in
// the year 9999 (accepted before newOrder compared the period as times)
// is refused at signing (checkProfileValidity: malformed), not issued
// with a shortened validity; periodExceeds compares as times around the
// limit and far beyond the range of a time.Duration.
func TestProfileValidityAbsurdNotAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	prof := &policy.Profile{Name: "p", Validity: policy.Duration(90 * 24 * time.Hour)}
	o := &store.Order{NotAfter: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)}
	err := checkProfileValidity(o, prof, now)
	if p, ok := acme.AsProblem(err); !ok || p.Type != acme.Malformed {
		t.Fatalf("order with notAfter 9999 at signing: %v, want malformed", err)
	}
	max := 90 * 24 * time.Hour
	for _, tc := range []struct {
		end  time.Time
		want bool
	}{
		{now.Add(max - time.Second), false},
		{now.Add(max - time.Second + 999*time.Millisecond), false}, // whole seconds
		{now.Add(max), true},
		{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), true},
		{now.AddDate(293, 0, 0), true},
	} {
		if got := periodExceeds(now, tc.end, max); got != tc.want {
			t.Errorf("periodExceeds(%s, %s, %s) = %v, want %v", now, tc.end, max, got, tc.want)
		}
	}
}
