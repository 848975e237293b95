package server

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/adminapi"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
)

// newAdminAPI builds the admin API (docs/api.md) over the server's services.
// Profiles created through it are linted with ca (LintProfile); profiles
// is the server's registry, whose built-in default the API reports.
func newAdminAPI(st *store.Store, r *ra.RA, log *audit.Log, now func() time.Time, l *slog.Logger, profiles *policy.Registry, ca *local.CA) http.Handler {
	return adminapi.New(adminapi.Deps{Store: st, Inventory: inventory.New(st, now), Tokens: auth.NewTokens(st, log, now), Audit: log, Revoker: r, Now: now,
		Log: l.With("component", "adminapi"), DefaultProfile: profiles.Default(),
		LintProfile: func(p *policy.Profile) error { return LintProfile(ca, p, now()) }})
}

// httpsHandler routes the HTTPS listener: /healthz and /readyz, the admin
// API under /api/v1/, everything else to the ACME front end. Each request's context carries
// the client address for the audit log (audit.WithSource).
func (s *Server) httpsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.serveHealth(w, r) {
			return
		}
		r = r.WithContext(audit.WithSource(r.Context(), r.RemoteAddr))
		if strings.HasPrefix(r.URL.Path, adminapi.Prefix+"/") || r.URL.Path == adminapi.Prefix {
			s.api.ServeHTTP(w, r)
			return
		}
		s.wfe.ServeHTTP(w, r)
	})
}
