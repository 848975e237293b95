package wfe_test

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/wfe"
)

// crlFrontEnd is an in-process front end over SQLite whose RA runs on a
// settable clock; set moves the clock.
func crlFrontEnd(t *testing.T, refresh time.Duration) (h http.Handler, set func(time.Time), now time.Time) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "certgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ca, err := local.LoadOrCreate(filepath.Join(dir, "ca"), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now = time.Now().UTC().Truncate(time.Second)
	clock := now
	log := slog.New(slog.DiscardHandler)
	r := ra.New(ra.Config{CRLRefresh: refresh}, st, nil, &local.Issuer{CA: ca}, func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }, log)
	t.Cleanup(func() { r.Shutdown(ctx) })
	h = wfe.New(wfe.Config{IntermediateDER: ca.Intermediate().Raw, RootPEM: ca.RootPEM()}, r, st, log)
	return h, func(t time.Time) { mu.Lock(); clock = t; mu.Unlock() }, now
}

func crlGet(h http.Handler, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "http://ca.example.test"+wfe.CRLPath, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestCRLCacheHeaders: GET /pki/crl tells HTTP caches to keep the CRL no
// longer than the node still serves it: max-age is what is left of
// revocation-refresh (the former code always said the whole of it, so a
// cache that fetched a CRL the node had served for 50 s of its 60 kept it
// 60 s more, past the documented bound); Expires is that moment,
// Last-Modified the CRL's thisUpdate and the ETag its SHA-256, and
// conditional requests on either answer 304 without a body until the
// next CRL.
func TestCRLCacheHeaders(t *testing.T) {
	h, set, start := crlFrontEnd(t, time.Minute)
	first := crlGet(h, nil)
	if first.Code != http.StatusOK || first.Header().Get("Content-Type") != "application/pkix-crl" {
		t.Fatalf("GET %s: %d %q", wfe.CRLPath, first.Code, first.Header().Get("Content-Type"))
	}
	crl, err := x509.ParseRevocationList(first.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	maxAge := func(rec *httptest.ResponseRecorder) int {
		t.Helper()
		cc := rec.Header().Get("Cache-Control")
		for d := range strings.SplitSeq(cc, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(d), "max-age="); ok {
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("Cache-Control %q", cc)
				}
				return n
			}
		}
		t.Fatalf("Cache-Control %q has no max-age", cc)
		return 0
	}
	if got := maxAge(first); got != 60 {
		t.Errorf("fresh CRL: max-age %d, want 60", got)
	}
	if lm, err := http.ParseTime(first.Header().Get("Last-Modified")); err != nil || !lm.Equal(crl.ThisUpdate) {
		t.Errorf("Last-Modified %q, want the CRL's thisUpdate %v", first.Header().Get("Last-Modified"), crl.ThisUpdate)
	}
	if exp, err := http.ParseTime(first.Header().Get("Expires")); err != nil || !exp.Equal(start.Add(time.Minute)) {
		t.Errorf("Expires %q, want %v", first.Header().Get("Expires"), start.Add(time.Minute))
	}
	etag := first.Header().Get("ETag")
	if len(etag) != 66 || etag[0] != '"' {
		t.Errorf("ETag %q, want the quoted hex SHA-256", etag)
	}

	set(start.Add(50 * time.Second))
	again := crlGet(h, nil)
	if again.Body.String() != first.Body.String() {
		t.Fatal("within revocation-refresh the node served another CRL")
	}
	if got := maxAge(again); got != 10 {
		t.Errorf("the same CRL 50 s later: max-age %d, want 10 (what the node still serves it)", got)
	}
	for name, hdr := range map[string]string{"If-None-Match": etag, "If-Modified-Since": first.Header().Get("Last-Modified")} {
		rec := crlGet(h, map[string]string{name: hdr})
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 || rec.Header().Get("ETag") != etag {
			t.Errorf("%s: %d, %d bytes, ETag %q; want 304, no body, the same ETag", name, rec.Code, rec.Body.Len(), rec.Header().Get("ETag"))
		}
	}
	set(start.Add(61 * time.Second))
	if rec := crlGet(h, map[string]string{"If-None-Match": etag}); rec.Code != http.StatusOK || rec.Header().Get("ETag") == etag {
		t.Errorf("If-None-Match after the next CRL: %d, ETag %q; want 200 and a new ETag", rec.Code, rec.Header().Get("ETag"))
	}
}
