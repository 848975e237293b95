package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// testRenewalWindow: a certificate has no stored renewal window until
// SetRenewalWindow stores one, which a later call replaces; unknown
// serials are ErrNotFound.
func testRenewalWindow(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a, o, _ := seed(t, s)
	issue(t, s, o.ID, a.ID, "abc")

	start, end, err := s.RenewalWindow(ctx, "abc")
	must(t, err)
	if !start.IsZero() || !end.IsZero() {
		t.Fatalf("fresh certificate has window %v .. %v", start, end)
	}
	for _, w := range [][2]time.Time{{now.Add(time.Hour), now.Add(24 * time.Hour)}, {now.Add(-2 * time.Hour), now.Add(-time.Hour)}} {
		must(t, s.SetRenewalWindow(ctx, "abc", w[0], w[1]))
		start, end, err = s.RenewalWindow(ctx, "abc")
		must(t, err)
		if !start.Equal(w[0]) || !end.Equal(w[1]) {
			t.Fatalf("window %v .. %v, want %v .. %v", start, end, w[0], w[1])
		}
	}
	if err := s.SetRenewalWindow(ctx, "abc", now, now); err == nil {
		t.Fatal("an empty window was stored")
	}
	wantErr(t, "set on a missing certificate", s.SetRenewalWindow(ctx, "nope", now, now.Add(time.Hour)), store.ErrNotFound)
	_, _, err = s.RenewalWindow(ctx, "nope")
	wantErr(t, "get of a missing certificate", err, store.ErrNotFound)
	// The rest of the record is untouched.
	c, err := s.GetCertificate(ctx, "abc")
	must(t, err)
	if c.Status != "valid" || c.Serial != "abc" {
		t.Fatalf("certificate changed: %+v", c)
	}
}
