package web_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv"
	"github.com/certgate/certgate/internal/web"
	"golang.org/x/net/html"
)

// TestDashboard drives the dashboard of a real server on each storage
// engine (the sessions live in the database): sign-in and sign-out, what
// each role sees and may do, the CSRF and cross-origin checks, revocation
// and approval decisions changing state, and the ends of a session
// (idle, maximum age, token revoked).
func TestDashboard(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			if e.Name == store.EnginePostgres {
				storetest.RequirePostgres(t)
			}
			d := newDash(t, e.Name, "web.example.test")
			t.Run("sign-in", func(t *testing.T) { testSignIn(t, d) })
			t.Run("roles", func(t *testing.T) { testRoles(t, d) })
			t.Run("csrf", func(t *testing.T) { testCSRF(t, d) })
			t.Run("search and revoke", func(t *testing.T) { testRevoke(t, d) })
			t.Run("approvals", func(t *testing.T) { testApprovals(t, d) })
			t.Run("audit", func(t *testing.T) { testAuditPage(t, d) })
			t.Run("pages", func(t *testing.T) { testPages(t, d) })
			t.Run("path text", func(t *testing.T) { testPathText(t, d) })
			t.Run("bidi escaped", func(t *testing.T) { testBidiEscaped(t, d) }) // after pages, which counts
			t.Run("sign-out", func(t *testing.T) { testSignOut(t, d) })
			t.Run("token revoked", func(t *testing.T) { testTokenRevoked(t, d) })
			t.Run("expiry", func(t *testing.T) { testExpiry(t, d) }) // moves the clock: last
		})
	}
}

// testSignIn: a bad token is refused with a readable message and no
// cookie; a good one sets a __Host- cookie (Secure, HttpOnly,
// SameSite=Strict, Path=/) and the overview shows who signed in. Pages
// need a session; every answer carries the security headers; an unknown
// path is a 404 page.
func testSignIn(t *testing.T, d *dash) {
	b := d.browser()
	if p := b.get("/ui/certificates"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/sign-in" {
		t.Errorf("signed out GET /ui/certificates: %d %q, want 303 to /ui/sign-in", p.status, p.header.Get("Location"))
	}
	p := b.get("/ui/sign-in")
	if p.status != 200 || find(p.doc, func(n *html.Node) bool { return n.Data == "input" && attr(n, "name") == "token" }) == nil {
		t.Fatalf("sign-in page: %d %s", p.status, p.body)
	}
	csp := p.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if p.header.Get("X-Frame-Options") != "DENY" || p.header.Get("Cache-Control") != "no-store" || p.header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers: X-Frame-Options %q, Cache-Control %q, Referrer-Policy %q", p.header.Get("X-Frame-Options"),
			p.header.Get("Cache-Control"), p.header.Get("Referrer-Policy"))
	}
	if len(findAll(p.doc, func(n *html.Node) bool { return n.Data == "script" })) != 0 {
		t.Error("the sign-in page has a script element")
	}

	bad := b.post("/ui/sign-in", url.Values{"token": {d.tokens[auth.RoleAdmin] + "x"}}, nil)
	if bad.status != http.StatusUnauthorized || !strings.Contains(message(bad.doc, "alert"), "not valid") || bad.header.Get("Set-Cookie") != "" {
		t.Errorf("bad token: %d %q cookie %q, want 401 with a message and no cookie", bad.status, message(bad.doc, "alert"), bad.header.Get("Set-Cookie"))
	}
	// A page is not Markdown: the message shows no backquotes.
	if m := message(bad.doc, "alert"); strings.Contains(m, "`") || !strings.Contains(m, "Paste the whole token (cgt_...) as certgate token create printed it.") {
		t.Errorf("bad token message %q: want plain text that says what to paste", m)
	}

	ok := b.post("/ui/sign-in", url.Values{"token": {d.tokens[auth.RoleOperator]}}, nil)
	if ok.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %s", ok.status, ok.body)
	}
	ck := ok.header.Get("Set-Cookie")
	for _, want := range []string{web.CookieName + "=", "Path=/", "Secure", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(ck, want) {
			t.Errorf("Set-Cookie %q lacks %q", ck, want)
		}
	}
	if strings.Contains(ck, "Domain=") {
		t.Errorf("Set-Cookie %q has a Domain (a __Host- cookie is host-only)", ck)
	}
	// The database keys the session by the SHA-256 of the cookie's value,
	// not by the value.
	u, _ := url.Parse(d.env.BaseURL + "/")
	secret := ""
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == web.CookieName {
			secret = c.Value
		}
	}
	sum := sha256.Sum256([]byte(secret))
	if _, _, err := d.st.GetUISession(context.Background(), hex.EncodeToString(sum[:])); secret == "" || err != nil {
		t.Errorf("session by the hash of the cookie %q: %v", secret, err)
	}
	if _, _, err := d.st.GetUISession(context.Background(), secret); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session by the cookie's value itself: %v, want ErrNotFound", err)
	}
	o := b.get("/ui/")
	if o.status != 200 || !strings.Contains(text(o.doc), "token:operator-person#"+d.ids[auth.RoleOperator]) {
		t.Fatalf("overview: %d %s", o.status, o.body)
	}
	// The ACME certificate and the server's own listener certificate
	// (source listener, docs/pki.md).
	if got := text(byID(o.doc, "count-valid")); !strings.HasPrefix(got, "2 ") {
		t.Errorf("overview valid count %q, want 2", got)
	}
	if nf := b.get("/ui/no-such-page"); nf.status != 404 || !strings.Contains(message(nf.doc, "alert"), "no such page") {
		t.Errorf("unknown path: %d %q, want the 404 page", nf.status, message(nf.doc, "alert"))
	}
	if p := b.get("/ui/sign-out"); p.status != http.StatusMethodNotAllowed || !strings.Contains(message(p.doc, "alert"), "does not take a GET") {
		t.Errorf("GET /ui/sign-out: %d %q, want the 405 page", p.status, message(p.doc, "alert"))
	}
	if bad := b.get("/ui/certificates?q=zz&in=serial"); bad.status != 400 || !strings.Contains(message(bad.doc, "alert"), "not hexadecimal") {
		t.Errorf("bad serial search: %d %q, want 400 with the inventory's message", bad.status, message(bad.doc, "alert"))
	}
	// Invalid UTF-8 in a search is refused as the admin API refuses it
	// (it answered "no certificate matches").
	if bad := b.get("/ui/certificates?q=%ff%fe&in=name"); bad.status != 400 || !strings.Contains(message(bad.doc, "alert"), "invalid UTF-8") {
		t.Errorf("search for invalid UTF-8: %d %q, want 400 saying so", bad.status, message(bad.doc, "alert"))
	}
	evs, err := audit.New(d.st, nil).List(context.Background(), store.AuditFilter{Action: audit.ActionSessionSignIn})
	if err != nil || len(evs) != 1 || evs[0].Actor != "token:operator-person#"+d.ids[auth.RoleOperator] || evs[0].ObjectType != audit.ObjectSession {
		t.Errorf("session.sign_in events: %v %+v, want one by the operator's token", err, evs)
	}
	// A token pasted with its scheme, as in a curl line, is the token.
	withScheme := d.browser().post("/ui/sign-in", url.Values{"token": {"Bearer  " + d.tokens[auth.RoleOperator]}}, nil)
	if withScheme.status != http.StatusSeeOther || withScheme.header.Get("Set-Cookie") == "" {
		t.Errorf("sign-in with \"Bearer TOKEN\": %d %q, want 303 with a session", withScheme.status, message(withScheme.doc, "alert"))
	}
}

// testRoles: each role's navigation shows the pages its permissions
// allow, a page it may not see answers 403 when asked for directly, and
// the revoke and approve forms appear for the roles holding
// certificates:revoke and approvals:decide only; a POST of an action the
// role lacks is a 403 that changes nothing.
func testRoles(t *testing.T, d *dash) {
	ap := d.pendingApproval("roles", "roles.example.test")
	pages := map[string]auth.Permission{"/ui/certificates": auth.PermCertificatesRead, "/ui/approvals": auth.PermApprovalsRead, "/ui/audit": auth.PermAuditRead}
	for _, role := range auth.Roles() {
		b := d.browser()
		b.signIn(d.tokens[role])
		nav := navLinks(b.get("/ui/").doc)
		for path, perm := range pages {
			if shown := slices.Contains(nav, path); shown != auth.Allowed(role, perm) {
				t.Errorf("%s: nav shows %s = %v, want %v", role, path, shown, auth.Allowed(role, perm))
			}
			want := http.StatusOK
			if !auth.Allowed(role, perm) {
				want = http.StatusForbidden
			}
			if p := b.get(path); p.status != want {
				t.Errorf("%s: GET %s = %d, want %d", role, path, p.status, want)
			}
		}
		detail := b.get("/ui/certificates/" + d.serial)
		revokeForm := byID(detail.doc, "revoke") != nil
		if revokeForm != auth.Allowed(role, auth.PermCertificatesRevoke) {
			t.Errorf("%s: revoke button shown = %v", role, revokeForm)
		}
		list := b.get("/ui/approvals")
		approveForm := find(list.doc, func(n *html.Node) bool {
			return n.Data == "form" && attr(n, "action") == "/ui/approvals/"+ap+"/approve"
		}) != nil
		if approveForm != auth.Allowed(role, auth.PermApprovalsDecide) {
			t.Errorf("%s: approve form shown = %v", role, approveForm)
		}
		csrf := b.csrf()
		if !auth.Allowed(role, auth.PermCertificatesRevoke) {
			if p := b.post("/ui/certificates/"+d.serial+"/revoke", url.Values{"csrf": {csrf}, "reason": {"0"}}, nil); p.status != http.StatusForbidden {
				t.Errorf("%s: POST revoke = %d, want 403", role, p.status)
			}
		}
		if !auth.Allowed(role, auth.PermApprovalsDecide) {
			if p := b.post("/ui/approvals/"+ap+"/approve", url.Values{"csrf": {csrf}}, nil); p.status != http.StatusForbidden {
				t.Errorf("%s: POST approve = %d, want 403", role, p.status)
			}
		}
	}
	if c, err := d.st.GetCertificate(context.Background(), d.serial); err != nil || c.Status != store.StatusValid {
		t.Errorf("certificate after refused revocations: %v, want valid", certStatus(c, err))
	}
	if a, err := d.st.GetApproval(context.Background(), ap); err != nil || a.Status != store.ApprovalPending {
		t.Errorf("approval after refused decisions: %v %v, want pending", a, err)
	}
	// Signed out, a POST is refused as such.
	if p := d.browser().post("/ui/certificates/"+d.serial+"/revoke", url.Values{"reason": {"0"}}, nil); p.status != http.StatusForbidden {
		t.Errorf("signed-out POST revoke = %d, want 403", p.status)
	}
}

// testCSRF: a revocation without the session's CSRF token, or sent from
// another site (Sec-Fetch-Site cross-site, or a foreign Origin) even with
// it, is refused with 403 and revokes nothing.
func testCSRF(t *testing.T, d *dash) {
	b := d.browser()
	b.signIn(d.tokens[auth.RoleOperator])
	csrf := b.csrf()
	path := "/ui/certificates/" + d.serial + "/revoke"
	for name, tc := range map[string]struct {
		form url.Values
		hdr  map[string]string
	}{
		"no token":        {url.Values{"reason": {"0"}}, nil},
		"wrong token":     {url.Values{"reason": {"0"}, "csrf": {csrf[:len(csrf)-2] + "AA"}}, nil},
		"cross-site":      {url.Values{"reason": {"0"}, "csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		"foreign origin":  {url.Values{"reason": {"0"}, "csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "", "Origin": "https://evil.example"}},
		"sign-in foreign": {nil, nil},
	} {
		if name == "sign-in foreign" {
			p := b.post("/ui/sign-in", url.Values{"token": {d.tokens[auth.RoleAdmin]}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
			if p.status != http.StatusForbidden || p.header.Get("Set-Cookie") != "" {
				t.Errorf("cross-site sign-in: %d, cookie %q, want 403 and none", p.status, p.header.Get("Set-Cookie"))
			}
			continue
		}
		if p := b.post(path, tc.form, tc.hdr); p.status != http.StatusForbidden {
			t.Errorf("%s: POST revoke = %d, want 403", name, p.status)
		}
	}
	if c, err := d.st.GetCertificate(context.Background(), d.serial); err != nil || c.Status != store.StatusValid {
		t.Errorf("certificate after refused forms: %v, want valid", certStatus(c, err))
	}
}

// testRevoke: an operator finds the certificate by name and by serial,
// revokes it with a reason, and the detail page, the list's status
// filter, the overview and the audit log show it revoked.
func testRevoke(t *testing.T, d *dash) {
	b := d.browser()
	b.signIn(d.tokens[auth.RoleOperator])
	for _, q := range []string{"web.example.test", strings.ToUpper(d.serial)} {
		p := b.get("/ui/certificates?q=" + url.QueryEscape(q))
		if p.status != 200 || find(byID(p.doc, "certificates"), func(n *html.Node) bool { return n.Data == "a" && text(n) == d.serial }) == nil {
			t.Errorf("search %q: %d, want a row of %s: %s", q, p.status, d.serial, p.body)
		}
	}
	if p := b.get("/ui/certificates?q=other.example.test"); p.status != 200 || byID(p.doc, "certificates") != nil {
		t.Errorf("search for another name: %d, want no table", p.status)
	}
	p := b.post("/ui/certificates/"+d.serial+"/revoke", url.Values{"csrf": {b.csrf()}, "reason": {"4"}}, nil)
	if p.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", p.status, p.body)
	}
	detail := b.get(p.header.Get("Location"))
	if got := text(byID(detail.doc, "status")); !strings.HasPrefix(got, "revoked") || !strings.Contains(got, "superseded") {
		t.Errorf("detail status %q, want revoked (superseded)", got)
	}
	if message(detail.doc, "status") != "The certificate is revoked." || byID(detail.doc, "revoke") != nil {
		t.Errorf("detail flash %q, revoke button %v", message(detail.doc, "status"), byID(detail.doc, "revoke") != nil)
	}
	if c, err := d.st.GetCertificate(context.Background(), d.serial); err != nil || c.Status != store.StatusRevoked || c.RevocationReason != 4 {
		t.Errorf("stored certificate: %v, want revoked with reason 4", certStatus(c, err))
	}
	list := b.get("/ui/certificates?status=revoked")
	if find(byID(list.doc, "certificates"), func(n *html.Node) bool { return n.Data == "a" && text(n) == d.serial }) == nil {
		t.Errorf("status=revoked list lacks %s", d.serial)
	}
	if again := b.post("/ui/certificates/"+d.serial+"/revoke", url.Values{"csrf": {b.csrf()}, "reason": {"0"}}, nil); again.status != http.StatusConflict ||
		!strings.Contains(message(again.doc, "alert"), "already revoked") {
		t.Errorf("second revocation: %d %q, want 409 already revoked", again.status, message(again.doc, "alert"))
	}
	o := b.get("/ui/")
	// The server's listener certificate stays valid.
	if v, r := text(byID(o.doc, "count-valid")), text(byID(o.doc, "count-revoked")); !strings.HasPrefix(v, "1 ") || !strings.HasPrefix(r, "1 ") {
		t.Errorf("overview after revocation: %q %q, want 1 valid (the listener certificate), 1 revoked", v, r)
	}
	evs, err := audit.New(d.st, nil).List(context.Background(), store.AuditFilter{Action: audit.ActionCertificateRevoke, ObjectID: d.serial})
	if err != nil || len(evs) != 1 || evs[0].Actor != "token:operator-person#"+d.ids[auth.RoleOperator] {
		t.Errorf("certificate.revoke events: %v %+v, want one by the operator", err, evs)
	}
}

// TestRevokeUpstreamDown: on SQLite, revoking a certificate that an upstream ACME CA
// issued, while that CA cannot be reached, answers 502 with the
// upstream's problem (as the admin API does), not a 500 "something went
// wrong", and records nothing.
func TestRevokeUpstreamDown(t *testing.T) {
	d := newDash(t, store.EngineSQLite, "up.example.test")
	ctx := context.Background()
	c, err := d.st.GetCertificate(ctx, d.serial)
	if err != nil {
		t.Fatal(err)
	}
	up := *c
	up.Serial, up.Issuer, up.FingerprintSHA256, up.OrderID, up.AccountID = "7e57"+d.serial[4:], "upstream-down", strings.Repeat("7e", 32), "", ""
	if err := d.st.InsertCertificates(ctx, []*store.Certificate{&up}); err != nil {
		t.Fatal(err)
	}
	b := d.browser()
	b.signIn(d.tokens[auth.RoleOperator])
	p := b.post("/ui/certificates/"+up.Serial+"/revoke", url.Values{"csrf": {b.csrf()}, "reason": {"4"}}, nil)
	if msg := message(p.doc, "alert"); p.status != http.StatusBadGateway || !strings.Contains(msg, "upstream-down") || !strings.Contains(msg, "not revoked") {
		t.Errorf("revoke with the upstream down: %d %q, want 502 naming the upstream", p.status, msg)
	}
	if got, err := d.st.GetCertificate(ctx, up.Serial); err != nil || got.Status == store.StatusRevoked {
		t.Errorf("stored certificate: %v, want not revoked", certStatus(got, err))
	}
}

// TestRevokeUpstreamNotConfigured: on SQLite, revoking a certificate that
// an upstream CA this server does not have configured issued (the issuers
// file lost it, or this node lacks it) answers 503 naming the upstream, as
// the admin API does, and records nothing: the revocation cannot reach the
// upstream. The former code revoked it in the inventory only.
func TestRevokeUpstreamNotConfigured(t *testing.T) {
	d := newDash(t, store.EngineSQLite, "gone.example.test")
	ctx := context.Background()
	c, err := d.st.GetCertificate(ctx, d.serial)
	if err != nil {
		t.Fatal(err)
	}
	up := *c
	up.Serial, up.Issuer, up.FingerprintSHA256, up.OrderID, up.AccountID = "7e57"+d.serial[4:], "upstream-gone", strings.Repeat("7e", 32), "", ""
	if err := d.st.InsertCertificates(ctx, []*store.Certificate{&up}); err != nil {
		t.Fatal(err)
	}
	b := d.browser()
	b.signIn(d.tokens[auth.RoleOperator])
	p := b.post("/ui/certificates/"+up.Serial+"/revoke", url.Values{"csrf": {b.csrf()}, "reason": {"4"}}, nil)
	if msg := message(p.doc, "alert"); p.status != http.StatusServiceUnavailable || !strings.Contains(msg, "upstream CA upstream-gone") || !strings.Contains(msg, "not revoked") {
		t.Errorf("revoke of an unconfigured upstream's certificate: %d %q, want 503 naming the upstream", p.status, msg)
	}
	if got, err := d.st.GetCertificate(ctx, up.Serial); err != nil || got.Status == store.StatusRevoked {
		t.Errorf("stored certificate: %v, want not revoked", certStatus(got, err))
	}
}

// testApprovals: an approver approves one request and rejects another
// (a rejection without a comment is refused with a readable message); the
// store and the pending list show the decisions, each audited.
func testApprovals(t *testing.T, d *dash) {
	yes, no := d.pendingApproval("yes", "yes.example.test"), d.pendingApproval("no", "no.example.test")
	b := d.browser()
	b.signIn(d.tokens[auth.RoleApprover])
	if n := text(byID(b.get("/ui/").doc, "count-pending")); !strings.HasPrefix(n, "3 ") { // with testRoles' one
		t.Errorf("pending count %q, want 3", n)
	}
	if p := b.post("/ui/approvals/"+yes+"/approve", url.Values{"csrf": {b.csrf()}}, nil); p.status != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", p.status, p.body)
	}
	p := b.post("/ui/approvals/"+no+"/reject", url.Values{"csrf": {b.csrf()}}, nil)
	if p.status != http.StatusBadRequest || !strings.Contains(message(p.doc, "alert"), "needs a comment") {
		t.Errorf("reject without comment: %d %q", p.status, message(p.doc, "alert"))
	}
	// The comment is checked as the API checks it (it was stored as sent:
	// 5,000 characters, NUL, invalid UTF-8; 500 on PostgreSQL for NUL).
	for comment, want := range map[string]string{
		strings.Repeat("x", 1001): "is 1001 characters long; at most 1000",
		"a\x00b":                  "holds the control character U+0000",
		"ab\xff":                  "is not valid UTF-8",
	} {
		p := b.post("/ui/approvals/"+no+"/reject", url.Values{"csrf": {b.csrf()}, "comment": {comment}}, nil)
		if p.status != http.StatusBadRequest || !strings.Contains(message(p.doc, "alert"), want) {
			t.Errorf("reject with comment %.20q: %d %q, want 400 saying it %s", comment, p.status, message(p.doc, "alert"), want)
		}
	}
	if p := b.post("/ui/approvals/"+no+"/reject", url.Values{"csrf": {b.csrf()}, "comment": {"not ours"}}, nil); p.status != http.StatusSeeOther {
		t.Fatalf("reject: %d %s", p.status, p.body)
	}
	if p := b.post("/ui/approvals/"+yes+"/approve", url.Values{"csrf": {b.csrf()}}, nil); p.status != http.StatusConflict {
		t.Errorf("approve again: %d, want 409", p.status)
	}
	if p := b.post("/ui/approvals/ap-none/approve", url.Values{"csrf": {b.csrf()}}, nil); p.status != http.StatusNotFound {
		t.Errorf("approve unknown: %d, want 404", p.status)
	}
	ctx := context.Background()
	if a, err := d.st.GetApproval(ctx, yes); err != nil || a.Status != store.ApprovalApproved || a.DecidedBy != "token:approver-person#"+d.ids[auth.RoleApprover] {
		t.Errorf("approved: %+v %v", a, err)
	}
	if a, err := d.st.GetApproval(ctx, no); err != nil || a.Status != store.ApprovalRejected || a.Comment != "not ours" {
		t.Errorf("rejected: %+v %v", a, err)
	}
	pending := b.get("/ui/approvals")
	if byID(pending.doc, "approval-"+yes) != nil || byID(pending.doc, "approval-"+no) != nil {
		t.Error("the pending list still shows a decided request")
	}
	if all := b.get("/ui/approvals?status=all"); byID(all.doc, "approval-"+yes) == nil || byID(all.doc, "approval-"+no) == nil {
		t.Error("the list of all requests lacks a decided one")
	}
	for _, id := range []string{yes, no} {
		if evs, err := audit.New(d.st, nil).List(ctx, store.AuditFilter{ObjectType: audit.ObjectApproval, ObjectID: id}); err != nil || len(evs) != 1 {
			t.Errorf("audit events of %s: %v %d, want 1", id, err, len(evs))
		}
	}
}

// testAuditPage: an auditor sees the audit log, filtered by action; a
// bad filter is a readable 400.
func testAuditPage(t *testing.T, d *dash) {
	b := d.browser()
	b.signIn(d.tokens[auth.RoleAuditor])
	p := b.get("/ui/audit?action=certificate.revoke")
	rows := findAll(byID(p.doc, "audit"), func(n *html.Node) bool { return n.Data == "td" && attr(n, "class") == "action" })
	if p.status != 200 || len(rows) != 1 || text(rows[0]) != "certificate.revoke" {
		t.Errorf("audit filtered by certificate.revoke: %d, %d rows", p.status, len(rows))
	}
	all := b.get("/ui/audit")
	if !strings.Contains(text(byID(all.doc, "audit")), "session.sign_in") {
		t.Error("the audit page lacks the session.sign_in events")
	}
	if bad := b.get("/ui/audit?action=nope"); bad.status != 400 || !strings.Contains(message(bad.doc, "alert"), `unknown action "nope"`) {
		t.Errorf("bad action filter: %d %q", bad.status, message(bad.doc, "alert"))
	}
}

// testSignOut: sign-out (a POST with the CSRF token) deletes the session:
// its cookie no longer works, and the sign-out is audited.
func testSignOut(t *testing.T, d *dash) {
	b := d.browser()
	b.signIn(d.tokens[auth.RoleAdmin])
	u, _ := url.Parse(d.env.BaseURL + "/")
	cookies := b.c.Jar.Cookies(u)
	if p := b.post("/ui/sign-out", url.Values{"csrf": {"wrong"}}, nil); p.status != http.StatusForbidden {
		t.Errorf("sign-out with a wrong CSRF token: %d, want 403", p.status)
	}
	p := b.post("/ui/sign-out", url.Values{"csrf": {b.csrf()}}, nil)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/sign-in?signed-out=1" {
		t.Fatalf("sign-out: %d %q", p.status, p.header.Get("Location"))
	}
	// The old cookie, sent again, is no session.
	old := d.browser()
	old.c.Jar.SetCookies(u, cookies)
	if p := old.get("/ui/"); p.status != http.StatusSeeOther {
		t.Errorf("GET with the signed-out cookie: %d, want 303 to sign-in", p.status)
	}
	evs, err := audit.New(d.st, nil).List(context.Background(), store.AuditFilter{Action: audit.ActionSessionSignOut})
	if err != nil || len(evs) != 1 || evs[0].Actor != "token:admin-person#"+d.ids[auth.RoleAdmin] {
		t.Errorf("session.sign_out events: %v %+v", err, evs)
	}
}

// testTokenRevoked: revoking the token a session signed in with ends the
// session at its next request.
func testTokenRevoked(t *testing.T, d *dash) {
	toks := auth.NewTokens(d.st, audit.New(d.st, nil), nil)
	tok, _, err := toks.Create(context.Background(), auth.CreateRequest{Name: "short-lived", Role: auth.RoleAdmin, Actor: "cli:test"})
	if err != nil {
		t.Fatal(err)
	}
	b := d.browser()
	b.signIn(tok)
	if p := b.get("/ui/audit"); p.status != 200 {
		t.Fatalf("before revocation: %d", p.status)
	}
	if _, err := toks.Revoke(context.Background(), "short-lived", "cli:test"); err != nil {
		t.Fatal(err)
	}
	if p := b.get("/ui/audit"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/sign-in" {
		t.Errorf("after revocation: %d %q, want 303 to sign-in", p.status, p.header.Get("Location"))
	}
}

// testExpiry: a session ends after 8 hours without a request, 24 hours
// after sign-in however busy, and when its token expires.
func testExpiry(t *testing.T, d *dash) {
	idle := d.browser()
	idle.signIn(d.tokens[auth.RoleAuditor])
	busy := d.browser()
	busy.signIn(d.tokens[auth.RoleAuditor])
	tok, _, err := auth.NewTokens(d.st, audit.New(d.st, nil), d.now).Create(context.Background(),
		auth.CreateRequest{Name: "ten-hours", Role: auth.RoleAuditor, TTL: 10 * time.Hour, Actor: "cli:test"})
	if err != nil {
		t.Fatal(err)
	}
	expiring := d.browser()
	expiring.signIn(tok)
	for i := range 3 {
		d.advance(7 * time.Hour)
		if p := busy.get("/ui/"); p.status != 200 {
			t.Fatalf("busy session after %v: %d, want 200", time.Duration(d.offset.Load()), p.status)
		}
		// The token expires 10 h after it was made: its session with it.
		if p, want := expiring.get("/ui/"), []int{200, http.StatusSeeOther, http.StatusSeeOther}[i]; p.status != want {
			t.Errorf("session of a 10-hour token after %v: %d, want %d", time.Duration(d.offset.Load()), p.status, want)
		}
	}
	if p := idle.get("/ui/"); p.status != http.StatusSeeOther {
		t.Errorf("session idle for 21 h: %d, want 303 to sign-in", p.status)
	}
	d.advance(3*time.Hour + time.Second)
	if p := busy.get("/ui/"); p.status != http.StatusSeeOther {
		t.Errorf("session 24 h after sign-in: %d, want 303 to sign-in", p.status)
	}
}

// certStatus describes a stored certificate's status for a message.
func certStatus(c *store.Certificate, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("status %s, reason %d", c.Status, c.RevocationReason)
}

// TestDashboardFollowsAdminListen: the dashboard is served where the admin
// API is: with admin-listen, there (plain HTTP there is redirected to
// HTTPS), and listen answers /ui/ with 404; without it, on listen, whose
// plain HTTP redirects a GET to HTTPS.
func TestDashboardFollowsAdminListen(t *testing.T) {
	noFollow := func(c *http.Client) *http.Client {
		return &http.Client{Transport: c.Transport, Timeout: c.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	status := func(c *http.Client, u string) (int, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	env := testenv.NewWithOptions(t, testenv.Options{AdminListen: true})
	c := noFollow(env.HTTPClient)
	if s, _ := status(c, env.AdminURL+"/ui/sign-in"); s != http.StatusOK {
		t.Errorf("admin-listen /ui/sign-in: %d, want 200", s)
	}
	if s, _ := status(c, env.BaseURL+"/ui/sign-in"); s != http.StatusNotFound {
		t.Errorf("listen /ui/sign-in with admin-listen: %d, want 404", s)
	}
	plainAdmin := "http" + strings.TrimPrefix(env.AdminURL, "https")
	if s, loc := status(c, plainAdmin+"/ui/"); s != http.StatusMovedPermanently || loc != env.AdminURL+"/ui/" {
		t.Errorf("plain HTTP on admin-listen: %d %q, want 301 to %s/ui/", s, loc, env.AdminURL)
	}

	one := testenv.New(t)
	c = noFollow(one.HTTPClient)
	if s, _ := status(c, one.BaseURL+"/ui/sign-in"); s != http.StatusOK {
		t.Errorf("listen /ui/sign-in: %d, want 200", s)
	}
	if s, loc := status(c, one.BaseURL+"/ui"); s != http.StatusMovedPermanently || loc != "/ui/" {
		t.Errorf("/ui: %d %q, want 301 to /ui/", s, loc)
	}
	plain := "http" + strings.TrimPrefix(one.BaseURL, "https")
	if s, loc := status(c, plain+"/ui/certificates"); s != http.StatusMovedPermanently || loc != one.BaseURL+"/ui/certificates" {
		t.Errorf("plain HTTP on listen: %d %q, want 301 to HTTPS", s, loc)
	}
}

// testPages: the certificate list shows 50 certificates a page, expiring
// first, and its next-page link leads to the rest, none repeated; the
// approvals list pages the same way.
func testPages(t *testing.T, d *dash) {
	ctx := context.Background()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := d.now()
	var recs []*store.Certificate
	for i := range 55 {
		name := fmt.Sprintf("page%02d.example.test", i)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(1000 + i)), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Duration(200-i) * 24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(der)
		recs = append(recs, inventory.Record(leaf, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), store.SourceImported))
	}
	if err := d.st.InsertCertificates(ctx, recs); err != nil {
		t.Fatal(err)
	}
	b := d.browser()
	b.signIn(d.tokens[auth.RoleAuditor])
	seen := map[string]bool{}
	var last time.Time
	// Besides the 55, the server's listener certificate (45 days: the
	// first row): 50 and 6 rows.
	next := "/ui/certificates?status=valid"
	for pages := 0; next != ""; pages++ {
		if pages == 2 {
			t.Fatal("more than two pages of 56 valid certificates")
		}
		p := b.get(next)
		rows := findAll(byID(p.doc, "certificates"), func(n *html.Node) bool { return n.Data == "tr" && strings.HasPrefix(attr(n, "class"), "status-") })
		if want := []int{50, 6}[pages]; len(rows) != want {
			t.Fatalf("page %d: %d rows, want %d", pages+1, len(rows), want)
		}
		for _, row := range rows {
			serial := text(find(row, func(n *html.Node) bool { return n.Data == "a" }))
			if seen[serial] {
				t.Errorf("serial %s on two pages", serial)
			}
			seen[serial] = true
			c, err := d.st.GetCertificate(ctx, serial)
			if err != nil {
				t.Fatal(err)
			}
			if c.NotAfter.Before(last) {
				t.Errorf("%s expires %v, before the row above it (%v): not expiring first", serial, c.NotAfter, last)
			}
			last = c.NotAfter
		}
		next = ""
		if a := find(p.doc, func(n *html.Node) bool { return n.Data == "a" && attr(n, "rel") == "next" }); a != nil {
			next = attr(a, "href")
		}
	}
	if len(seen) != 56 {
		t.Errorf("%d certificates over the pages, want 56", len(seen))
	}

	for i := range 50 {
		d.pendingApproval(fmt.Sprintf("pg%02d", i), fmt.Sprintf("pg%02d.example.test", i))
	}
	first := b.get("/ui/approvals")
	rows := findAll(byID(first.doc, "approvals"), func(n *html.Node) bool { return n.Data == "tr" && strings.HasPrefix(attr(n, "id"), "approval-") })
	a := find(first.doc, func(n *html.Node) bool { return n.Data == "a" && attr(n, "rel") == "next" })
	if len(rows) != 50 || a == nil {
		t.Fatalf("approvals page 1: %d rows, next link %v; want 50 and a link", len(rows), a != nil)
	}
	second := b.get(attr(a, "href"))
	rows2 := findAll(byID(second.doc, "approvals"), func(n *html.Node) bool { return n.Data == "tr" && strings.HasPrefix(attr(n, "id"), "approval-") })
	if len(rows2) != 1 || attr(rows2[0], "id") == attr(rows[0], "id") || find(second.doc, func(n *html.Node) bool { return attr(n, "rel") == "next" }) != nil {
		t.Errorf("approvals page 2: %d rows, want the 51st request alone", len(rows2))
	}
	if bad := b.get("/ui/approvals?cursor=%21"); bad.status != http.StatusBadRequest {
		t.Errorf("malformed approvals cursor: %d, want 400", bad.status)
	}
}

// testPathText: a path value ({id}, {serial}) with a NUL character or
// invalid UTF-8 names nothing: 404 on either engine, as the admin API
// answers it (PostgreSQL refused it with 500), and changes nothing.
func testPathText(t *testing.T, d *dash) {
	b := d.browser()
	b.signIn(d.tokens[auth.RoleAdmin])
	for _, bad := range []string{"%ff", "%00", "abc%00", "%C0%80", "ap-x%ff"} {
		for _, path := range []string{"/ui/approvals/" + bad + "/approve", "/ui/approvals/" + bad + "/reject", "/ui/certificates/" + bad + "/revoke"} {
			p := b.post(path, url.Values{"csrf": {b.csrf()}, "comment": {"no"}, "reason": {"0"}}, nil)
			if p.status != http.StatusNotFound || !strings.Contains(message(p.doc, "alert"), "invalid UTF-8") {
				t.Errorf("POST %s: %d %q, want the 404 page", path, p.status, message(p.doc, "alert"))
			}
		}
		for _, path := range []string{"/ui/certificates/" + bad, "/ui/certificates/" + bad + "/pem"} {
			if p := b.get(path); p.status != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", path, p.status)
			}
		}
	}
}
