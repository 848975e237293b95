package ra

import (
	"fmt"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
)

// RenewalWindow is the suggested window renewalInfo serves for certificate
// c at now (RFC 9773 §4.2): a revoked certificate's is [now − 1h, now];
// otherwise the window an administrator stored for it (admin, from
// store.RenewalWindow; a zero End means none) when set, else the default
// SuggestedWindow.
func RenewalWindow(c *store.Certificate, admin acme.TimeWindow, now time.Time) acme.TimeWindow {
	if c.Status == acme.StatusRevoked || admin.End.IsZero() {
		return SuggestedWindow(c, now)
	}
	return acme.TimeWindow{Start: admin.Start.UTC().Truncate(time.Second), End: admin.End.UTC().Truncate(time.Second)}
}

// EarlierWindow is the window `certgate cert suggest-renewal --before`
// stores: it ends at before and starts at the earlier of the current
// window's start and now (from the moment the administrator asks, clients
// may renew), or an hour (RevokedWindowLead) before its end when that
// would not leave a window. It moves windows earlier only: a before not
// earlier than current.End is an error. The window must meet the
// certificate's validity (validity: its notBefore and notAfter): one that
// would end before notBefore, or start after notAfter, asks for a renewal
// before the certificate existed (or after it expired), and is an error.
// Times are UTC, whole seconds.
func EarlierWindow(current, validity acme.TimeWindow, before, now time.Time) (acme.TimeWindow, error) {
	end := before.UTC().Truncate(time.Second)
	if !end.Before(current.End) {
		return acme.TimeWindow{}, fmt.Errorf("renewalInfo already suggests renewing by %s; --before %s would not move it earlier",
			current.End.UTC().Format(time.RFC3339), end.Format(time.RFC3339))
	}
	if end.Before(validity.Start) {
		return acme.TimeWindow{}, fmt.Errorf("--before %s is earlier than the certificate's notBefore %s: the renewal window would end before the certificate was valid",
			end.Format(time.RFC3339), validity.Start.UTC().Format(time.RFC3339))
	}
	start := current.Start
	if n := now.UTC().Truncate(time.Second); n.Before(start) {
		start = n
	}
	if !start.Before(end) {
		start = end.Add(-RevokedWindowLead)
	}
	if start.After(validity.End) {
		return acme.TimeWindow{}, fmt.Errorf("the renewal window would start at %s, after the certificate's notAfter %s",
			start.Format(time.RFC3339), validity.End.UTC().Format(time.RFC3339))
	}
	return acme.TimeWindow{Start: start, End: end}, nil
}
