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
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/wfe"
)

// crlFrontEnd is an in-process front end over SQLite whose RA runs on a
// settable clock; set moves the clock.
func crlFrontEnd(t *testing.T, refresh time.Duration) (h http.Handler, set func(time.Time), now time.Time) {
	h, set, now, _, _ = crlFrontEndRA(t, refresh)
	return h, set, now
}

// crlFrontEndRA is crlFrontEnd, also returning its RA and store.
func crlFrontEndRA(t *testing.T, refresh time.Duration) (h http.Handler, set func(time.Time), now time.Time, r *ra.RA, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st = storetest.OpenSQLite(t)
	ca, err := local.LoadOrCreate(filepath.Join(dir, "ca"), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now = time.Now().UTC().Truncate(time.Second)
	clock := now
	log := slog.New(slog.DiscardHandler)
	r = ra.New(ra.Config{CRLRefresh: refresh}, st, nil, &local.Issuer{CA: ca}, func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }, log)
	t.Cleanup(func() { r.Shutdown(ctx) })
	h = wfe.New(wfe.Config{IntermediateDER: ca.Intermediate().Raw, RootPEM: ca.RootPEM()}, r, st, log)
	return h, func(t time.Time) { mu.Lock(); clock = t; mu.Unlock() }, now, r, st
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
// If-None-Match answers 304 without a body until the next CRL.
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
	lm := first.Header().Get("Last-Modified")
	for name, hdr := range map[string]map[string]string{
		"If-None-Match":                       {"If-None-Match": etag},
		"If-None-Match and If-Modified-Since": {"If-None-Match": etag, "If-Modified-Since": lm},
	} {
		rec := crlGet(h, hdr)
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 || rec.Header().Get("ETag") != etag {
			t.Errorf("%s: %d, %d bytes, ETag %q; want 304, no body, the same ETag", name, rec.Code, rec.Body.Len(), rec.Header().Get("ETag"))
		}
	}
	// If-Modified-Since alone is answered in full (see
	// TestCRLIfModifiedSinceSameSecond).
	if rec := crlGet(h, map[string]string{"If-Modified-Since": lm}); rec.Code != http.StatusOK {
		t.Errorf("If-Modified-Since alone: %d, want 200", rec.Code)
	}
	set(start.Add(61 * time.Second))
	if rec := crlGet(h, map[string]string{"If-None-Match": etag}); rec.Code != http.StatusOK || rec.Header().Get("ETag") == etag {
		t.Errorf("If-None-Match after the next CRL: %d, ETag %q; want 200 and a new ETag", rec.Code, rec.Header().Get("ETag"))
	}
}

// TestCRLIfModifiedSinceSameSecond: a CRL signed after a revocation in the
// same second as the CRL before it has the same thisUpdate (CRL times are
// whole seconds), so If-Modified-Since cannot tell the two apart: the
// revocation's CRL is sent in full, not 304, which would have the client
// keep the CRL without the revocation. (Conditional requests go by the
// ETag.)
func TestCRLIfModifiedSinceSameSecond(t *testing.T) {
	h, set, start, r, st := crlFrontEndRA(t, time.Minute)
	ctx := context.Background()
	if err := st.InsertCertificates(ctx, []*store.Certificate{{Serial: "5ec0", Issuer: "local", DER: []byte("der"), SANs: []string{"s.example.test"},
		KeyType: "ECDSA P-256", FingerprintSHA256: "fp", NotBefore: start.Add(-time.Hour), NotAfter: start.Add(24 * time.Hour),
		Status: "valid", CreatedAt: start, Source: store.SourceIssued}}); err != nil {
		t.Fatal(err)
	}
	set(start.Add(100 * time.Millisecond))
	first := crlGet(h, nil)
	if first.Code != http.StatusOK {
		t.Fatalf("GET: %d", first.Code)
	}
	set(start.Add(400 * time.Millisecond))
	if _, err := r.RevokeSerial(ctx, "5ec0", 4, "test"); err != nil {
		t.Fatal(err)
	}
	set(start.Add(700 * time.Millisecond))
	rec := crlGet(h, map[string]string{"If-Modified-Since": first.Header().Get("Last-Modified")})
	if rec.Code != http.StatusOK {
		t.Fatalf("If-Modified-Since after a revocation in the same second: %d, want 200 with the new CRL", rec.Code)
	}
	crl, err := x509.ParseRevocationList(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Text(16) != "5ec0" {
		t.Fatalf("CRL after the revocation lists %d entries, want 5ec0", len(crl.RevokedCertificateEntries))
	}
}

// TestCRLLastModifiedNotAfterDate: a CRL that lists a revocation recorded
// by a node whose clock runs ahead has a thisUpdate later than this node's
// clock (CurrentCRL). Its Last-Modified is then the response's Date, not
// that thisUpdate: RFC 9110 §8.8.2.1 forbids a Last-Modified later than
// the Date. The former code sent the thisUpdate, up to the clock
// difference in the future, and left Date to net/http.
func TestCRLLastModifiedNotAfterDate(t *testing.T) {
	h, set, start, r, st := crlFrontEndRA(t, time.Minute)
	ctx := context.Background()
	if err := st.InsertCertificates(ctx, []*store.Certificate{{Serial: "5ec1", Issuer: "local", DER: []byte("der"), SANs: []string{"s.example.test"},
		KeyType: "ECDSA P-256", FingerprintSHA256: "fp", NotBefore: start.Add(-time.Hour), NotAfter: start.Add(24 * time.Hour),
		Status: "valid", CreatedAt: start, Source: store.SourceIssued}}); err != nil {
		t.Fatal(err)
	}
	// The revocation is recorded at a clock two hours ahead (another
	// node's), then this node's clock reads start again.
	set(start.Add(2 * time.Hour))
	if _, err := r.RevokeSerial(ctx, "5ec1", 4, "test"); err != nil {
		t.Fatal(err)
	}
	set(start)
	rec := crlGet(h, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET: %d", rec.Code)
	}
	crl, err := x509.ParseRevocationList(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !crl.ThisUpdate.After(start) {
		t.Fatalf("thisUpdate %v is not after the clock %v: the test does not reach the case", crl.ThisUpdate, start)
	}
	lm, err := http.ParseTime(rec.Header().Get("Last-Modified"))
	if err != nil || lm.After(start) {
		t.Errorf("Last-Modified %q is after the node's clock %v (the CRL's thisUpdate is %v)", rec.Header().Get("Last-Modified"), start, crl.ThisUpdate)
	}
	// net/http sets Date from its own clock unless the handler does: the
	// handler sets it from the clock it compared with.
	if date, err := http.ParseTime(rec.Header().Get("Date")); err != nil || !date.Equal(start) {
		t.Errorf("Date %q, want the node's clock %v", rec.Header().Get("Date"), start)
	}
}
