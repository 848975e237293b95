// Package web is certgate's web dashboard under /ui/ (docs/dashboard.md):
// server-rendered HTML (html/template, templates and one stylesheet
// embedded in the binary), no JavaScript. A person signs in with an admin
// API token, or with OpenID Connect when Deps.SSO is set (auth.Sessions
// keeps the session in the database, so every node of a cluster accepts
// it) and sees and does what the token's role, or the role mapped from
// the ID token, may according to auth.Table, the admin API's permission table: a page
// or action the role lacks is not shown, and answers 403 when requested.
//
// Every state-changing request is a POST that passes the cross-origin
// check (Sec-Fetch-Site / Origin, http.CrossOriginProtection) and, once
// signed in, carries the session's CSRF token. Every answer has a
// Content-Security-Policy without script, forbids framing and caching.
// The actions reuse the admin API's: revocation through the RA
// (adminapi.Revoker), approval decisions through ra.Decide, lists through
// the inventory and the store.
package web

import (
	"context"
	"crypto/x509"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/adminapi"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/display"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store"
)

// Prefix is where the dashboard is served; Root its overview page.
const (
	Prefix = "/ui"
	Root   = Prefix + "/"
)

// CookieName is the session cookie: the __Host- prefix makes the browser
// refuse it unless Secure, host-only and Path=/ (RFC 6265bis §4.1.3.2).
const CookieName = "__Host-certgate-session"

// csrfField is the form field carrying the session's CSRF token.
const csrfField = "csrf"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/style.css
var styleCSS []byte

// Deps are the services the dashboard works over.
type Deps struct {
	Store     *store.Store       // storage (counts, approvals)
	Inventory *inventory.Service // certificate search and download
	Sessions  *auth.Sessions     // sign-in sessions
	Audit     *audit.Log         // the audit log: listed, and records decisions
	Revoker   adminapi.Revoker   // revokes certificates (ra.RA)
	SSO       *auth.OIDC         // sign-in with OpenID Connect; nil: none (API tokens only)
	Now       func() time.Time   // nil: time.Now
	Log       *slog.Logger       // nil: discard
	// RevokedIntermediates: see adminapi.Deps.RevokedIntermediates.
	RevokedIntermediates func() []*x509.Certificate
}

// UI is the dashboard's handler.
type UI struct {
	d     Deps
	pages map[string]*template.Template
	mux   *http.ServeMux
	cop   *http.CrossOriginProtection
}

// New returns the handler serving the dashboard: give it Prefix and every
// path under Root.
func New(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	u := &UI{d: d, pages: parsePages(), mux: http.NewServeMux(), cop: http.NewCrossOriginProtection()}
	u.routes()
	return u
}

// parsePages parses each page template with the layout. The templates are
// embedded: a parse error is a bug of this package, caught by every test.
func parsePages() map[string]*template.Template {
	funcs := template.FuncMap{
		"can":  func(p *auth.Principal, perm string) bool { return p != nil && p.Can(auth.Permission(perm)) },
		"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"ptime": func(t *time.Time) string {
			if t == nil {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
		"join": strings.Join,
		// show escapes control and bidirectional formatting characters
		// (display.Escape) in a value from certificates, attributes, audit
		// events, approvals or scans, as the CLI tables do.
		"show": display.Escape,
	}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		pages[name] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, n))
	}
	return pages
}

// route is one page or action: the permission it needs ("" for none
// beyond being signed in) and its handler.
type route struct {
	perm auth.Permission
	h    func(w http.ResponseWriter, r *http.Request, v *view)
}

func (u *UI) routes() {
	u.mux.HandleFunc("GET "+Root+"static/style.css", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(styleCSS)
	})
	u.mux.HandleFunc("GET "+Root+"sign-in", u.signInPage)
	u.mux.HandleFunc("POST "+Root+"sign-in", u.signIn)
	u.mux.HandleFunc("POST "+Root+"sign-out", u.signOut)
	u.mux.HandleFunc("GET "+ssoStartPath, u.ssoStart)
	u.mux.HandleFunc("GET "+ssoCallbackPath, u.ssoCallback)
	for pattern, rt := range map[string]route{
		"GET " + Root + "{$}":                           {"", u.overview},
		"GET " + Root + "certificates":                  {auth.PermCertificatesRead, u.certificates},
		"GET " + Root + "certificates/{serial}":         {auth.PermCertificatesRead, u.certificate},
		"GET " + Root + "certificates/{serial}/pem":     {auth.PermCertificatesRead, u.certificatePEM},
		"POST " + Root + "certificates/{serial}/revoke": {auth.PermCertificatesRevoke, u.revoke},
		"GET " + Root + "approvals":                     {auth.PermApprovalsRead, u.approvals},
		"POST " + Root + "approvals/{id}/{decision}":    {auth.PermApprovalsDecide, u.decide},
		"GET " + Root + "audit":                         {auth.PermAuditRead, u.auditLog},
	} {
		u.mux.HandleFunc(pattern, u.page(rt))
	}
	u.mux.HandleFunc(Root, func(w http.ResponseWriter, r *http.Request) {
		v := u.optionalSession(r)
		if allow := u.allowed(r); len(allow) > 0 {
			// Routed for other methods only (a GET of /ui/sign-out,
			// say): 405 with the Allow header RFC 9110 §15.5.6
			// requires.
			w.Header().Set("Allow", strings.Join(allow, ", "))
			u.fail(w, r, v, http.StatusMethodNotAllowed, "This page does not take a "+r.Method+" request; it takes "+strings.Join(allow, ", ")+".")
			return
		}
		u.fail(w, r, v, http.StatusNotFound, "There is no such page: "+r.URL.Path+".")
	})
}

// allowed returns the methods that a route other than the fallback
// (Root) serves at r's path, nil when none does (no such page). HEAD is
// served wherever GET is.
func (u *UI) allowed(r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := u.mux.Handler(probe); pattern != Root && pattern != "" {
			allow = append(allow, m)
		}
	}
	return allow
}

// ServeHTTP serves the dashboard: security headers on every answer, the
// cross-origin check and a small URL-encoded form (readForm) on every
// POST, then the page.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	sw := &adminapi.StatusWriter{ResponseWriter: w}
	e := &logEntry{}
	r = r.WithContext(context.WithValue(r.Context(), logKey{}, e))
	defer func() {
		u.d.Log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.Status), slog.String("actor", e.actor), slog.String("remote", r.RemoteAddr),
			slog.Float64("ms", float64(time.Since(start).Microseconds())/1000))
	}()
	if r.URL.Path == Prefix {
		http.Redirect(sw, r, Root, http.StatusMovedPermanently)
		return
	}
	if err := u.cop.Check(r); err != nil {
		u.fail(sw, r, nil, http.StatusForbidden, "This request came from another site and was refused. Use the dashboard's own pages.")
		return
	}
	if r.Method == http.MethodPost && !u.readForm(sw, r) {
		return
	}
	u.mux.ServeHTTP(sw, r)
}

// maxFormBytes bounds the body of a dashboard form (a decision's comment
// of MaxDecisionComment characters, percent-encoded, and the CSRF
// token fit); maxSignInBytes the sign-in form's, a pasted token.
const (
	maxFormBytes   = 64 << 10
	maxSignInBytes = 4096
)

// readForm reads the form of a POST into r.Form and r.PostForm before any
// handler looks at it, and returns true; or answers and returns false. A
// dashboard form is a small application/x-www-form-urlencoded body: any
// other content type is a 415 page, read not at all (a multipart body
// was parsed by PostFormValue, its large parts spilled to temporary files
// that nothing removed, as the request had been copied), and a body over
// maxFormBytes (maxSignInBytes for sign-in) a 413 page. A POST without a
// body is an empty form.
func (u *UI) readForm(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength != 0 {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct != formType {
			w.Header().Set("Accept", formType)
			u.fail(w, r, nil, http.StatusUnsupportedMediaType, "The dashboard takes forms as "+formType+", as its pages send them, not as "+
				strconv.Quote(r.Header.Get("Content-Type"))+". Use the dashboard's own pages.")
			return false
		}
	}
	limit := int64(maxFormBytes)
	if r.URL.Path == Root+"sign-in" {
		limit = maxSignInBytes
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if err := r.ParseForm(); err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			u.fail(w, r, nil, http.StatusRequestEntityTooLarge, "The form is larger than any of the dashboard's ("+strconv.FormatInt(limit, 10)+" bytes at most).")
			return false
		}
		u.fail(w, r, nil, http.StatusBadRequest, "The form could not be read: it is not a well-formed "+formType+" body. Use the dashboard's own pages.")
		return false
	}
	return true
}

// formType is the content type of every dashboard form.
const formType = "application/x-www-form-urlencoded"

// logEntry is what the request log line says beyond the request: the
// signed-in actor, once known.
type logEntry struct{ actor string }

// logKey keys the request's *logEntry in its context.
type logKey struct{}

// setActor notes the actor of r for its request log line.
func setActor(r *http.Request, actor string) {
	if e, ok := r.Context().Value(logKey{}).(*logEntry); ok {
		e.actor = actor
	}
}

// view is what every page template gets: the signed-in session (nil on
// the sign-in page) and the page's own data.
type view struct {
	Session *auth.Session
	P       *auth.Principal // Session.Principal, nil when signed out
	Title   string
	Nav     string // the nav entry to mark current
	Flash   string // a message about the last action
	Error   string // a message about what failed
	Data    any
	SSO     bool // sign-in with SSO is configured (the sign-in page offers it)
	Refresh bool // the page goes on to the overview at once (after an SSO sign-in)
}

// page wraps a route: a signed-in session (else, for a GET, to the
// sign-in page; for a POST, 403), the route's permission (403), for a
// POST the session's CSRF token (403), a path of plain text (404) and
// query parameters of plain text (400; store.PlainText).
func (u *UI) page(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := u.optionalSession(r)
		if v.Session == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, Root+"sign-in", http.StatusSeeOther)
				return
			}
			u.fail(w, r, v, http.StatusForbidden, "You are not signed in, or your session ended. Sign in again.")
			return
		}
		setActor(r, v.P.Actor())
		if rt.perm != "" && !v.P.Can(rt.perm) {
			u.fail(w, r, v, http.StatusForbidden, "Your role ("+string(v.P.Role)+") may not do this: it lacks the permission "+string(rt.perm)+".")
			return
		}
		if r.Method == http.MethodPost && !v.Session.CheckCSRF(r.PostFormValue(csrfField)) {
			u.fail(w, r, v, http.StatusForbidden, "The form was refused: it did not come from this session's page (CSRF check). Reload the page and try again.")
			return
		}
		// As the admin API refuses them (404): a path value ({id},
		// {serial}) with a NUL character or invalid UTF-8 names no
		// object, and PostgreSQL refused it (500) where SQLite found
		// nothing.
		if !store.PlainText(r.URL.Path) {
			u.fail(w, r, v, http.StatusNotFound, "There is no such page: the address holds a NUL character or invalid UTF-8.")
			return
		}
		// As the admin API refuses them (422): a search for invalid
		// UTF-8 answered "no certificate matches".
		for name, vals := range r.URL.Query() {
			for _, val := range vals {
				if !store.PlainText(name) || !store.PlainText(val) {
					u.fail(w, r, v, http.StatusBadRequest, "The address holds a NUL character or invalid UTF-8 in its query (parameter "+
						strconv.Quote(strings.ToValidUTF8(name, "\uFFFD"))+"): search with plain text.")
					return
				}
			}
		}
		rt.h(w, r, v)
	}
}

// optionalSession returns the view of r's session, with a nil Session
// when r has none (no cookie, or one of an ended session).
func (u *UI) optionalSession(r *http.Request) *view {
	v := &view{}
	c, err := r.Cookie(CookieName)
	if err != nil {
		return v
	}
	sess, err := u.d.Sessions.Lookup(r.Context(), c.Value)
	if err != nil {
		if !errors.Is(err, auth.ErrUnauthenticated) {
			u.d.Log.ErrorContext(r.Context(), "session lookup", "err", err)
		}
		return v
	}
	v.Session, v.P = sess, sess.Principal
	return v
}

// render writes page with v at status.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, page string, v *view) {
	if v.P != nil {
		setActor(r, v.P.Actor())
	}
	v.SSO = u.d.SSO != nil
	t, ok := u.pages[page]
	if !ok {
		panic("web: no template " + page)
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout.html", v); err != nil {
		u.d.Log.ErrorContext(r.Context(), "render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// fail renders the error page with msg at status.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, v *view, status int, msg string) {
	if v == nil {
		v = &view{}
	}
	v.Title, v.Error = http.StatusText(status), msg
	u.render(w, r, status, "error", v)
}

// internal logs err and renders a 500 page that says nothing of it.
func (u *UI) internal(w http.ResponseWriter, r *http.Request, v *view, what string, err error) {
	u.d.Log.ErrorContext(r.Context(), "web dashboard", "what", what, "err", err)
	u.fail(w, r, v, http.StatusInternalServerError, "Something went wrong on the server while reading "+what+"; the error is in the server's log.")
}

// signInPage shows the sign-in form (or goes to the overview when signed
// in already).
func (u *UI) signInPage(w http.ResponseWriter, r *http.Request) {
	if v := u.optionalSession(r); v.Session != nil {
		http.Redirect(w, r, Root, http.StatusSeeOther)
		return
	}
	v := &view{Title: "Sign in"}
	if r.URL.Query().Get("signed-out") != "" {
		v.Flash = "You are signed out."
	}
	u.render(w, r, http.StatusOK, "signin", v)
}

// signIn starts a session for the pasted token and sets its cookie.
func (u *UI) signIn(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimSpace(r.PostFormValue("token")) // read by readForm, at most maxSignInBytes
	// A token copied from a curl line or a header ("Bearer cgt_...") is
	// the token after the scheme.
	if scheme, rest, ok := strings.Cut(tok, " "); ok && strings.EqualFold(scheme, "Bearer") {
		tok = strings.TrimSpace(rest)
	}
	secret, sess, err := u.d.Sessions.SignIn(r.Context(), tok)
	if err != nil {
		if !errors.Is(err, auth.ErrUnauthenticated) {
			u.internal(w, r, nil, "the session", err)
			return
		}
		u.d.Log.WarnContext(r.Context(), "dashboard sign-in refused", "remote", r.RemoteAddr)
		u.render(w, r, http.StatusUnauthorized, "signin", &view{Title: "Sign in",
			Error: "That token is not valid: it is unknown, malformed, revoked or expired. Paste the whole token (cgt_...) as certgate token create printed it."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: secret, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Expires: sess.ExpiresAt})
	setActor(r, sess.Principal.Actor())
	http.Redirect(w, r, Root, http.StatusSeeOther)
}

// signOut ends the session (CSRF-checked) and clears its cookie.
func (u *UI) signOut(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(CookieName)
	v := u.optionalSession(r)
	if err != nil || v.Session == nil {
		clearCookie(w)
		http.Redirect(w, r, Root+"sign-in", http.StatusSeeOther)
		return
	}
	if !v.Session.CheckCSRF(r.PostFormValue(csrfField)) {
		u.fail(w, r, v, http.StatusForbidden, "The form was refused: it did not come from this session's page (CSRF check). Reload the page and try again.")
		return
	}
	if err := u.d.Sessions.SignOut(r.Context(), c.Value); err != nil && !errors.Is(err, auth.ErrUnauthenticated) {
		u.internal(w, r, v, "the session", err)
		return
	}
	clearCookie(w)
	http.Redirect(w, r, Root+"sign-in?signed-out=1", http.StatusSeeOther)
}

func clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// overview shows the counts of certificates by status and of pending
// approvals, each for a role that may read them.
func (u *UI) overview(w http.ResponseWriter, r *http.Request, v *view) {
	type data struct {
		Certs        *store.CertificateCounts
		Pending      int
		ShowPending  bool
		HorizonLabel string
	}
	d := data{HorizonLabel: "30 days"}
	now := u.d.Now()
	if v.P.Can(auth.PermCertificatesRead) {
		c, err := u.d.Store.CountCertificatesByStatus(r.Context(), now, now.Add(30*24*time.Hour))
		if err != nil {
			u.internal(w, r, v, "the certificate counts", err)
			return
		}
		d.Certs = &c
	}
	if v.P.Can(auth.PermApprovalsRead) {
		n, err := u.d.Store.CountPendingApprovals(r.Context())
		if err != nil {
			u.internal(w, r, v, "the approvals", err)
			return
		}
		d.Pending, d.ShowPending = n, true
	}
	v.Title, v.Nav, v.Data = "Overview", "overview", d
	u.render(w, r, http.StatusOK, "overview", v)
}
