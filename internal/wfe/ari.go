package wfe

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// renewalInfoPath is the ACME Renewal Information resource (RFC 9773):
// GET renewalInfoPath + CertID, unauthenticated.
const renewalInfoPath = "/acme/renewal-info/"

// defaultRenewalInfoRetryAfter is how long clients are asked to wait
// before polling renewalInfo again (RFC 9773 §4.3 suggests hours).
const defaultRenewalInfoRetryAfter = 6 * time.Hour

// renewalInfo serves GET /acme/renewal-info/{certID} (RFC 9773 §4.2):
// the suggested renewal window of a certificate this server issued, with
// Retry-After and Cache-Control max-age of the same seconds. A malformed
// CertID is 400 malformed, an unknown one 404 (both no-store).
func (w *WFE) renewalInfo(ctx context.Context, x *exchange) error {
	certID := strings.TrimPrefix(x.r.URL.Path, renewalInfoPath)
	if certID == "" || x.r.URL.Path == strings.TrimSuffix(renewalInfoPath, "/") {
		return acme.NewProblem(acme.Malformed, "renewalInfo needs a certificate identifier: %s{certID} (RFC 9773 §4.1)", renewalInfoPath)
	}
	if strings.Contains(certID, "/") {
		return w.notFound(ctx, x)
	}
	info, err := w.ra.RenewalInfo(ctx, certID)
	if err != nil {
		return err
	}
	info.ExplanationURL = w.cfg.RenewalInfoExplanationURL
	retryAfter := strconv.Itoa(int(w.cfg.RenewalInfoRetryAfter / time.Second))
	h := x.rw.Header()
	h.Set("Retry-After", retryAfter)
	// RFC 9773 §7: renewalInfo is unauthenticated GET so that its answers
	// can be cached, shedding the load of clients that ignore Retry-After.
	// A cache may keep an answer as long as a client is asked to wait
	// before asking again (Retry-After), not longer. Such an answer must
	// not carry a nonce: a shared cache would hand the same one to many
	// clients (RFC 8555 §7.2 asks for one on POST responses only).
	h.Set("Cache-Control", "public, max-age="+retryAfter)
	h.Del("Replay-Nonce")
	return writeJSON(x.rw, http.StatusOK, info)
}
