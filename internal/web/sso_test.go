package web_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv"
	"github.com/certgate/certgate/internal/testenv/tlstest"
	"github.com/certgate/certgate/internal/web"
)

// The OpenID Provider of the SSO tests is a real one: zitadel/oidc's op
// package (discovery, JWKS, authorization endpoint with PKCE, token
// endpoint, signed ID tokens) over its example in-memory storage, on
// loopback HTTPS. Only the person's login at the provider is automated:
// the login page's form signs in the user the test names (opProvider.next).

const (
	opClientID     = "certgate-dashboard"
	opClientSecret = "op-client-secret"
	opPassword     = "correct horse"
)

// opPerson is a user of the test provider and the claims their ID token
// carries.
type opPerson struct {
	email         string
	emailVerified bool
	groups        []string
}

// opUsers is the provider's user store (storage.UserStore).
type opUsers map[string]*storage.User

func (u opUsers) GetUserByID(id string) *storage.User { return u[id] }
func (u opUsers) GetUserByUsername(name string) *storage.User {
	for _, x := range u {
		if x.Username == name {
			return x
		}
	}
	return nil
}
func (u opUsers) ExampleClientID() string { return "service" }

// opStorage is the example storage with the test's client (whose
// redirect URI is known once certgate listens) and each person's email,
// email_verified and groups claims in their ID token.
type opStorage struct {
	*storage.Storage
	people map[string]opPerson
	mu     sync.Mutex
	client op.Client
}

func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == opClientID && s.client != nil {
		return s.client, nil
	}
	return s.Storage.GetClientByClientID(ctx, id)
}

func (s *opStorage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	if id == opClientID && secret == opClientSecret {
		return nil
	}
	return s.Storage.AuthorizeClientIDSecret(ctx, id, secret)
}

func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	p, ok := s.people[req.GetSubject()]
	if !ok {
		return nil
	}
	ui.Subject = req.GetSubject()
	ui.AppendClaims("email", p.email)
	ui.AppendClaims("email_verified", p.emailVerified)
	ui.AppendClaims("groups", p.groups)
	return nil
}

// opProvider is the running provider.
type opProvider struct {
	issuer string
	roots  *x509.CertPool
	st     *opStorage
	client *http.Client // to the provider, following no redirect
	mu     sync.Mutex
	next   string // the user the login page signs in
}

// startOP starts the provider on loopback HTTPS with people (user ID →
// person; the user name is the ID).
func startOP(t *testing.T, people map[string]opPerson) *opProvider {
	t.Helper()
	users := opUsers{}
	for id, p := range people {
		users[id] = &storage.User{ID: id, Username: id, Password: opPassword, Email: p.email, EmailVerified: p.emailVerified,
			PreferredLanguage: language.English}
	}
	st := &opStorage{Storage: storage.NewStorageWithClients(users, map[string]*storage.Client{}), people: people}
	ts := httptest.NewUnstartedServer(nil)
	o := &opProvider{issuer: "https://" + ts.Listener.Addr().String(), st: st}
	provider, err := op.NewProvider(&op.Config{CryptoKey: sha256.Sum256([]byte("test op")), CodeMethodS256: true, AuthMethodPost: true,
		SupportedUILocales: []language.Tag{language.English}}, st, op.StaticIssuer(o.issuer))
	if err != nil {
		t.Fatal(err)
	}
	login := func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			// The provider's login page: the person submits it, so the
			// redirects back to certgate begin at the provider's site.
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!DOCTYPE html><form method="post" action="/login/username"><input type="hidden" name="id" value="%s"><button id="login" type="submit">Log in</button></form>`,
				html.EscapeString(r.URL.Query().Get("authRequestID")))
			return
		}
		id := r.PostFormValue("id")
		o.mu.Lock()
		user := o.next
		o.mu.Unlock()
		if err := st.CheckUsernamePassword(user, opPassword, id); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		http.Redirect(w, r, op.AuthCallbackURL(provider)(r.Context(), id), http.StatusFound)
	}
	mux := http.NewServeMux()
	mux.Handle("/login/username", op.NewIssuerInterceptor(provider.IssuerFromRequest).HandlerFunc(login))
	mux.Handle("/", provider)
	ts.Config.Handler = mux
	ts.StartTLS()
	t.Cleanup(ts.Close)
	o.roots = x509.NewCertPool()
	o.roots.AddCert(ts.Certificate())
	o.client = ts.Client()
	o.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return o
}

// register registers certgate's client with its redirect URI.
func (o *opProvider) register(redirectURL string) {
	c := storage.WebClient(opClientID, opClientSecret, redirectURL)
	o.st.mu.Lock()
	o.st.client = c
	o.st.mu.Unlock()
}

// signInAs sets the person the provider's login page signs in.
func (o *opProvider) signInAs(user string) {
	o.mu.Lock()
	o.next = user
	o.mu.Unlock()
}

// ssoPeople are the provider's users.
var ssoPeople = map[string]opPerson{
	"alice": {email: "alice@example.com", emailVerified: true, groups: []string{"staff", "pki-ops"}},
	"erin":  {email: "erin@example.com", emailVerified: true, groups: []string{"pki-ops", "pki-admins"}},
	"bob":   {email: "bob@example.com", emailVerified: true, groups: []string{"staff"}},
	"carol": {email: "carol@other.example", emailVerified: true, groups: []string{"pki-admins"}},
	"dave":  {email: "dave@example.com", emailVerified: false, groups: []string{"pki-admins"}},
}

// TestSSOSignIn signs in to the dashboard with OpenID Connect against a
// real OpenID Provider on both engines: a person whose groups map to a
// role gets a session with that role (the most powerful of several),
// audited; one without a mapped group, with an email outside the allowed
// domains, or with email_verified false is refused with a page saying
// why and a session.sign_in_refused event; a callback whose state is not
// the browser's, that comes to a browser that started no sign-in, or
// whose browser holds another nonce or PKCE verifier is refused and signs
// no one in.
func TestSSOSignIn(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			if e.Name == store.EnginePostgres {
				storetest.RequirePostgres(t)
			}
			o := startOP(t, ssoPeople)
			d := newDashWith(t, e.Name, "", func(opts *testenv.Options) {
				opts.SSO = config.SSO{Issuer: o.issuer, ClientID: opClientID, ClientSecret: opClientSecret, Scopes: []string{"openid", "email", "profile"},
					RoleClaim: "groups", RoleMap: map[string]auth.Role{"pki-admins": auth.RoleAdmin, "pki-ops": auth.RoleOperator},
					AllowedEmailDomains: []string{"example.com"}, RootCAs: o.roots}
			})
			o.register(d.env.Config.SSO.RedirectURL)
			t.Run("mapped role", func(t *testing.T) { testSSOMappedRole(t, d, o) })
			t.Run("refused", func(t *testing.T) { testSSORefused(t, d, o) })
			t.Run("bad state", func(t *testing.T) { testSSOBadState(t, d, o) })
		})
	}
}

// ssoFlow starts a sign-in in b as user and runs it through the provider;
// it returns the callback URL the provider sent the browser to.
func ssoFlow(t *testing.T, d *dash, b *browser, o *opProvider, user string) *url.URL {
	t.Helper()
	p := b.get(web.Root + "sign-in")
	if a := byID(p.doc, "sso"); a == nil || attr(a, "href") != "/ui/sso/start" {
		t.Fatalf("the sign-in page offers no SSO: %s", p.body)
	}
	p = b.get("/ui/sso/start")
	if p.status != http.StatusSeeOther {
		t.Fatalf("sso/start: %d %s", p.status, p.body)
	}
	next, err := url.Parse(p.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := next.Query()
	if !strings.HasPrefix(next.String(), o.issuer+"/") || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		q.Get("state") == "" || q.Get("nonce") == "" || q.Get("client_id") != opClientID || q.Get("response_type") != "code" {
		t.Fatalf("authentication request: %s", next)
	}
	o.signInAs(user)
	for range 10 {
		if strings.HasPrefix(next.String(), d.env.BaseURL+"/") {
			return next
		}
		var resp *http.Response
		var err error
		if next.Path == "/login/username" {
			// Submit the provider's login page.
			resp, err = o.client.PostForm(o.issuer+"/login/username", url.Values{"id": {next.Query().Get("authRequestID")}})
		} else {
			resp, err = o.client.Get(next.String())
		}
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("provider answered %d at %s without a redirect", resp.StatusCode, next)
		}
		next = loc
	}
	t.Fatalf("no redirect back to certgate, last %s", next)
	return nil
}

// callback GETs the callback URL u in b.
func callback(t *testing.T, b *browser, u *url.URL) *page {
	t.Helper()
	if u.Path != "/ui/sso/callback" || u.Query().Get("code") == "" {
		t.Fatalf("redirect back to %s", u)
	}
	return b.get(u.RequestURI())
}

func testSSOMappedRole(t *testing.T, d *dash, o *opProvider) {
	for _, c := range []struct {
		user string
		role auth.Role
	}{{"alice", auth.RoleOperator}, {"erin", auth.RoleAdmin}} {
		b := d.browser()
		p := callback(t, b, ssoFlow(t, d, b, o, c.user))
		if p.status != http.StatusOK || !strings.Contains(p.body, `http-equiv="refresh" content="0; url=/ui/"`) {
			t.Fatalf("%s: callback %d %s", c.user, p.status, p.body)
		}
		p = b.get(web.Root)
		actor := audit.SSOActor(ssoPeople[c.user].email, c.user)
		if p.status != http.StatusOK || !strings.Contains(text(p.doc), "Signed in as "+actor+" with role "+string(c.role)) {
			t.Fatalf("%s: overview %d %s", c.user, p.status, text(p.doc))
		}
		// The role's permissions: an operator has no audit log, an admin has.
		if got, want := b.get(web.Root+"audit").status, map[auth.Role]int{auth.RoleOperator: http.StatusForbidden, auth.RoleAdmin: http.StatusOK}[c.role]; got != want {
			t.Errorf("%s: audit page %d, want %d", c.user, got, want)
		}
		evs, err := audit.New(d.st, nil).List(context.Background(), store.AuditFilter{Action: audit.ActionSessionSignIn})
		if err != nil {
			t.Fatal(err)
		}
		var after map[string]any
		for _, ev := range evs {
			if ev.Actor == actor {
				_ = json.Unmarshal([]byte(ev.After), &after)
			}
		}
		if after["role"] != string(c.role) || after["sso_subject"] != c.user || after["sso_issuer"] != o.issuer {
			t.Errorf("%s: session.sign_in event %v in %+v", c.user, after, evs)
		}
		// Sign-out ends the SSO session, audited.
		if p := b.post("/ui/sign-out", url.Values{"csrf": {b.csrf()}}, nil); p.status != http.StatusSeeOther {
			t.Fatalf("%s: sign-out %d", c.user, p.status)
		}
		if p := b.get(web.Root); p.status != http.StatusSeeOther {
			t.Errorf("%s: after sign-out the overview answers %d", c.user, p.status)
		}
	}
	evs, err := audit.New(d.st, nil).List(context.Background(), store.AuditFilter{Action: audit.ActionSessionSignOut})
	if err != nil || len(evs) != 2 {
		t.Errorf("session.sign_out events: %v %+v, want 2", err, evs)
	}
}

func testSSORefused(t *testing.T, d *dash, o *opProvider) {
	for _, c := range []struct{ user, reason, says string }{
		{"bob", auth.RefusedNoRole, "no value of its groups claim is mapped to a role (it has staff)"},
		{"carol", auth.RefusedEmailDomain, "the email domain other.example may not sign in"},
		{"dave", auth.RefusedEmailUnverified, "dave@example.com is not verified"},
	} {
		b := d.browser()
		p := callback(t, b, ssoFlow(t, d, b, o, c.user))
		if p.status != http.StatusForbidden || !strings.Contains(message(p.doc, "alert"), c.says) {
			t.Errorf("%s: %d %q, want 403 saying %q", c.user, p.status, message(p.doc, "alert"), c.says)
		}
		for _, ck := range b.c.Jar.Cookies(mustURL(t, d.env.BaseURL)) {
			if ck.Name == web.CookieName {
				t.Errorf("%s: refused, but has a session cookie", c.user)
			}
		}
		if p := b.get(web.Root); p.status != http.StatusSeeOther {
			t.Errorf("%s: refused, but the overview answers %d", c.user, p.status)
		}
		evs, err := audit.New(d.st, nil).List(context.Background(), store.AuditFilter{Action: audit.ActionSessionSignInRefused})
		if err != nil {
			t.Fatal(err)
		}
		var after map[string]any
		for _, ev := range evs {
			if ev.Actor == audit.SSOActor(ssoPeople[c.user].email, c.user) {
				_ = json.Unmarshal([]byte(ev.After), &after)
			}
		}
		if after["reason"] != c.reason || after["sso_subject"] != c.user {
			t.Errorf("%s: session.sign_in_refused event %v, want reason %s", c.user, after, c.reason)
		}
	}
}

func testSSOBadState(t *testing.T, d *dash, o *opProvider) {
	before, err := audit.New(d.st, nil).List(context.Background(), store.AuditFilter{Action: audit.ActionSessionSignIn, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// The state of the redirect is not the one the browser started with.
	b := d.browser()
	u := ssoFlow(t, d, b, o, "erin")
	q := u.Query()
	q.Set("state", strings.Repeat("A", 43))
	u.RawQuery = q.Encode()
	if p := callback(t, b, u); p.status != http.StatusBadRequest || !strings.Contains(message(p.doc, "alert"), "does not match a sign-in this browser started") {
		t.Errorf("forged state: %d %q", p.status, message(p.doc, "alert"))
	}
	// A redirect carried to another browser (no SSO cookie): a login
	// CSRF, refused.
	u = ssoFlow(t, d, d.browser(), o, "erin")
	other := d.browser()
	if p := callback(t, other, u); p.status != http.StatusBadRequest {
		t.Errorf("callback in another browser: %d, want 400", p.status)
	}
	// The state matches, but the browser's nonce or PKCE verifier is not
	// the one of the request: the ID token's nonce differs, or the token
	// endpoint refuses the code (RFC 7636 §4.6).
	var tampered []*browser
	for part, what := range []string{"nonce", "PKCE verifier"} {
		br := d.browser()
		u := ssoFlow(t, d, br, o, "erin")
		base := mustURL(t, d.env.BaseURL)
		var val string
		for _, c := range br.c.Jar.Cookies(base) {
			if c.Name == web.SSOCookieName {
				val = c.Value
			}
		}
		parts := strings.Split(val, ".")
		if len(parts) != 3 {
			t.Fatalf("SSO cookie %q: want state.nonce.verifier", val)
		}
		parts[part+1] = strings.Repeat("B", 43)
		br.c.Jar.SetCookies(base, []*http.Cookie{{Name: web.SSOCookieName, Value: strings.Join(parts, "."), Path: "/", Secure: true}})
		if p := callback(t, br, u); p.status != http.StatusBadGateway || !strings.Contains(message(p.doc, "alert"), "could not be verified") {
			t.Errorf("another %s: %d %q, want 502", what, p.status, message(p.doc, "alert"))
		}
		tampered = append(tampered, br)
	}
	for _, br := range append([]*browser{b, other}, tampered...) {
		if p := br.get(web.Root); p.status != http.StatusSeeOther {
			t.Errorf("bad state, but the overview answers %d", p.status)
		}
	}
	after, err := audit.New(d.st, nil).List(context.Background(), store.AuditFilter{Action: audit.ActionSessionSignIn, Limit: 1000})
	if err != nil || len(after) != len(before) {
		t.Errorf("session.sign_in events %d, before %d: a bad state signed someone in", len(after), len(before))
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestSSOUnavailable: without sso-issuer the sign-in page offers no SSO
// and its paths answer 404; with a provider that cannot be reached (a
// refused loopback port), starting a sign-in answers 502 saying so and
// sets no state cookie.
func TestSSOUnavailable(t *testing.T) {
	off := newDash(t, store.EngineSQLite, "")
	b := off.browser()
	if p := b.get(web.Root + "sign-in"); byID(p.doc, "sso") != nil {
		t.Error("the sign-in page offers SSO, which is not configured")
	}
	for _, path := range []string{"/ui/sso/start", "/ui/sso/callback?state=x&code=y"} {
		if p := b.get(path); p.status != http.StatusNotFound || !strings.Contains(message(p.doc, "alert"), "not configured") {
			t.Errorf("%s without SSO: %d %q", path, p.status, message(p.doc, "alert"))
		}
	}

	down := newDashWith(t, store.EngineSQLite, "", func(opts *testenv.Options) {
		opts.SSO = config.SSO{Issuer: "https://127.0.0.1:" + strconv.Itoa(tlstest.ClosedPort(t)), ClientID: opClientID, ClientSecret: opClientSecret,
			Scopes: []string{"openid"}, RoleClaim: "groups", RoleMap: map[string]auth.Role{"pki-admins": auth.RoleAdmin}}
	})
	b = down.browser()
	p := b.get("/ui/sso/start")
	if p.status != http.StatusBadGateway || !strings.Contains(message(p.doc, "alert"), "identity provider could not be reached") {
		t.Errorf("provider down: %d %q", p.status, message(p.doc, "alert"))
	}
	if p.header.Get("Set-Cookie") != "" {
		t.Errorf("provider down, but a cookie is set: %s", p.header.Get("Set-Cookie"))
	}
}
