package web_test

import (
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store"
)

// TestFormBody: a dashboard form is a small URL-encoded body. A multipart
// post, from any signed-in role and whatever its CSRF token, is a 415
// that leaves no temporary file (a 40 MB part was spilled to
// $TMPDIR/multipart-* and never removed); another content type is a 415
// too; a form over the cap is a 413 (the sign-in form's smaller cap
// too); a decision's longest comment, percent-encoded, still fits.
func TestFormBody(t *testing.T) {
	d := newDash(t, store.EngineSQLite, "")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	b := d.browser()
	b.signIn(d.tokens[auth.RoleAuditor])
	appr := d.browser()
	appr.signIn(d.tokens[auth.RoleApprover])
	ap := d.pendingApproval("form", "form.example.test")

	for _, tc := range []struct {
		b    *browser
		path string
	}{
		{b, "/ui/sign-out"},
		{appr, "/ui/approvals/" + ap + "/approve"},
	} {
		p := tc.b.postMultipart(tc.path, 40<<20)
		if p.status != http.StatusUnsupportedMediaType || !strings.Contains(message(p.doc, "alert"), "application/x-www-form-urlencoded") {
			t.Errorf("multipart POST %s: %d %q, want the 415 page", tc.path, p.status, message(p.doc, "alert"))
		}
		if ents, err := os.ReadDir(tmp); err != nil || len(ents) != 0 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("multipart POST %s left %v in TMPDIR (%v), want nothing", tc.path, names, err)
		}
	}
	if p := b.get("/ui/"); p.status != http.StatusOK {
		t.Errorf("overview after the refused sign-out: %d, want 200 (still signed in)", p.status)
	}

	if p := appr.post("/ui/approvals/"+ap+"/approve", url.Values{"csrf": {appr.csrf()}}, map[string]string{"Content-Type": "text/plain"}); p.status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain POST: %d, want 415", p.status)
	}
	big := url.Values{"csrf": {appr.csrf()}, "comment": {strings.Repeat("x", 70<<10)}}
	if p := appr.post("/ui/approvals/"+ap+"/reject", big, nil); p.status != http.StatusRequestEntityTooLarge || !strings.Contains(message(p.doc, "alert"), "larger") {
		t.Errorf("oversized form: %d %q, want the 413 page", p.status, message(p.doc, "alert"))
	}
	if p := d.browser().post("/ui/sign-in", url.Values{"token": {d.tokens[auth.RoleAdmin] + strings.Repeat(" ", 5000)}}, nil); p.status != http.StatusRequestEntityTooLarge ||
		p.header.Get("Set-Cookie") != "" {
		t.Errorf("oversized sign-in form: %d, cookie %q, want 413 and none", p.status, p.header.Get("Set-Cookie"))
	}
	longest := url.Values{"csrf": {appr.csrf()}, "comment": {strings.Repeat("\U0001F600", 1000)}}
	if p := appr.post("/ui/approvals/"+ap+"/reject", longest, nil); p.status != http.StatusSeeOther {
		t.Errorf("reject with a comment of 1,000 four-byte characters: %d %q, want 303", p.status, message(p.doc, "alert"))
	}
	if a, err := d.st.GetApproval(t.Context(), ap); err != nil || a.Status != store.ApprovalRejected {
		t.Errorf("approval after the forms: %+v %v, want rejected by the last one only", a, err)
	}
}

// postMultipart POSTs to path a multipart/form-data body with a bad CSRF
// token and a file part of size bytes, streamed.
func (b *browser) postMultipart(path string, size int64) *page {
	b.d.t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := mw.WriteField("csrf", "bad")
		if err == nil {
			var fw io.Writer
			if fw, err = mw.CreateFormFile("file", "big.bin"); err == nil {
				_, err = io.CopyN(fw, zeros{}, size)
			}
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequest(http.MethodPost, b.d.env.BaseURL+path, pr)
	if err != nil {
		b.d.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestMethodNotAllowed: a dashboard path asked with a method it does not
// take is a 405 page whose Allow header lists the methods it takes (RFC
// 9110 §15.5.6); an unknown path is a 404 without one.
func TestMethodNotAllowed(t *testing.T) {
	d := newDash(t, store.EngineSQLite, "")
	b := d.browser()
	b.signIn(d.tokens[auth.RoleAdmin])
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodGet, "/ui/sign-out", "POST"},
		{http.MethodHead, "/ui/sign-out", "POST"},
		{http.MethodPut, "/ui/certificates", "GET, HEAD"},
		{http.MethodOptions, "/ui/", "GET, HEAD"},
		{http.MethodDelete, "/ui/sign-in", "GET, HEAD, POST"},
		{http.MethodPost, "/ui/audit", "GET, HEAD"},
		{http.MethodGet, "/ui/approvals/ap-x/approve", "POST"},
		{http.MethodPatch, "/ui/certificates/01/pem", "GET, HEAD"},
	} {
		req, err := http.NewRequest(tc.method, d.env.BaseURL+tc.path, strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		p := b.do(req)
		if p.status != http.StatusMethodNotAllowed || p.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d, Allow %q; want 405 with Allow %q", tc.method, tc.path, p.status, p.header.Get("Allow"), tc.allow)
		}
		if tc.method != http.MethodHead && !strings.Contains(message(p.doc, "alert"), fmt.Sprintf("does not take a %s request; it takes %s", tc.method, tc.allow)) {
			t.Errorf("%s %s: message %q, want it to name the methods", tc.method, tc.path, message(p.doc, "alert"))
		}
	}
	if p := b.get("/ui/no-such-page"); p.status != http.StatusNotFound || p.header.Get("Allow") != "" {
		t.Errorf("unknown path: %d, Allow %q; want 404 without Allow", p.status, p.header.Get("Allow"))
	}
}
