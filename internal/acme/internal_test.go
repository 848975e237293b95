package acme

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestInternalCanceledLoggedAtInfo: an error that is only the request's
// own cancellation (a client that went away) is logged at Info, any other
// internal error at Error; both return a serverInternal problem naming
// what failed and nothing of the error.
func TestInternalCanceledLoggedAtInfo(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	check := func(p *Problem) {
		t.Helper()
		if p.Type != ServerInternal || p.Detail != "rate limit check failed; the server log has details" {
			t.Fatalf("got %s %q, want serverInternal without internals", p.Type, p.Detail)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	check(Internal(ctx, log, "rate limit check", fmt.Errorf("spend: %w", context.Canceled)))
	if out := buf.String(); !strings.Contains(out, "level=INFO") || strings.Contains(out, "level=ERROR") {
		t.Fatalf("canceled request logged as %q, want INFO and no ERROR", out)
	}

	buf.Reset()
	check(Internal(context.Background(), log, "rate limit check", errors.New("disk I/O error")))
	if out := buf.String(); !strings.Contains(out, "level=ERROR") {
		t.Fatalf("storage failure logged as %q, want ERROR", out)
	}

	// A request whose context is done but whose error is something else
	// (the disk failed first) is still an error.
	buf.Reset()
	check(Internal(ctx, log, "rate limit check", errors.New("disk I/O error")))
	if out := buf.String(); !strings.Contains(out, "level=ERROR") {
		t.Fatalf("storage failure of a canceled request logged as %q, want ERROR", out)
	}
}
