package web_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/issuer/acmeupstream"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv"
	"github.com/certgate/certgate/internal/web"
	"golang.org/x/net/html"
)

// dash is a running server with a token of each role, a certificate
// issued over ACME and a clock the test moves.
type dash struct {
	t      testing.TB
	env    *testenv.Env
	st     *store.Store
	tokens map[auth.Role]string
	ids    map[auth.Role]string // token IDs
	serial string               // the issued certificate's serial (lower-case hex)
	offset atomic.Int64         // added to the wall clock (ns)
}

// newDash starts a server on engine (store.EngineSQLite or
// store.EnginePostgres) and issues one certificate for name.
func newDash(t testing.TB, engine, name string) *dash {
	t.Helper()
	return newDashWith(t, engine, name, nil)
}

// newDashWith is newDash with the environment's options changed by mod
// (nil: none), e.g. to configure SSO.
func newDashWith(t testing.TB, engine, name string, mod func(*testenv.Options)) *dash {
	t.Helper()
	d := &dash{t: t, tokens: map[auth.Role]string{}, ids: map[auth.Role]string{}}
	// An upstream ACME CA that cannot be reached (a loopback port
	// nothing listens on): revocations of its certificates fail.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	up, err := acmeupstream.New(acmeupstream.Config{Name: "upstream-down", Directory: "https://" + ln.Addr().String() + "/directory", Timeout: "5s"},
		issuer.Env{Data: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	o := testenv.Options{Server: server.Options{Now: d.now, Issuers: []issuer.Issuer{up}}}
	if engine == store.EnginePostgres {
		o.DB = storetest.PostgresDSN(t)
	}
	if mod != nil {
		mod(&o)
	}
	d.env = testenv.NewWithOptions(t, o)
	d.st = d.env.Server.Store()
	toks := auth.NewTokens(d.st, audit.New(d.st, nil), nil)
	for _, r := range auth.Roles() {
		tok, rec, err := toks.Create(context.Background(), auth.CreateRequest{Name: string(r) + "-person", Role: r, Actor: "cli:test"})
		if err != nil {
			t.Fatal(err)
		}
		d.tokens[r], d.ids[r] = tok, rec.ID
	}
	if name != "" {
		_, _, chain := d.env.IssueHTTP01(t, name)
		leaf, err := x509.ParseCertificate(chain[0])
		if err != nil {
			t.Fatal(err)
		}
		d.serial = fmt.Sprintf("%x", leaf.SerialNumber)
		if leaf.SerialNumber.Cmp(big.NewInt(0)) <= 0 {
			t.Fatal("serial not positive")
		}
	}
	return d
}

func (d *dash) now() time.Time { return time.Now().Add(time.Duration(d.offset.Load())) }

// advance moves the server's clock forward by by.
func (d *dash) advance(by time.Duration) { d.offset.Add(int64(by)) }

// pendingApproval stores an ACME account, a pending order and its
// pending approval request for name; it returns the approval's ID.
func (d *dash) pendingApproval(id, name string) string {
	d.t.Helper()
	return d.pendingApprovalWith(id, name, map[string]string{"cost_center": "CC-7"})
}

// pendingApprovalWith is pendingApproval with the order's custom
// attributes attrs.
func (d *dash) pendingApprovalWith(id, name string, attrs map[string]string) string {
	d.t.Helper()
	ctx := context.Background()
	now := d.now().UTC()
	if err := d.st.CreateAccount(ctx, &store.Account{ID: "acct-" + id, KeyThumbprint: "tp-" + id, JWK: []byte(`{}`), Status: acme.StatusValid,
		CreatedAt: now}); err != nil {
		d.t.Fatal(err)
	}
	o := &store.Order{ID: "order-" + id, AccountID: "acct-" + id, Status: acme.StatusPending, Expires: now.Add(time.Hour), Profile: "default",
		Identifiers: []acme.Identifier{{Type: "dns", Value: name}}, AuthzIDs: []string{}, Attributes: attrs,
		CreatedAt: now, UpdatedAt: now}
	if err := d.st.CreateOrder(ctx, o, nil); err != nil {
		d.t.Fatal(err)
	}
	ap := "ap-" + id
	if err := d.st.RequestApproval(ctx, &store.Approval{ID: ap, OrderID: o.ID, AccountID: o.AccountID, Profile: "default", Identifiers: o.Identifiers,
		KeyType: "ecdsa-p256", Reason: "always", CSR: []byte{1}, Status: store.ApprovalPending, RequestedAt: now}, now); err != nil {
		d.t.Fatal(err)
	}
	return ap
}

// browser is one person's HTTP client: its own cookie jar, no redirects
// followed (the test checks them).
type browser struct {
	d *dash
	c *http.Client
}

func (d *dash) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: d.env.HTTPClient.Transport, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{d: d, c: c}
}

// page is an answer: status, headers, body and its parsed HTML.
type page struct {
	status int
	header http.Header
	body   string
	doc    *html.Node
}

func (b *browser) do(req *http.Request) *page {
	b.d.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.d.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.d.t.Fatal(err)
	}
	p := &page{status: resp.StatusCode, header: resp.Header, body: string(body)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		if p.doc, err = html.Parse(strings.NewReader(p.body)); err != nil {
			b.d.t.Fatal(err)
		}
	}
	return p
}

// get GETs path (under the server's base URL).
func (b *browser) get(path string) *page {
	b.d.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.d.env.BaseURL+path, nil)
	if err != nil {
		b.d.t.Fatal(err)
	}
	return b.do(req)
}

// post POSTs form to path as a browser on the dashboard's own page would
// (Sec-Fetch-Site: same-origin); hdr overrides headers.
func (b *browser) post(path string, form url.Values, hdr map[string]string) *page {
	b.d.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.d.env.BaseURL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.d.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return b.do(req)
}

// signIn signs in with tok and checks it lands on the overview.
func (b *browser) signIn(tok string) {
	b.d.t.Helper()
	p := b.post("/ui/sign-in", url.Values{"token": {tok}}, nil)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != web.Root {
		b.d.t.Fatalf("sign-in: %d %s %s", p.status, p.header.Get("Location"), p.body)
	}
}

// csrf returns the CSRF token of the signed-in session, from a page's
// sign-out form.
func (b *browser) csrf() string {
	b.d.t.Helper()
	p := b.get("/ui/")
	n := find(p.doc, func(n *html.Node) bool { return n.Data == "input" && attr(n, "name") == "csrf" })
	if n == nil {
		b.d.t.Fatalf("no csrf field on the overview: %d %s", p.status, p.body)
	}
	return attr(n, "value")
}

// find returns the first element of the tree under n for which match is
// true, nil when none.
func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	if n == nil {
		return nil
	}
	if n.Type == html.ElementNode && match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, match); f != nil {
			return f
		}
	}
	return nil
}

// findAll returns every element under n for which match is true.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	if n != nil {
		walk(n)
	}
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// text returns the text content of n, spaces collapsed.
func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// byID returns the element with id.
func byID(doc *html.Node, id string) *html.Node {
	return find(doc, func(n *html.Node) bool { return attr(n, "id") == id })
}

// navLinks returns the hrefs of the page's navigation.
func navLinks(doc *html.Node) []string {
	nav := find(doc, func(n *html.Node) bool { return n.Data == "nav" })
	var out []string
	for _, a := range findAll(nav, func(n *html.Node) bool { return n.Data == "a" }) {
		out = append(out, attr(a, "href"))
	}
	return out
}

// message returns the text of the page's error (role=alert) or flash
// (role=status) paragraph.
func message(doc *html.Node, role string) string {
	return text(find(doc, func(n *html.Node) bool { return attr(n, "role") == role }))
}
