package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/auth"
	"golang.org/x/oauth2"
)

// SSOCookieName holds a sign-in with OpenID Connect in progress: its
// state, nonce and PKCE code verifier, from /ui/sso/start to the
// callback. SameSite=Lax: the browser sends it with the provider's
// redirect back (a cross-site top-level GET), which a Strict cookie would
// miss.
const SSOCookieName = "__Host-certgate-sso"

// ssoCookieAge is how long a person has to sign in at the provider.
const ssoCookieAge = 10 * time.Minute

// Paths of the SSO sign-in: start redirects to the provider, the
// provider redirects back to callback (config.SSOCallbackPath).
const (
	ssoStartPath    = Root + "sso/start"
	ssoCallbackPath = Root + "sso/callback"
)

// randomValue returns 32 random bytes, base64url without padding (43
// characters): a state, a nonce.
func randomValue() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ssoStart begins a sign-in with the OpenID Provider: a fresh state,
// nonce and PKCE verifier in the SSO cookie, then a redirect to the
// provider's authorization endpoint. A link, not a form: a form's
// redirect to another origin is refused by the form-action 'self' policy.
func (u *UI) ssoStart(w http.ResponseWriter, r *http.Request) {
	if u.d.SSO == nil {
		u.fail(w, r, nil, http.StatusNotFound, "Sign-in with SSO is not configured on this server (sso-issuer).")
		return
	}
	state, nonce, verifier := randomValue(), randomValue(), oauth2.GenerateVerifier()
	target, err := u.d.SSO.AuthCodeURL(r.Context(), state, nonce, verifier)
	if err != nil {
		u.d.Log.ErrorContext(r.Context(), "SSO sign-in", "err", err)
		u.fail(w, r, nil, http.StatusBadGateway, "The identity provider could not be reached to sign you in; the error is in the server's log. Try again later, or sign in with an API token.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SSOCookieName, Value: state + "." + nonce + "." + verifier, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: int(ssoCookieAge / time.Second)})
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// ssoCallback completes a sign-in: the state must be the SSO cookie's,
// the code is redeemed and the ID token verified (auth.OIDC.Exchange),
// and a person with a mapped role gets a session. A refused person sees
// why, and the refusal is audited (session.sign_in_refused).
func (u *UI) ssoCallback(w http.ResponseWriter, r *http.Request) {
	if u.d.SSO == nil {
		u.fail(w, r, nil, http.StatusNotFound, "Sign-in with SSO is not configured on this server (sso-issuer).")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SSOCookieName, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	q := r.URL.Query()
	var state, nonce, verifier string
	if c, err := r.Cookie(SSOCookieName); err == nil {
		if parts := strings.Split(c.Value, "."); len(parts) == 3 {
			state, nonce, verifier = parts[0], parts[1], parts[2]
		}
	}
	if state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(q.Get("state"))) != 1 {
		u.d.Log.WarnContext(r.Context(), "SSO sign-in refused: state does not match", "remote", r.RemoteAddr)
		u.fail(w, r, nil, http.StatusBadRequest, "The sign-in could not be completed: it does not match a sign-in this browser started (it expired after 10 minutes, or came from another browser). Start again.")
		return
	}
	if e := q.Get("error"); e != "" {
		u.d.Log.WarnContext(r.Context(), "SSO sign-in refused by the identity provider", "error", e, "description", q.Get("error_description"), "remote", r.RemoteAddr)
		msg := "The identity provider did not sign you in: " + e
		if d := q.Get("error_description"); d != "" {
			msg += " (" + d + ")"
		}
		u.fail(w, r, nil, http.StatusForbidden, msg+".")
		return
	}
	id, err := u.d.SSO.Exchange(r.Context(), q.Get("code"), verifier, nonce)
	var refused *auth.SignInRefusedError
	switch {
	case errors.As(err, &refused):
		u.d.Log.WarnContext(r.Context(), "SSO sign-in refused", "subject", refused.Identity.Subject, "name", refused.Identity.Name,
			"reason", refused.Reason, "remote", r.RemoteAddr)
		if err := u.d.Sessions.RecordSignInRefused(r.Context(), refused); err != nil {
			u.internal(w, r, nil, "the audit log", err)
			return
		}
		u.fail(w, r, nil, http.StatusForbidden, "You may not sign in to this dashboard: "+refused.Message+". Ask the PKI administrators for access.")
		return
	case err != nil:
		u.d.Log.WarnContext(r.Context(), "SSO sign-in failed", "err", err, "remote", r.RemoteAddr)
		u.fail(w, r, nil, http.StatusBadGateway, "The identity provider's answer could not be verified, so you are not signed in; the error is in the server's log. Start again.")
		return
	}
	secret, sess, err := u.d.Sessions.SignInSSO(r.Context(), id)
	if err != nil {
		u.internal(w, r, nil, "the session", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: secret, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Expires: sess.ExpiresAt})
	setActor(r, sess.Principal.Actor())
	// A page that goes on to the overview rather than a redirect: a
	// browser sends no SameSite=Strict cookie along a redirect chain that
	// began at another site (the provider), so a redirect would land on
	// the sign-in page.
	u.render(w, r, http.StatusOK, "signedin", &view{Title: "Signed in", Refresh: true, Flash: "You are signed in as " + id.Name + " with role " + string(id.Role) + "."})
}
