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
// Retry-After. A malformed CertID is 400 malformed, an unknown one 404.
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
	x.rw.Header().Set("Retry-After", strconv.Itoa(int(w.cfg.RenewalInfoRetryAfter/time.Second)))
	return writeJSON(x.rw, http.StatusOK, info)
}
