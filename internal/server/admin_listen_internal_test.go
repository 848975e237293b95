package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/config"
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

// TestAdminPlainNamesTheHostAsked: plain HTTP on admin-listen names the
// HTTPS URL at the host the request asked for (its Host header), and at
// the listener's address when the request has none (HTTP/1.0), never at
// hostname (which may not resolve to the admin address).
func TestAdminPlainNamesTheHostAsked(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := &Server{cfg: &config.Serve{Hostname: "acme.example.test"}, adminLn: ln, log: slog.New(slog.DiscardHandler)}
	for host, want := range map[string]string{
		"mgmt.example.test:9443": "https://mgmt.example.test:9443/api/v1/tokens",
		"":                       "https://" + ln.Addr().String() + "/api/v1/tokens",
	} {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/tokens", nil)
		r.Host = host
		rec := httptest.NewRecorder()
		s.adminPlainHandler().ServeHTTP(rec, r)
		var p struct {
			Status int    `json:"status"`
			Detail string `json:"detail"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Code != http.StatusBadRequest || p.Status != 400 ||
			p.Detail != "certgate serves the admin API over HTTPS only: "+want {
			t.Errorf("Host %q: %d %s, want a 400 problem naming %s", host, rec.Code, rec.Body, want)
		}
	}
}
