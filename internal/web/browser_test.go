package web_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestBrowserSearchAndRevoke drives Debian's chromium (headless, through
// chromedp) the way a person uses the dashboard: sign in with a pasted
// token, open the certificates page from the navigation, search the
// certificate by name, open it, revoke it with a reason, and read the
// page that says it is revoked. The pages run no script: every step is a
// click on a link or a form's button.
func TestBrowserSearchAndRevoke(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: apt-get install chromium (.ci/run installs it)")
	}
	d := newDash(t, store.EngineSQLite, "browser.example.test")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-dev-shm-usage", true),
		// The server's certificate is of the test's own CA, which the
		// browser does not know; the connection is still HTTPS (so the
		// __Host- cookie is set).
		chromedp.IgnoreCertErrors)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	// The first action starts the browser, for the context's lifetime;
	// the steps after it are bounded.
	if err := chromedp.Do(ctx, chromedp.Navigate(d.env.BaseURL+"/ui/")); err != nil { // redirected to the sign-in page
		t.Fatalf("browser: %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// clickAndLoad clicks sel (a link or a form's button) and waits for
	// the page it leads to.
	clickAndLoad := func(sel chromedp.CSS) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.WaitEvent(cdppage.LoadEventFired, nil, chromedp.Click(sel))(ctx, tg)
			return err
		})
	}
	text := func(sel chromedp.CSS, into *string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) (err error) {
			*into, err = chromedp.Text(sel)(ctx, tg)
			return err
		})
	}
	var who, found, status, flash string
	err = chromedp.Do(tctx,
		chromedp.SendKeys(chromedp.CSS(`#token`), d.tokens[auth.RoleOperator]),
		clickAndLoad(`form.signin button`),
		text(`.who`, &who),
		clickAndLoad(`nav a[href="/ui/certificates"]`),
		chromedp.SendKeys(chromedp.CSS(`form.filters input[name="q"]`), "browser.example.test"),
		clickAndLoad(`form.filters button`),
		text(`#certificates a.serial`, &found),
		clickAndLoad(`#certificates a.serial`),
		chromedp.SetValue(chromedp.CSS(`form.revoke select[name="reason"]`), "1"),
		clickAndLoad(`#revoke`),
		text(`p.flash`, &flash),
		text(`#status`, &status),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	if !strings.Contains(who, "operator-person") {
		t.Errorf("signed in as %q, want the operator's token", who)
	}
	if found != d.serial {
		t.Errorf("search found %q, want %s", found, d.serial)
	}
	if flash != "The certificate is revoked." || !strings.HasPrefix(status, "revoked") || !strings.Contains(status, "keyCompromise") {
		t.Errorf("after revoking: flash %q, status %q; want revoked (keyCompromise)", flash, status)
	}
	c, err := d.st.GetCertificate(context.Background(), d.serial)
	if err != nil || c.Status != store.StatusRevoked || c.RevocationReason != 1 {
		t.Errorf("stored certificate: %v, want revoked with reason 1", certStatus(c, err))
	}
}

// TestBrowserSSOSignIn drives chromium through a sign-in with SSO against
// the real OpenID Provider of TestSSOSignIn on another site (127.0.0.1,
// the dashboard being at localhost): a click on "Sign in with SSO", the
// provider's login form submitted on its site, its redirects, the callback (whose SameSite=Lax state cookie the
// browser must send along the cross-site redirect back) and the page
// that goes on to the overview, where the browser must send the
// SameSite=Strict session cookie: the overview shows the person and the
// role their group maps to.
func TestBrowserSSOSignIn(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: apt-get install chromium (.ci/run installs it)")
	}
	o := startOP(t, ssoPeople)
	d := newDashWith(t, store.EngineSQLite, "", func(opts *testenv.Options) {
		opts.SSO = config.SSO{Issuer: o.issuer, ClientID: opClientID, ClientSecret: opClientSecret, Scopes: []string{"openid", "email"},
			RoleClaim: "groups", RoleMap: map[string]auth.Role{"pki-ops": auth.RoleOperator}, RootCAs: o.roots}
	})
	o.register(d.env.Config.SSO.RedirectURL)
	o.signInAs("alice")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-dev-shm-usage", true), chromedp.IgnoreCertErrors)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(ctx, chromedp.Navigate(d.env.BaseURL+"/ui/sign-in")); err != nil {
		t.Fatalf("browser: %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var who, hint string
	err = chromedp.Do(tctx,
		chromedp.Click(chromedp.CSS(`#sso`)),
		chromedp.WaitVisible(chromedp.CSS(`#login`)), // the provider's login page
		chromedp.Click(chromedp.CSS(`#login`)),
		chromedp.WaitVisible(chromedp.CSS(`nav`)),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) (err error) {
			if who, err = chromedp.Text(chromedp.CSS(`.who`))(ctx, tg); err != nil {
				return err
			}
			hint, err = chromedp.Text(chromedp.CSS(`p.hint`))(ctx, tg)
			return err
		}),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	if !strings.Contains(who, "alice@example.com (operator)") || !strings.Contains(hint, "sso:alice@example.com#alice") {
		t.Errorf("signed in as %q (%q), want alice@example.com with role operator", who, hint)
	}
}
