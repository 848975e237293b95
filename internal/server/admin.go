package server

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/adminapi"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/web"
)

// newAdminAPI builds the admin API (docs/api.md) over the server's services.
// Profiles created through it are linted with ca (LintProfile) and
// checked against the server's va-dns-resolver, vaResolver
// (policy.Profile.CheckDNSSEC); profiles
// is the server's registry, whose built-in default the API reports;
// acmeBase is the server's public URL (adminapi.ACMEBaseURL).
func newAdminAPI(st *store.Store, r *ra.RA, log *audit.Log, now func() time.Time, l *slog.Logger, profiles *policy.Registry, ca *local.CA, issuers []string, acmeBase, vaResolver string) http.Handler {
	return adminapi.New(adminapi.Deps{Store: st, Inventory: inventory.New(st, now), Tokens: auth.NewTokens(st, log, now), Audit: log, Revoker: r, Now: now,
		Log: l.With("component", "adminapi"), DefaultProfile: profiles.Default(), ACMEBase: acmeBase, Issuers: issuers,
		RevokedIntermediates: r.RevokedIntermediates,
		LintProfile: func(p *policy.Profile) error {
			// DNS settings this server cannot apply (DNSSEC without a
			// resolver) first: every validation of the profile would fail.
			if err := p.CheckDNSSEC(vaResolver); err != nil {
				return err
			}
			if p.Issuer != issuer.LocalName {
				return nil // signed elsewhere: the built-in CA's lint says nothing about it
			}
			return LintProfile(ca, p, now())
		}})
}

// newDashboard builds the web dashboard (docs/dashboard.md) over the
// server's services: sessions signed in with the admin API's tokens, or
// with OpenID Connect when sso configures it, revocations through r,
// decisions and sign-ins audited in log.
func newDashboard(st *store.Store, r *ra.RA, log *audit.Log, now func() time.Time, l *slog.Logger, sso *config.SSO) http.Handler {
	var oidc *auth.OIDC
	if sso.Enabled() {
		oidc = auth.NewOIDC(auth.OIDCConfig{Issuer: sso.Issuer, ClientID: sso.ClientID, ClientSecret: sso.ClientSecret, RedirectURL: sso.RedirectURL,
			Scopes: sso.Scopes, RoleClaim: sso.RoleClaim, RoleMap: sso.RoleMap, AllowedEmailDomains: sso.AllowedEmailDomains, RootCAs: sso.RootCAs})
	}
	return web.New(web.Deps{Store: st, Inventory: inventory.New(st, now),
		Sessions: auth.NewSessions(st, auth.NewTokens(st, log, now), log, now, 0, 0), Audit: log, Revoker: r, Now: now, SSO: oidc,
		Log: l.With("component", "web"), RevokedIntermediates: r.RevokedIntermediates})
}

// isUIPath reports whether path is the web dashboard's: /ui or below.
func isUIPath(path string) bool {
	return strings.HasPrefix(path, web.Root) || path == web.Prefix
}

// writeUINotHere answers a dashboard path on the listen address when
// admin-listen serves the admin API and the dashboard: a plain 404 that,
// as writeAdminNotHere, does not name admin-listen.
func writeUINotHere(w http.ResponseWriter) {
	http.Error(w, "404 page not found", http.StatusNotFound)
}

// redirectUI answers a dashboard path over plain HTTP: GET and HEAD are
// sent to the same path and query (a bookmarked search keeps its filters)
// over HTTPS at base (https://HOST:PORT), anything else is a 400 naming
// the path (a form is never posted over plain HTTP).
func redirectUI(w http.ResponseWriter, r *http.Request, base string) {
	target := base + r.URL.EscapedPath()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "certgate serves the web dashboard over HTTPS only: "+target, http.StatusBadRequest)
		return
	}
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, target, http.StatusMovedPermanently)
}

// isAdminPath reports whether path is the admin API's: /api/v1 or below.
func isAdminPath(path string) bool {
	return strings.HasPrefix(path, adminapi.Prefix+"/") || path == adminapi.Prefix
}

// writeAdminNotHere answers an admin API path on the listen address when
// admin-listen serves the API: 404, an RFC 9457 problem document as every
// admin API error, that does not name admin-listen (whoever reaches the
// ACME port learns nothing of the management address).
func writeAdminNotHere(w http.ResponseWriter) {
	adminapi.WriteProblem(w, http.StatusNotFound, "the admin API is not served on this address")
}

// adminOnlyDetail is the detail of admin-listen's 404 for a path outside
// the admin API.
const adminOnlyDetail = "this address serves the admin API under " + adminapi.Prefix + "/, the web dashboard under " + web.Root + ", " + healthzPath + " and " + readyzPath

// httpsHandler routes the HTTPS listener: /healthz and /readyz, the admin
// API under /api/v1/ and the web dashboard under /ui/ (404 when
// admin-listen serves them: writeAdminNotHere, writeUINotHere),
// everything else to the ACME front end. Each request's context carries
// the client address for the audit log (audit.WithSource).
func (s *Server) httpsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.serveHealth(w, r) {
			return
		}
		r = r.WithContext(audit.WithSource(r.Context(), r.RemoteAddr))
		if isUIPath(r.URL.Path) {
			if s.adminLn != nil {
				writeUINotHere(w)
				return
			}
			s.ui.ServeHTTP(w, r)
			return
		}
		if isAdminPath(r.URL.Path) {
			if s.adminLn != nil {
				s.logRefusal(r, time.Now(), "adminapi", http.StatusNotFound, "")
				writeAdminNotHere(w)
				return
			}
			s.api.ServeHTTP(w, r)
			return
		}
		s.wfe.ServeHTTP(w, r)
	})
}

// logRefusal logs the "request" line of a request that the server answers
// itself with status, outside the ACME front end and the admin API (which
// log their own): the admin API refused on listen when admin-listen serves
// it, anything but the API on admin-listen, and plain HTTP sent where
// HTTPS is needed. The line has the shape of component's own lines
// ("wfe": method, path, status, problem (an ACME error type), remote, ms;
// "adminapi": method, path, status, actor (empty), remote, ms), the path
// with any API token's secret cut off (adminapi.RedactTokens), so that
// every request but the health probes leaves one line.
func (s *Server) logRefusal(r *http.Request, start time.Time, component string, status int, problem string) {
	ctx := r.Context()
	if !s.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := []slog.Attr{slog.String("component", component), slog.String("method", r.Method),
		slog.String("path", adminapi.RedactTokens(r.URL.Path)), slog.Int("status", status)}
	if component == "adminapi" {
		attrs = append(attrs, slog.String("actor", ""))
	} else {
		attrs = append(attrs, slog.String("problem", problem))
	}
	attrs = append(attrs, slog.String("remote", r.RemoteAddr), slog.Float64("ms", float64(time.Since(start).Microseconds())/1000))
	s.log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
}

// adminHandler routes the HTTPS side of admin-listen: /healthz and
// /readyz, the admin API under /api/v1/ (its bearer tokens, body limits
// and problem documents unchanged), the web dashboard under /ui/, anything else 404 with an RFC 9457
// problem document (ACME is served on listen only). Each request's context
// carries the client address for the audit log (audit.WithSource).
func (s *Server) adminHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.serveHealth(w, r) {
			return
		}
		if isUIPath(r.URL.Path) {
			s.ui.ServeHTTP(w, r.WithContext(audit.WithSource(r.Context(), r.RemoteAddr)))
			return
		}
		if !isAdminPath(r.URL.Path) {
			s.logRefusal(r, time.Now(), "adminapi", http.StatusNotFound, "")
			adminapi.WriteProblem(w, http.StatusNotFound, adminOnlyDetail)
			return
		}
		s.api.ServeHTTP(w, r.WithContext(audit.WithSource(r.Context(), r.RemoteAddr)))
	})
}

// adminPlainHandler answers plain HTTP on admin-listen as plainHandler
// does an admin API path on listen: /healthz and /readyz are served, and
// anything else is 400 with an RFC 9457 problem document naming the HTTPS
// URL to use, at the host the client asked for (the Host header, else the
// listener's address): the same path for an admin API path, the OpenAPI
// document otherwise.
func (s *Server) adminPlainHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.serveHealth(w, r) {
			return
		}
		host := r.Host
		if host == "" {
			host = s.adminLn.Addr().String()
		}
		if isUIPath(r.URL.Path) {
			redirectUI(w, r, "https://"+host)
			return
		}
		path := adminapi.Prefix + "/openapi.json"
		if isAdminPath(r.URL.Path) {
			path = r.URL.EscapedPath()
		}
		s.logRefusal(r, time.Now(), "adminapi", http.StatusBadRequest, "")
		adminapi.WriteProblem(w, http.StatusBadRequest, "certgate serves the admin API over HTTPS only: https://"+host+path)
	})
}
