package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
)

// TestServeStoppedWhileStartingClosesListeners: Serve stopped before it
// serves (its context done while the RA starts) closes the listeners New
// opened — listen, admin-listen and metrics-listen — as a shutdown does,
// instead of leaving their ports bound for the life of the process.
func TestServeStoppedWhileStartingClosesListeners(t *testing.T) {
	cfg := testServeConfig(filepath.Join(t.TempDir(), "data"))
	cfg.AdminListen, cfg.MetricsListen = "127.0.0.1:0", "127.0.0.1:0"
	srv, err := New(context.Background(), cfg, Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addrs := map[string]string{"listen": srv.Addr().String(), "admin-listen": srv.AdminAddr().String(), "metrics-listen": srv.MetricsAddr().String()}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.Serve(ctx); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	for name, addr := range addrs {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("%s %s still bound after Serve returned: %v", name, addr, err)
			continue
		}
		l.Close()
	}
}
