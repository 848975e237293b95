package notify

import (
	"context"
	"time"
)

// DeliverEarly exposes deliver, Run's delivery with its slack, to the
// package's external tests.
func (n *Notifier) DeliverEarly(ctx context.Context, early time.Duration) (Result, error) {
	return n.deliver(ctx, early)
}
