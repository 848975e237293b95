package server

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/issuer/local"
)

// TestStartLogsTheCA: the first start, which creates the built-in CA,
// says so in the log with the root's SHA-256 and how to get the root for
// clients; every start's "certgate serving" line names the root's SHA-256
// (the fingerprint `ca import` prints and the database records). A first
// start said nothing of the CA it had just made.
func TestStartLogsTheCA(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	start := func() string {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w := &stopOnServing{cancel: cancel}
		log := slog.New(slog.NewTextHandler(w, nil))
		srv, err := New(context.Background(), testServeConfig(data), Options{}, log)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Serve(ctx); err != nil {
			t.Fatal(err)
		}
		return w.buf.String()
	}
	first := start()
	ca, err := local.LoadOrCreate(CADir(data), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fp := local.Fingerprint(ca.Root())
	want := `msg="created the built-in CA" root_sha256=` + fp + ` dir=` + CADir(data) +
		` trust="clients trust its root: certgate ca root --data ` + data + ` --out certgate-root.pem"`
	if !strings.Contains(first, want) {
		t.Errorf("first start's log:\n%s\nwant a line with %s", first, want)
	}
	if !strings.Contains(first, "msg=\"certgate serving\"") || !strings.Contains(first, "root_sha256="+fp) {
		t.Errorf("first start's log has no serving line with the root's SHA-256:\n%s", first)
	}
	second := start()
	if strings.Contains(second, "created the built-in CA") {
		t.Errorf("second start logged a new CA:\n%s", second)
	}
	if !strings.Contains(second, "root_sha256="+fp) {
		t.Errorf("second start's serving line has no root SHA-256:\n%s", second)
	}
}

// stopOnServing keeps a server's log and calls cancel once it logs that
// it serves (slog's handler serializes the writes).
type stopOnServing struct {
	buf    bytes.Buffer
	cancel func()
}

func (w *stopOnServing) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("certgate serving")) {
		w.cancel()
	}
	return w.buf.Write(p)
}
