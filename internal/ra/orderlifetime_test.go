package ra

import (
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
)

// TestOrderLifetimeBounded: New takes an order lifetime up to
// store.MaxOrderLifetime, which the store's orders list relies on
// (ListACMEOrders enters its index at now - MaxOrderLifetime), and refuses
// a longer one instead of creating orders the list would leave out.
func TestOrderLifetimeBounded(t *testing.T) {
	if r := New(Config{}, nil, nil, nil, nil, nil); r.Config().OrderLifetime != store.MaxOrderLifetime {
		t.Errorf("default order lifetime %s, want %s", r.Config().OrderLifetime, store.MaxOrderLifetime)
	}
	New(Config{OrderLifetime: store.MaxOrderLifetime}, nil, nil, nil, nil, nil)
	defer func() {
		if p, ok := recover().(string); !ok || !strings.Contains(p, "exceeds the maximum") {
			t.Errorf("New with a longer order lifetime: panic %v, want one naming the maximum", p)
		}
	}()
	New(Config{OrderLifetime: store.MaxOrderLifetime + time.Second}, nil, nil, nil, nil, nil)
}
