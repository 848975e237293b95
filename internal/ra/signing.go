package ra

import (
	"context"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
)

// recheckAtSigning checks order o again just before its certificate is
// signed at now, with profile prof as it is now: at finalize (the order
// stays ready when it fails) and before an approved order is issued (it
// becomes invalid). See checkSigningValidity.
func (r *RA) recheckAtSigning(_ context.Context, _ *store.Account, o *store.Order, _ *policy.Profile, now time.Time) error {
	return checkSigningValidity(o, now)
}

// checkSigningValidity checks the order's requested notBefore/notAfter
// (RFC 8555 §7.4) against the signing time now. The newOrder check
// (orderValidity) saw the time of the newOrder; by finalize or approval a
// notBefore may have fallen more than 48 hours into the past, or may
// still lie more than 48 hours ahead (CA/B BR §7.1.2.7: notBefore within
// 48 hours of the signing operation), or notAfter may have passed. The
// error is a malformed problem saying which and what to do.
func checkSigningValidity(o *store.Order, now time.Time) error {
	const layout = time.RFC3339
	switch {
	case !o.NotBefore.IsZero() && o.NotBefore.Before(now.Add(-maxBackdate)):
		return acme.NewProblem(acme.Malformed,
			"the order's notBefore %s is now more than 48 hours before the signing time (CA/B BR 7.1.2.7); create a new order",
			o.NotBefore.UTC().Format(layout))
	case !o.NotBefore.IsZero() && o.NotBefore.After(now.Add(maxBackdate)):
		return acme.NewProblem(acme.Malformed,
			"the order's notBefore %s is more than 48 hours after the signing time (CA/B BR 7.1.2.7); finalize again from %s",
			o.NotBefore.UTC().Format(layout), o.NotBefore.Add(-maxBackdate).UTC().Format(layout))
	case !o.NotAfter.IsZero() && !o.NotAfter.After(now):
		return acme.NewProblem(acme.Malformed, "the order's notAfter %s has passed; create a new order", o.NotAfter.UTC().Format(layout))
	}
	return nil
}
