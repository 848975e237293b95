package ra

import (
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
)

func TestRenewalWindow(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := nb.Add(10 * 24 * time.Hour)
	c := &store.Certificate{NotBefore: nb, NotAfter: nb.Add(90 * 24 * time.Hour), Status: acme.StatusValid}
	admin := acme.TimeWindow{Start: now, End: now.Add(24 * time.Hour)}
	if got := RenewalWindow(c, acme.TimeWindow{}, now); got != SuggestedWindow(c, now) {
		t.Fatalf("no admin window: %v, want the default", got)
	}
	if got := RenewalWindow(c, admin, now); got != admin {
		t.Fatalf("admin window: got %v, want %v", got, admin)
	}
	c.Status = acme.StatusRevoked
	if got := RenewalWindow(c, admin, now); got != SuggestedWindow(c, now) || got.End != now {
		t.Fatalf("revoked certificate: %v, want [now-1h, now] despite the admin window", got)
	}
}

func TestEarlierWindow(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	future := acme.TimeWindow{Start: now.Add(50 * 24 * time.Hour), End: now.Add(65 * 24 * time.Hour)}
	current := acme.TimeWindow{Start: now.Add(-24 * time.Hour), End: now.Add(5 * 24 * time.Hour)}
	validity := acme.TimeWindow{Start: now.Add(-30 * 24 * time.Hour), End: now.Add(70 * 24 * time.Hour)}
	for _, tt := range []struct {
		name      string
		cur       acme.TimeWindow
		before    time.Time
		wantStart time.Time
	}{
		{"window in the future, before tomorrow: from now", future, now.Add(24 * time.Hour), now},
		{"already in the window: keeps its start", current, now.Add(24 * time.Hour), current.Start},
		{"before in the past: ends then, an hour long", future, now.Add(-2 * time.Hour), now.Add(-3 * time.Hour)},
		{"before the current start, which is past", current, now.Add(-48 * time.Hour), now.Add(-49 * time.Hour)},
	} {
		got, err := EarlierWindow(tt.cur, validity, tt.before, now)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !got.End.Equal(tt.before) || !got.Start.Equal(tt.wantStart) {
			t.Errorf("%s: %v .. %v, want %v .. %v", tt.name, got.Start, got.End, tt.wantStart, tt.before)
		}
	}
	for _, before := range []time.Time{future.End, future.End.Add(time.Hour)} {
		if _, err := EarlierWindow(future, validity, before, now); err == nil || !strings.Contains(err.Error(), "would not move it earlier") {
			t.Errorf("before %v (current end %v): err = %v", before, future.End, err)
		}
	}
}

// TestEarlierWindowWithinValidity: a --before earlier than the
// certificate's notBefore would store a window that ends before the
// certificate was valid; it is refused, naming notBefore. notBefore
// itself is accepted (the window ends at it).
func TestEarlierWindowWithinValidity(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	validity := acme.TimeWindow{Start: now.Add(-10 * 24 * time.Hour), End: now.Add(80 * 24 * time.Hour)}
	current := acme.TimeWindow{Start: now.Add(50 * 24 * time.Hour), End: now.Add(60 * 24 * time.Hour)}
	for _, before := range []time.Time{time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), validity.Start.Add(-time.Second)} {
		if w, err := EarlierWindow(current, validity, before, now); err == nil || !strings.Contains(err.Error(), "notBefore") {
			t.Errorf("before %v (notBefore %v): window %v, err = %v", before, validity.Start, w, err)
		}
	}
	if w, err := EarlierWindow(current, validity, validity.Start, now); err != nil || !w.End.Equal(validity.Start) {
		t.Errorf("before = notBefore: %v, %v", w, err)
	}
}
