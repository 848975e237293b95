package server

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// TestServingLineNamesAdminListen: with admin-listen the "certgate
// serving" line names the admin address it is bound to beside listen;
// without it the line has no admin address.
func TestServingLineNamesAdminListen(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, admin := range []string{"127.0.0.1:0", ""} {
		ctx, cancel := context.WithCancel(context.Background())
		w := &stopOnServing{cancel: cancel}
		cfg := testServeConfig(data)
		cfg.AdminListen = admin
		srv, err := New(context.Background(), cfg, Options{}, slog.New(slog.NewTextHandler(w, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Serve(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		var line string
		for _, l := range strings.Split(w.buf.String(), "\n") {
			if strings.Contains(l, `msg="certgate serving"`) {
				line = l
			}
		}
		want := "listen=" + srv.Addr().String() + " admin_listen="
		if admin != "" {
			want += srv.AdminAddr().String() + " "
			if !strings.Contains(line, want) {
				t.Errorf("serving line with admin-listen:\n%s\nwant it to contain %q", line, want)
			}
		} else if line == "" || strings.Contains(line, "admin_listen") {
			t.Errorf("serving line without admin-listen:\n%s\nwant one without admin_listen", line)
		}
	}
}
