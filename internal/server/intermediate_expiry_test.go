package server

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/issuer/local"
)

// TestListenerCertEndsWithIntermediate: a server whose intermediate
// (certgate init --ca-intermediate-validity 20d) expires within the
// validity of its certificates warns at start, naming certgate ca rotate;
// its listener certificate ends with the intermediate (it ended 25 days
// later), is served without being issued anew at every handshake once a
// third of serverCertValidity is left (a renewal would end no later), and
// once the intermediate has expired nothing is signed: the handshake
// fails with an error naming certgate ca rotate.
func TestListenerCertEndsWithIntermediate(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	clock := &listenerClock{t: time.Now()}
	ca, err := local.LoadOrCreate(CADir(data), local.Options{Now: clock.now, IntermediateValidity: 20 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	end := ca.Intermediate().NotAfter
	var logs logBuffer
	s, err := New(context.Background(), testServeConfig(data), Options{Now: clock.now}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Serve(ctx); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	out := logs.String()
	if !strings.Contains(out, "intermediate expires within the validity") || !strings.Contains(out, "certgate ca rotate") {
		t.Errorf("no start warning about the intermediate's expiry:\n%s", out)
	}
	first, err := s.certificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Leaf.NotAfter.Equal(end) {
		t.Fatalf("listener certificate notAfter %s, want the intermediate's %s", first.Leaf.NotAfter, end)
	}
	if !strings.Contains(logs.String(), "listener certificate is cut to end with") {
		t.Errorf("the cut listener certificate is not logged:\n%s", logs.String())
	}

	// Less than a third of serverCertValidity left: not renewed, since a
	// renewal would end with the intermediate too.
	clock.add(end.Sub(clock.now()) - 24*time.Hour)
	for i := range 3 {
		c, err := s.certificate(nil)
		if err != nil || c != first {
			t.Fatalf("handshake %d a day before the intermediate expires: %v, same certificate %v", i, err, c == first)
		}
	}
	if evs := issueEvents(t, s.store); len(evs) != 1 {
		t.Errorf("%d listener certificates issued, want 1", len(evs))
	}

	// The intermediate has expired: nothing is signed.
	clock.add(24*time.Hour + time.Second)
	if _, err := s.certificate(nil); err == nil || !strings.Contains(err.Error(), "certgate ca rotate") {
		t.Errorf("handshake after the intermediate expired: err = %v, want one naming certgate ca rotate", err)
	}
	if evs := issueEvents(t, s.store); len(evs) != 1 {
		t.Errorf("%d listener certificates issued, want 1", len(evs))
	}
}

// TestWarnIntermediateExpiry: the start warning is logged only when the
// intermediate expires within the certificates' validity (an expired one
// is refused before, by New).
func TestWarnIntermediateExpiry(t *testing.T) {
	now := time.Now()
	ca, err := local.LoadOrCreate(t.TempDir(), local.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	end := ca.Intermediate().NotAfter
	cfg := &config.Serve{CertValidity: 90 * 24 * time.Hour}
	for _, tc := range []struct {
		name string
		at   time.Time
		want string
	}{
		{"years left", now, ""},
		{"91 days left", end.Add(-91 * 24 * time.Hour), ""},
		{"89 days left", end.Add(-89 * 24 * time.Hour), "expires within the validity"},
	} {
		var b bytes.Buffer
		warnIntermediateExpiry(slog.New(slog.NewTextHandler(&b, nil)), ca, cfg, tc.at)
		switch {
		case tc.want == "" && b.Len() != 0:
			t.Errorf("%s: logged %s", tc.name, b.String())
		case tc.want != "" && (!strings.Contains(b.String(), tc.want) || !strings.Contains(b.String(), "certgate ca rotate") || !strings.Contains(b.String(), "level=WARN")):
			t.Errorf("%s: logged %q, want a warning with %q and certgate ca rotate", tc.name, b.String(), tc.want)
		}
	}
}
